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
from datetime import date

# Above this an interval value is physically impossible for a distribution service (a 1 MW load).
MAX_DEMAND_KW = 1000

INTERVALS = (15, 60, 1440)  # index in the group key: 0, 1, 2
DURATION_TO_MINUTES = {"900": 15, "3600": 60, "86400": 1440}
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
METER_SHIFT = 20  # group key = meter_id << 20 | (days since 1970 * 4 + interval index) << 1 | channel bit

BAD_ROWS_KEPT = 1000


class MalformedFile(ValueError):
    """The file as a whole cannot be read; nothing from it is loaded."""


def max_wh(interval_minutes: int) -> int:
    return MAX_DEMAND_KW * interval_minutes * 1000 // 60


@dataclass
class ParsedReadings:
    file_format: str
    # key (see METER_SHIFT) -> [values: list[int | None], quality: bytearray (0 = not in this file)]
    groups: dict[int, list] = field(default_factory=dict)
    readings: int = 0
    bad_rows: list[tuple[int, str]] = field(default_factory=list)

    @property
    def bad_row_count(self) -> int:
        return len(self.bad_rows)

    def bad(self, line: int, reason: str) -> None:
        self.bad_rows.append((line, reason))


def decode_key(key: int) -> tuple[int, date, int, int]:
    """(meter_id, day, channel 1|2, interval_minutes) from a group key."""
    rest = key & ((1 << METER_SHIFT) - 1)
    daycode = rest >> 1
    return key >> METER_SHIFT, date.fromordinal(EPOCH_ORDINAL + (daycode >> 2)), (rest & 1) + 1, INTERVALS[daycode & 3]


def encode_day(day: date, interval_minutes: int) -> int:
    """The day-and-interval part of a group key (already shifted past the channel bit)."""
    return (((day.toordinal() - EPOCH_ORDINAL) << 2) | INTERVALS.index(interval_minutes)) << 1
