"""The local-day interval grid: which row and which array slot a reading belongs to.

A meter-day row covers one *local* calendar day in the co-op's ``settings.TIME_ZONE`` (the day a
member sees on a bill), from local midnight to the next local midnight. Slot ``i`` of a row with
interval length ``m`` minutes starts at ``local midnight (as UTC) + i * m minutes``, so a row is
unambiguous on daylight-saving days: the spring-forward day has 23 hours (92 quarter-hours, 23
hours), the fall-back day 25 (100 quarter-hours, 25 hours). The same holds for 5- and 30-minute
rows. Daily register reads (1440) have one slot whatever the day's length. Twelve-hour reads (720)
have two slots that follow the local clock, not elapsed time: slot 0 from local midnight to local
noon, slot 1 from local noon to the next local midnight (so on a daylight-saving day one of the halves
is 11 or 13 hours long; the clocks change at 02:00, inside the first half).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings

from accounts.usage.readings import EARLIEST_START, LATEST_START


class BadTimestamp(ValueError):
    """A reading's start cannot be placed on the grid; the message is shown to the sender."""


class StartOutOfRange(BadTimestamp):
    """A start outside the years MemberGuard accepts at all (see readings.EARLIEST_START): the file is refused."""


HALF_DAY = 720


_EARLIEST_YEAR, _LATEST_YEAR = 1989, 2200
_YEAR_OUT_OF_RANGE = re.compile(r"^\s*(?:[+-]|0{2}|1[0-8]|19[0-8]|2[2-9]|[3-9]|\d{5})")


def local_zone() -> ZoneInfo:
    return _zone(settings.TIME_ZONE)


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=8192)
def _day_bounds(day: date, zone_name: str) -> tuple[datetime, datetime]:
    zone = _zone(zone_name)
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone).astimezone(UTC)
    return start, end


def zone_offsets() -> tuple[int, int]:
    """The co-op zone's UTC offsets in seconds this year: (standard, daylight saving), the smaller first."""
    zone = local_zone()
    year = datetime.now(UTC).year
    offsets = sorted(
        int(datetime(year, month, 1, 12, tzinfo=zone).utcoffset().total_seconds())  # type: ignore[union-attr]
        for month in (1, 7)
    )
    return offsets[0], offsets[1]


def day_bounds_utc(day: date) -> tuple[datetime, datetime]:
    """Local midnight of ``day`` and of the next day, both in UTC."""
    return _day_bounds(day, settings.TIME_ZONE)


def day_length_seconds(day: date) -> int:
    start, end = day_bounds_utc(day)
    return int((end - start).total_seconds())


def slots_in_day(day: date, interval_minutes: int) -> int:
    if interval_minutes == 1440:
        return 1
    if interval_minutes == HALF_DAY:
        return 2
    return day_length_seconds(day) // (interval_minutes * 60)


def local_noon_utc(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=local_zone()).astimezone(UTC)


def slot_start_utc(day: date, interval_minutes: int, slot: int) -> datetime:
    if interval_minutes == HALF_DAY:
        return day_bounds_utc(day)[0] if slot == 0 else local_noon_utc(day)
    return day_bounds_utc(day)[0] + timedelta(minutes=interval_minutes * slot)


def slot_duration_seconds(day: date, interval_minutes: int, slot: int = 0) -> int:
    """Seconds a slot covers (a whole day for daily reads; the local half-day for 12-hour reads)."""
    if interval_minutes == 1440:
        return day_length_seconds(day)
    if interval_minutes == HALF_DAY:
        start, end = day_bounds_utc(day)
        noon = local_noon_utc(day)
        return int(((noon - start) if slot == 0 else (end - noon)).total_seconds())
    return interval_minutes * 60


def slot_span(day: date, interval_minutes: int, slot: int) -> tuple[datetime, int]:
    """(start in UTC, seconds) of one slot of a meter-day row; cached, the read paths call it per interval."""
    return _slot_span(day, interval_minutes, slot, settings.TIME_ZONE)


@lru_cache(maxsize=65536)
def _slot_span(day: date, interval_minutes: int, slot: int, _zone_name: str) -> tuple[datetime, int]:
    return slot_start_utc(day, interval_minutes, slot), slot_duration_seconds(day, interval_minutes, slot)


def local_day_of(moment: datetime) -> date:
    return moment.astimezone(local_zone()).date()


def parse_start(text: str) -> datetime:
    """ISO 8601 with a UTC offset (or Z), or naive wall-clock time in settings.TIME_ZONE, to UTC.

    A naive time that does not exist (the skipped hour in spring) or exists twice (the repeated
    hour in autumn) is refused: the sender must give an offset for those.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        if _YEAR_OUT_OF_RANGE.match(text):
            raise StartOutOfRange(f"start {text[:40]!r} is outside the years MemberGuard accepts") from None
        raise BadTimestamp(f"start {text[:40]!r} is not an ISO 8601 date-time") from None
    if not _EARLIEST_YEAR <= parsed.year <= _LATEST_YEAR:  # before any conversion, which could overflow
        raise StartOutOfRange(f"start {text[:40]!r} is outside the years MemberGuard accepts")
    if parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    zone = local_zone()
    first = parsed.replace(tzinfo=zone, fold=0)
    second = parsed.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        # zoneinfo gives the two folds different offsets both in the gap and in the repeated hour.
        round_trip = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if round_trip != parsed:
            raise BadTimestamp(
                f"start {text[:40]!r} does not exist in {zone.key} (clocks spring forward); give a UTC offset"
            )
        raise BadTimestamp(f"start {text[:40]!r} is ambiguous in {zone.key} (clocks fall back); give a UTC offset")
    return first.astimezone(UTC)


def place(start_utc: datetime, interval_minutes: int) -> tuple[date, int, int]:
    """(local day, slot, slots in that day) for a reading starting at ``start_utc``; BadTimestamp if off-grid,
    StartOutOfRange outside [EARLIEST_START, 2200)."""
    if not EARLIEST_START <= start_utc < LATEST_START:
        raise StartOutOfRange(f"start {start_utc:%Y-%m-%d} is outside the years MemberGuard accepts")
    day = start_utc.astimezone(local_zone()).date()
    midnight, next_midnight = day_bounds_utc(day)
    offset = int((start_utc - midnight).total_seconds())
    if interval_minutes == 1440:
        if offset != 0:
            raise BadTimestamp("a daily read must start at local midnight")
        return day, 0, 1
    if interval_minutes == HALF_DAY:
        if offset == 0:
            return day, 0, 2
        if start_utc == local_noon_utc(day):
            return day, 1, 2
        raise BadTimestamp("a 12-hour read must start at local midnight or local noon")
    length = interval_minutes * 60
    if offset % length:
        raise BadTimestamp(f"start is not on the {interval_minutes}-minute grid of the local day")
    return day, offset // length, int((next_midnight - midnight).total_seconds()) // length
