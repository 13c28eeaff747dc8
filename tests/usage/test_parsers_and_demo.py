from __future__ import annotations

import datetime
import random

import pytest

from accounts.usage import parsers
from accounts.usage.demo import seed_usage
from accounts.usage.models import IngestBatch, MeterDay
from members import demo
from tests.factories import MeterFactory
from tests.usage.conftest import csv_bytes, day_lines

DAY = datetime.date(2026, 10, 14)


def test_the_fast_column_path_and_the_row_path_give_the_same_groups(monkeypatch):
    meters = {"MTR-1": 1, "MTR-2": 2}
    lines = day_lines("MTR-1", DAY) + day_lines("MTR-2", DAY) + day_lines("MTR-1", DAY, channel="received")
    fast = parsers.parse_csv(csv_bytes(lines), meters)
    monkeypatch.setattr(parsers, "_fast_chunk", lambda *args: False)
    slow = parsers.parse_csv(csv_bytes(lines), meters)
    assert fast.groups == slow.groups and fast.readings == slow.readings == 288 and not fast.bad_rows


def test_a_quoted_csv_goes_through_the_csv_module_with_the_same_result():
    meters = {"MTR-1": 1}
    lines = day_lines("MTR-1", DAY)
    quoted = [",".join(f'"{field}"' for field in line.split(",")) for line in lines]
    assert parsers.parse_csv(csv_bytes(quoted), meters).groups == parsers.parse_csv(csv_bytes(lines), meters).groups


def test_a_chunk_with_one_bad_row_reports_it_at_its_true_line(monkeypatch):
    monkeypatch.setattr(parsers, "CSV_CHUNK_ROWS", 50)
    monkeypatch.setattr(parsers, "CSV_CHUNK_CHARS", 2000)
    lines = day_lines("MTR-1", DAY)
    lines[70] = lines[70].replace("MTR-1", "MTR-X")
    parsed = parsers.parse_csv(csv_bytes(lines), {"MTR-1": 1})
    assert parsed.bad_rows == [(72, "unknown meter 'MTR-X'")] and parsed.readings == 96


def test_the_usage_demo_step_is_registered_loads_load_shapes_and_is_idempotent(db):
    assert seed_usage in demo.DEMO_STEPS
    solar = MeterFactory(meter_number="DEMO-S-1", has_solar=True)
    MeterFactory(meter_number="DEMO-2")
    message = seed_usage()
    assert "readings" in message
    rows = MeterDay.objects.filter(meter_id=solar.pk)
    assert rows.filter(channel=2).exists() and rows.filter(channel=1).exists()
    days = rows.filter(channel=1).count()
    assert 75 <= days <= 106  # from the first of the month DEMO_DAYS ago, so every billing cycle starts inside
    sample = rows.filter(channel=1).first().vals
    assert max(v or 0 for v in sample) > min(v or 0 for v in sample)  # a daily cycle, not a flat line
    batches = IngestBatch.objects.count()
    assert "up to date" in seed_usage() and IngestBatch.objects.count() == batches


def test_crlf_line_ends_blank_lines_and_a_header_only_file_are_handled():
    meters = {"MTR-1": 1}
    lines = day_lines("MTR-1", DAY)
    plain = parsers.parse_csv(csv_bytes(lines), meters)
    assert parsers.parse_csv(csv_bytes(lines).replace(b"\n", b"\r\n"), meters).groups == plain.groups
    with_blank = parsers.parse_csv(csv_bytes([*lines[:10], "", *lines[10:]]), meters)
    assert with_blank.groups == plain.groups and not with_blank.bad_rows and with_blank.readings == 96
    header_only = parsers.parse_csv(csv_bytes([]), meters)
    assert header_only.readings == 0 and not header_only.groups


def test_a_bad_row_after_a_blank_line_keeps_its_true_line_number():
    lines = day_lines("MTR-1", DAY)[:3]
    parsed = parsers.parse_csv(csv_bytes([lines[0], "", lines[1].replace("MTR-1", "MTR-X"), lines[2]]), {"MTR-1": 1})
    assert parsed.bad_rows == [(4, "unknown meter 'MTR-X'")]


def _mixed_file_lines() -> list[str]:
    """Clean meter-days (some in order, some shuffled, both channels, several days, two interval lengths,
    every quality spelling) with bad rows sprinkled in, so small chunks are partly fast, partly redone.
    MTR-1 and MTR-3 repeat a few values (the fast path converts each distinct text once), MTR-2's are all
    different (converted one by one); 300000 Wh is legal for an hour, not for a quarter-hour."""
    rng = random.Random(7)
    next_day = DAY + datetime.timedelta(days=1)
    lines: list[str] = []
    for number in ("MTR-1", "MTR-2", "MTR-3"):
        for day in (DAY, next_day):
            if number == "MTR-2":
                values = [rng.randrange(1000 * n, 1000 * n + 1000) for n in range(96)]
            else:
                values = [rng.choice([0, 7, 250, 250_000]) for _ in range(96)]
            block = day_lines(number, day, values, quality=rng.choice(["actual", "Estimated", "EDITED"]))
            if number == "MTR-2":
                rng.shuffle(block)  # out of slot order: placed slot by slot
            lines += block
        hourly = [300_000] * 24 if number != "MTR-2" else [300_000 + n for n in range(24)]
        lines += day_lines(number, DAY, hourly, minutes=60)
        lines += day_lines(number, DAY, [rng.choice([1, 2, 3]) for _ in range(96)], channel="RECEIVED", style="utc")
    value_is = {
        260: "250001",  # over the limit, among repeated values
        280: "-1",
        330: "-1",  # among values that do not repeat
        350: "250001",
        400: "12.5",
    }
    for index, value in value_is.items():
        fields = lines[index].split(",")
        lines[index] = ",".join([*fields[:3], value, *fields[4:]])
    lines[5] = lines[5].replace("MTR-1", "MTR-X")
    lines[40] = lines[40].replace(",actual,", ",Actual ,")
    lines[100] = lines[100].replace(",900,", ",901,")
    lines[130] = lines[130].rsplit(",", 1)[0] + ",sideways"
    lines[470] = ",".join([*lines[470].split(",")[:3], "", "missing", "delivered"])  # missing, no value: good
    lines[540] += ",extra"
    lines.insert(600, lines[601])  # a duplicate reading
    lines.insert(700, lines[650].replace(",900,", ",3600,"))  # an hourly start that is not on the hour
    for channel in ("delivered", "received"):  # one meter-day's channels back to back, as a solar meter sends
        lines += day_lines("MTR-4", DAY, [rng.choice([1, 2, 3]) for _ in range(96)], channel=channel)
    lines.append(day_lines("MTR-3", DAY, [300_000] * 96)[0])  # a quarter-hour after hours of 300000
    return lines


