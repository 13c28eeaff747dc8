"""What a parsed reading file is: readings grouped per meter-day under one integer key.

Both parsers (``parsers.parse_csv``, ``espi.parse_espi``) fill a ``ParsedReadings``: readings
grouped per meter x local day x channel x interval length (the storage row, see models.py), plus
every bad row with its line number and reason; ``loader`` stores the groups. A file that is wrong as
a whole raises ``MalformedFile`` and nothing from it is loaded.

A group key is one int (``METER_SHIFT``) because the CSV parser builds tens of millions of them a
day: meter id, day, interval length and channel OR-ed together cost less than a tuple of four.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

# Above this an interval value is physically impossible for a distribution service (a 1 MW load).
MAX_DEMAND_KW = 1000

# Interval lengths the store holds, each in its own rows (``interval_minutes`` is part of the key);
# the position in this tuple is the interval index in the group key (3 bits).
INTERVALS = (15, 60, 1440, 5, 30, 720)
DURATION_TO_MINUTES = {"300": 5, "900": 15, "1800": 30, "3600": 60, "43200": 720, "86400": 1440}
# A daily or 12-hour read may give its real length on a daylight-saving day (what MemberGuard writes too):
# 23 or 25 hours, 11 or 13 hours. Where it starts still decides its slot (local midnight, local noon).
DURATION_TO_MINUTES.update({"82800": 1440, "90000": 1440, "39600": 720, "46800": 720})
DURATIONS_TEXT = "300, 900, 1800, 3600, 43200 or 86400 seconds"
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
INTERVAL_BITS = 3
DAY_BITS = 17  # days since 1970: up to 2328
METER_SHIFT = 1 + INTERVAL_BITS + DAY_BITS  # key = meter_id << 21 | (days << 3 | interval index) << 1 | channel bit
DAYCODE_MASK = (1 << (INTERVAL_BITS + DAY_BITS)) - 1

# Starts MemberGuard accepts at all. Anything outside (an ESPI start of -9.2e18, year 0, a CSV
# ``0001-01-01``) is not a reading but a broken producer clock or encoding: the whole file is refused
# (``OutOfRangeStart``), with the line, and the rejected batch is recorded.
EARLIEST_START = datetime(1990, 1, 1, tzinfo=UTC)
EARLIEST_EPOCH = int(EARLIEST_START.timestamp())
LATEST_START = datetime(2200, 1, 1, tzinfo=UTC)
LATEST_EPOCH = int(LATEST_START.timestamp())

BAD_ROWS_KEPT = 1000
WARNING_LINES_KEPT = 20


class MalformedFile(ValueError):
    """The file as a whole cannot be read; nothing from it is loaded."""


def out_of_range(line: int, what: str) -> MalformedFile:
    """The whole-file refusal for a start outside [EARLIEST_START, 2200)."""
    return MalformedFile(
        f"line {line}: start {what[:40]} is outside the range MemberGuard accepts "
        f"({EARLIEST_START:%Y-%m-%d} to 2200); the file's clock or encoding is broken, nothing was loaded"
    )


def max_wh(interval_minutes: int) -> int:
    return MAX_DEMAND_KW * interval_minutes * 1000 // 60


@dataclass
class ParsedReadings:
    file_format: str
    # key (see METER_SHIFT) -> [values: list[int | None], quality: bytearray (0 = not in this file)]
    groups: dict[int, list] = field(default_factory=dict)
    readings: int = 0
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    # Accepted but worth a look (an envelope detail an older producer left out, an ignored summary ...),
    # one entry per distinct reason: {"line": first line, "reason", "count", "lines": first WARNING_LINES_KEPT}.
    warnings: dict[str, dict] = field(default_factory=dict)
    warning_count: int = 0
    # Readings that were read but belong to no meter or to a reading type the store cannot hold, by
    # MeterReading: {"line", "usage_point": {identifiers}, "reason", "readings"}.
    not_loaded: dict[str, dict] = field(default_factory=dict)
    readings_not_loaded: int = 0
    repeated: int = 0  # readings given twice with the same value (overlapping blocks), counted once

    @property
    def bad_row_count(self) -> int:
        return len(self.bad_rows)

    def bad(self, line: int, reason: str) -> None:
        self.bad_rows.append((line, reason))

    def warn(self, line: int, reason: str) -> None:
        self.warning_count += 1
        entry = self.warnings.get(reason)
        if entry is None:
            self.warnings[reason] = {"line": line, "reason": reason, "count": 1, "lines": [line]}
            return
        entry["count"] += 1
        if len(entry["lines"]) < WARNING_LINES_KEPT:
            entry["lines"].append(line)

    def warning_list(self) -> list[dict]:
        return sorted(self.warnings.values(), key=lambda entry: entry["line"])[:BAD_ROWS_KEPT]

    def not_loaded_reason(self, key: str, usage_point: dict, reason: str) -> None:
        self.not_loaded[key] = {
            "line": usage_point["line"],
            "usage_point": usage_point,
            "reason": reason,
            "readings": 0,
        }

    def not_loaded_add(self, key: str, count: int) -> None:
        self.not_loaded[key]["readings"] += count
        self.readings_not_loaded += count


def decode_key(key: int) -> tuple[int, date, int, int]:
    """(meter_id, day, channel 1|2, interval_minutes) from a group key."""
    rest = key & ((1 << METER_SHIFT) - 1)
    daycode = rest >> 1
    return (
        key >> METER_SHIFT,
        date.fromordinal(EPOCH_ORDINAL + (daycode >> INTERVAL_BITS)),
        (rest & 1) + 1,
        INTERVALS[daycode & ((1 << INTERVAL_BITS) - 1)],
    )


def encode_day(day: date, interval_minutes: int) -> int:
    """The day-and-interval part of a group key (already shifted past the channel bit)."""
    return (((day.toordinal() - EPOCH_ORDINAL) << INTERVAL_BITS) | INTERVALS.index(interval_minutes)) << 1


def day_of_daycode(code: int) -> date:
    """The day of a daycode (a key shifted right by one and masked with DAYCODE_MASK)."""
    return date.fromordinal(EPOCH_ORDINAL + (code >> INTERVAL_BITS))
