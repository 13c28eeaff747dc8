"""The COPY text ``loader.staging_buffer`` writes for the staging table (values, totals, quality, counts)."""

from __future__ import annotations

import datetime

from accounts.usage import loader
from accounts.usage.readings import METER_SHIFT, encode_day

DAY = datetime.date(2026, 10, 14)


def test_the_staging_text_holds_every_value_its_total_quality_and_counts():
    actual = ord("A")
    quarter_hours = 96
    full = [index * 200 for index in range(quarter_hours)]  # 0 ... 19000: past the table of value texts
    sparse: list[int | None] = [None] * quarter_hours
    sparse[0], sparse[1], sparse[2] = 5, 16384, 0
    flags = bytearray(quarter_hours)
    flags[0], flags[1], flags[2], flags[3] = actual, ord("E"), actual, ord("M")
    groups = {
        (7 << METER_SHIFT) | encode_day(DAY, 15): [full, bytearray([actual]) * quarter_hours],
        (8 << METER_SHIFT) | encode_day(DAY, 60) | 1: [[1, 2] + [3] * 22, bytearray([actual]) * 24],
        (9 << METER_SHIFT) | encode_day(DAY, 15) | 1: [sparse, flags],
        (10 << METER_SHIFT) | encode_day(DAY, 60): [[None, 4, *[6] * 22], bytearray(b"\0E" + b"A" * 22)],
    }
    buffer, months, first, last = loader.staging_buffer(groups)
    # PostgreSQL's array input skips blanks, so "{1, 2}" and "{1,2}" store the same.
    rows = [line.replace(" ", "").split("\t") for line in buffer.getvalue().decode("ascii").splitlines()]
    assert rows[0] == [
        "7", "2026-10-14", "1", "15", str(sum(full)), "{" + ",".join(map(str, full)) + "}", "\\N", "0", "0"
    ]  # fmt: skip
    assert rows[1] == ["8", "2026-10-14", "2", "60", "69", "{1,2," + ",".join(["3"] * 22) + "}", "\\N", "0", "0"]
    quality = "AEAM" + "-" * 92
    assert rows[2] == [
        "9", "2026-10-14", "2", "15", "16389", "{5,16384,0," + ",".join(["NULL"] * 93) + "}", quality, "1", "93"
    ]  # fmt: skip
    assert rows[3] == [
        "10",
        "2026-10-14",
        "1",
        "60",
        "136",
        "{NULL,4," + ",".join(["6"] * 22) + "}",
        "-E" + "A" * 22,
        "1",
        "1",
    ]
    assert len(rows) == 4 and months == {DAY.replace(day=1)} and first == last == DAY