@pytest.mark.parametrize("chunk_chars", [300, 2000, 4 << 20])
def test_fast_chunks_and_row_by_row_agree_on_a_mixed_file_with_bad_rows(monkeypatch, chunk_chars):
    meters = {"MTR-1": 1, "MTR-2": 2, "MTR-3": 3, "MTR-4": 4}
    data = csv_bytes(_mixed_file_lines())
    monkeypatch.setattr(parsers, "CSV_CHUNK_CHARS", chunk_chars)
    fast_chunks = []
    real_fast_chunk = parsers._fast_chunk
    monkeypatch.setattr(
        parsers, "_fast_chunk", lambda *args: fast_chunks.append(real_fast_chunk(*args)) or fast_chunks[-1]
    )
    fast = parsers.parse_csv(data, meters)
    monkeypatch.setattr(parsers, "_fast_chunk", lambda *args: False)
    slow = parsers.parse_csv(data, meters)
    assert fast.groups == slow.groups and fast.readings == slow.readings and fast.bad_rows == slow.bad_rows
    assert slow.readings == len(_mixed_file_lines()) == 1131 and len(slow.groups) == 14
    assert slow.bad_rows == [
        (7, "unknown meter 'MTR-X'"),
        (42, "quality 'Actual ' is not actual, estimated, missing or edited"),
        (102, "duration_s '901' is not 300, 900, 1800, 3600, 43200 or 86400 seconds"),
        (132, "channel 'sideways' is not delivered or received"),
        (262, "impossible value 250001 Wh for the interval (0 to 250000)"),
        (282, "impossible value -1 Wh for the interval (0 to 250000)"),
        (332, "impossible value -1 Wh for the interval (0 to 250000)"),
        (352, "impossible value 250001 Wh for the interval (0 to 250000)"),
        (402, "value_wh '12.5' is not a whole number of watt-hours"),
        (542, "expected 6 columns, found 7"),
        (604, "duplicate reading in this file (same meter, channel and start)"),
        (702, "start is not on the 60-minute grid of the local day"),
        (1132, "impossible value 300000 Wh for the interval (0 to 250000)"),
    ]
    if chunk_chars == 300:
        assert fast_chunks.count(True) > 50 and fast_chunks.count(False) >= 10  # both paths really ran


def test_a_clean_chunk_of_starts_first_placed_by_a_redone_chunk_is_parsed(monkeypatch):
    """Chunk 1 is fast; chunk 2 (a row of eight fields) is redone row by row and places slots 20-39 but 25;
    chunk 3 (another meter: slot 0 and those) is clean and has no start the parse has not placed."""
    first, second = day_lines("MTR-1", DAY), day_lines("MTR-2", DAY)
    lines = [*first[:20], *first[20:40], second[0], *second[20:25], *second[26:40]]
    assert len({len(line) for line in lines}) == 1
    monkeypatch.setattr(parsers, "CSV_CHUNK_CHARS", 19 * (len(lines[0]) + 1) + 1)  # 20 lines a chunk
    lines[25] = lines[25].replace(",actual,", ",a,b,ct,")  # same length, so the chunks stay 20 lines
    parsed = parsers.parse_csv(csv_bytes(lines), {"MTR-1": 1, "MTR-2": 2})
    assert parsed.bad_rows == [(27, "expected 6 columns, found 8")] and parsed.readings == 60
    monkeypatch.setattr(parsers, "_fast_chunk", lambda *args: False)
    assert parsed.groups == parsers.parse_csv(csv_bytes(lines), {"MTR-1": 1, "MTR-2": 2}).groups


def test_a_meter_day_sent_under_two_numbers_of_one_meter_is_one_group_either_way(monkeypatch):
    meters = {"MTR-1": 1, "MTR-1-OLD": 1}
    lines = day_lines("MTR-1", DAY)
    lines[48:] = [line.replace("MTR-1,", "MTR-1-OLD,") for line in lines[48:]]
    lines.append(lines[50].replace("MTR-1-OLD,", "MTR-1,"))  # the same reading again, under the other number
    fast = parsers.parse_csv(csv_bytes(lines), meters)
    monkeypatch.setattr(parsers, "_fast_chunk", lambda *args: False)
    slow = parsers.parse_csv(csv_bytes(lines), meters)
    assert fast.groups == slow.groups and len(fast.groups) == 1 and fast.readings == slow.readings == 97
    assert fast.bad_rows == slow.bad_rows == [(98, "duplicate reading in this file (same meter, channel and start)")]
