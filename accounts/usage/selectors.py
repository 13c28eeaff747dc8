"""Reads of meter usage for one account, or many, at the fitting granularity.

An account sees the meters at its premise, and only for its own tenure: readings before
``opened_at`` or after ``closed_at`` belong to whoever lived there then, so every read is clipped
to the account's window (a pending or denied account, never opened, sees nothing). When a meter-day
has more than one interval length (say 15-minute intervals and a daily register read), the finest
one is used so nothing is counted twice.

Contract for other apps (docs/architecture.md, docs/usage.md):

- ``interval_readings_for_account(*, account, start, end)`` streams
  ``(start_utc, duration_s, value_wh, quality, channel)`` in time order (then channel), over a
  server-side cursor. ``quality`` is actual / estimated / missing / edited; a missing interval has
  ``value_wh`` 0. ``channel`` is delivered / received.
- ``monthly_totals_for_accounts(*, account_ids, start_month, end_month)`` for aggregation reports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection

from accounts.models import Account, Meter
from accounts.usage import timegrid
from accounts.usage.models import CHANNEL_NAMES, QUALITY_NAMES, UsagePointMapping
from accounts.usage.usage_points import normalized

_QUALITY_BY_CHAR = {**QUALITY_NAMES, "-": "missing"}
# Spans read in one round trip rather than through a server-side cursor.
SHORT_SPAN = timedelta(days=7)


def _as_utc(moment: datetime | date) -> datetime:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; pass an aware datetime or a date")
        return moment.astimezone(UTC)
    return timegrid.day_bounds_utc(moment)[0]


def account_window(account) -> tuple[datetime, datetime] | None:
    """The account's tenure [opened_at, closed_at or far future) in UTC, or None if never opened."""
    if account.opened_at is None:
        return None
    closed = account.closed_at or datetime(9999, 1, 1, tzinfo=UTC)
    return account.opened_at.astimezone(UTC), closed.astimezone(UTC)


def _meter_ids(account) -> list[int]:
    """The meters at the account's premise, looked up once per account object (a page that reads a period
    and the same period a year earlier asks twice; the premise of a loaded account does not change)."""
    if account.premise_id is None:
        return []
    known = getattr(account, "premise_meter_ids", None)  # read by accounts_with_meters
    if known is not None:
        return list(known)
    cached = account.__dict__.get("_usage_meter_ids")
    if cached is not None and cached[0] == account.premise_id:
        return cached[1]
    ids = list(Meter.objects.filter(premise_id=account.premise_id).values_list("id", flat=True))
    account.__dict__["_usage_meter_ids"] = (account.premise_id, ids)
    return ids


_ACCOUNT_COLUMNS = ("id", "account_number", "premise_id", "opened_at", "closed_at")
_ACCOUNTS_WITH_METERS = """
SELECT {columns},
       ARRAY(SELECT m.id FROM {meter} m WHERE m.premise_id = a.premise_id),
       EXISTS(SELECT 1 FROM {meter} m WHERE m.premise_id = a.premise_id AND m.has_solar)
  FROM {account} a
 WHERE a.member_id = ANY(%s){only}
 ORDER BY a.id
"""


def accounts_with_meters(*, member_ids: list[int], account_ids: list[int] | None = None) -> list[Account]:
    """The members' accounts (only ``account_ids`` of them when given), in id order, each with its
    premise's meter ids and whether one of them has solar, in one query: what ``espi_usage_points``
    would otherwise ask once per account. The accounts carry only what the usage readers use
    (number, premise, tenure); other columns load on first use."""
    columns = tuple(field.attname for field in Account._meta.concrete_fields if field.attname in _ACCOUNT_COLUMNS)
    # The models' own table and column names; the values are parameters.
    sql = _ACCOUNTS_WITH_METERS.format(
        columns=", ".join(f"a.{column}" for column in columns),
        meter=Meter._meta.db_table,
        account=Account._meta.db_table,
        only=" AND a.id = ANY(%s)" if account_ids is not None else "",
    )
    params: list[Any] = [list(member_ids)] + ([list(account_ids)] if account_ids is not None else [])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    accounts = []
    for row in rows:
        account = Account.from_db(connection.alias, columns, row[: len(columns)])
        account.__dict__.update(premise_meter_ids=row[len(columns)], premise_has_solar=row[len(columns) + 1])
        accounts.append(account)
    return accounts


def _clip(account, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    window = account_window(account)
    if window is None:
        return None
    start, end = max(start, window[0]), min(end, window[1])
    return (start, end) if start < end else None


_FINEST_DAYS = """
SELECT DISTINCT ON (meter_id, day, channel) meter_id, day, channel, interval_minutes, {columns}
  FROM usage_meter_day
 WHERE meter_id = ANY(%(meters)s) AND day BETWEEN %(first)s AND %(last)s
 ORDER BY meter_id, day, channel, interval_minutes
"""


def interval_readings_for_account(
    *, account, start: datetime | date, end: datetime | date
) -> Iterator[tuple[datetime, int, int, str, str]]:
    """Every stored interval of the account's meters in [start, end), in time order, streamed."""
    clipped = _clip(account, _as_utc(start), _as_utc(end))
    meters = _meter_ids(account)
    if clipped is None or not meters:
        return
    start_utc, end_utc = clipped
    first, last = timegrid.local_day_of(start_utc), timegrid.local_day_of(end_utc - timedelta(microseconds=1))
    # Ordered by day first so a whole day's rows arrive together and can be interleaved in time order.
    query = (
        "SELECT * FROM (" + _FINEST_DAYS.format(columns="vals, quality") + ") AS finest ORDER BY day, meter_id, channel"  # noqa: S608
    )  # fixed SQL fragments only; values are parameters
    params: dict[str, Any] = {"meters": meters, "first": first, "last": last}
    # A few days (a daily pull) come in one round trip; longer spans through a server-side cursor, so a
    # year is never held in memory.
    short = end_utc - start_utc <= SHORT_SPAN
    with connection.cursor() if short else connection.chunked_cursor() as cursor:
        cursor.execute(query, params)
        current_day = None
        pending: list[tuple] = []
        while True:
            rows = cursor.fetchmany(500)
            for _meter, day, channel, minutes, values, quality in rows:
                if day != current_day:
                    yield from _sorted_window(pending, start_utc, end_utc)
                    pending, current_day = [], day
                channel_name = CHANNEL_NAMES[channel]
                for slot, value in enumerate(values):
                    quality_name = "actual" if quality is None else _QUALITY_BY_CHAR[quality[slot]]
                    begin, duration = timegrid.slot_span(day, minutes, slot)
                    pending.append((begin, duration, value or 0, quality_name, channel_name))
            if not rows:
                break
        yield from _sorted_window(pending, start_utc, end_utc)


def _sorted_window(readings: list[tuple], start: datetime, end: datetime) -> Iterator[tuple]:
    readings.sort(key=lambda reading: (reading[0], reading[4]))
    for reading in readings:
        if start <= reading[0] < end:
            yield reading


@dataclass(frozen=True)
class DailyTotal:
    day: date
    channel: str
    wh: int
    estimated: bool  # at least one interval estimated or edited
    missing: bool  # at least one interval missing or not received


def daily_totals_for_account(*, account, first_day: date, last_day: date) -> list[DailyTotal]:
    """Per local day and channel, the account's total (whole days within its tenure)."""
    meters = _meter_ids(account)
    window = account_window(account)
    if not meters or window is None:
        return []
    first_day = max(first_day, _first_whole_day(window[0]))
    last_day = min(last_day, timegrid.local_day_of(window[1]) - timedelta(days=1)) if account.closed_at else last_day
    if first_day > last_day:
        return []
    columns = "total_wh, quality ~ '[ED]', quality ~ '[M-]'"
    with connection.cursor() as cursor:
        cursor.execute(_FINEST_DAYS.format(columns=columns), {"meters": meters, "first": first_day, "last": last_day})
        rows = cursor.fetchall()
    totals: dict[tuple[date, int], list] = {}
    for _meter, day, channel, _minutes, wh, estimated, missing in rows:
        entry = totals.setdefault((day, channel), [0, False, False])
        entry[0] += wh
        entry[1] = entry[1] or bool(estimated)
        entry[2] = entry[2] or bool(missing)
    return [
        DailyTotal(day, CHANNEL_NAMES[channel], wh, estimated, missing)
        for (day, channel), (wh, estimated, missing) in sorted(totals.items())
    ]


def _first_whole_day(moment: datetime) -> date:
    day = timegrid.local_day_of(moment)
    return day if timegrid.day_bounds_utc(day)[0] >= moment else day + timedelta(days=1)


@dataclass(frozen=True)
class MonthlyTotal:
    month: date
    channel: str
    wh: int
    days_with_data: int


def monthly_totals_for_account(*, account, start_month: date, end_month: date) -> list[MonthlyTotal]:
    """Per month and channel, from the rollups; months cut by the account's opening or closing are
    summed from whole days of its tenure instead, so they never include a previous occupant."""
    start_month, end_month = start_month.replace(day=1), end_month.replace(day=1)
    window = account_window(account)
    if window is None:
        return []
    first_whole = _first_whole_day(window[0])
    last_whole = timegrid.local_day_of(window[1]) - timedelta(days=1) if account.closed_at else date.max
    results: list[MonthlyTotal] = []
    rollups = {
        (row[0], row[1]): row
        for row in _monthly_rows(account_ids=[account.pk], start_month=start_month, end_month=end_month, clip=False)
    }
    month = start_month
    while month <= end_month:
        following = _next_month(month)
        if following <= first_whole or month > last_whole:
            month = following
            continue
        if month >= first_whole and following - timedelta(days=1) <= last_whole:
            for channel in (1, 2):
                row = rollups.get((month, channel))
                if row:
                    results.append(MonthlyTotal(month, CHANNEL_NAMES[channel], row[2], row[3]))
        else:
            days = daily_totals_for_account(account=account, first_day=month, last_day=following - timedelta(days=1))
            for channel_name in ("delivered", "received"):
                picked = [d for d in days if d.channel == channel_name]
                if picked:
                    results.append(MonthlyTotal(month, channel_name, sum(d.wh for d in picked), len(picked)))
        month = following
    return results


def _next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


_MONTHLY = """
SELECT a.id, r.month, r.channel, sum(r.total_wh)::bigint, max(r.days_with_data)
  FROM accounts_account a
  JOIN accounts_meter m ON m.premise_id = a.premise_id
  JOIN (SELECT DISTINCT ON (meter_id, month, channel) meter_id, month, channel, total_wh, days_with_data
          FROM usage_meter_month
         WHERE month BETWEEN %(start)s AND %(end)s AND meter_id IN (
               SELECT m2.id FROM accounts_meter m2 JOIN accounts_account a2 ON a2.premise_id = m2.premise_id
                WHERE a2.id = ANY(%(accounts)s))
         ORDER BY meter_id, month, channel, interval_minutes) r ON r.meter_id = m.id
 WHERE a.id = ANY(%(accounts)s) {clip}
 GROUP BY a.id, r.month, r.channel
 ORDER BY a.id, r.month, r.channel
"""
# Months overlapping the account's tenure (month-level precision, for aggregate reports).
_MONTHLY_CLIP = """
   AND a.opened_at IS NOT NULL
   AND r.month >= date_trunc('month', a.opened_at AT TIME ZONE %(tz)s)::date
   AND (a.closed_at IS NULL OR r.month <= date_trunc('month', a.closed_at AT TIME ZONE %(tz)s)::date)
"""


def _monthly_rows(*, account_ids, start_month: date, end_month: date, clip: bool) -> list[tuple]:
    query = _MONTHLY.format(clip=_MONTHLY_CLIP if clip else "")
    params: dict[str, Any] = {
        "accounts": list(account_ids),
        "start": start_month,
        "end": end_month,
        "tz": settings.TIME_ZONE,
    }
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        rows = cursor.fetchall()
    if clip:
        return rows
    return [(month, channel, wh, days) for _account, month, channel, wh, days in rows]


def monthly_totals_for_accounts(
    *, account_ids, start_month: date, end_month: date
) -> Iterator[tuple[int, date, str, int]]:
    """(account_id, month, channel, wh) for many accounts, from the rollups, for aggregation reports.

    Months are those overlapping each account's tenure (month precision: a month in which the
    account opened or closed counts whole). Individual accounts' monthly figures are still member
    data; aggregate them before they leave the co-op (disclosures/ owns that rule).
    """
    rows = _monthly_rows(
        account_ids=account_ids, start_month=start_month.replace(day=1), end_month=end_month.replace(day=1), clip=True
    )
    for account_id, month, channel, wh, _days in rows:
        yield account_id, month, CHANNEL_NAMES[channel], wh


def usage_for_account(
    *, account, period: str, day: date | None = None, first_day: date | None = None, last_day: date | None = None
) -> dict:
    """Usage at the granularity that fits the period: a day in intervals, a month in days, a year in
    days (365 points chart well) plus monthly totals, a range by its length."""
    if period not in ("day", "month", "year", "range"):
        raise ValueError("period must be day, month, year or range")
    if period != "range":
        if day is None:
            raise ValueError(f"a {period} period needs its day")
        if period == "day":
            first_day = last_day = day
        elif period == "month":
            first_day = day.replace(day=1)
            last_day = _next_month(first_day) - timedelta(days=1)
        else:
            first_day, last_day = date(day.year, 1, 1), date(day.year, 12, 31)
    if first_day is None or last_day is None or first_day > last_day:
        raise ValueError("give a valid day, or first_day <= last_day")
    span = (last_day - first_day).days + 1
    result: dict = {"period": period, "first_day": first_day, "last_day": last_day}
    if span <= 3:
        start, end = timegrid.day_bounds_utc(first_day)[0], timegrid.day_bounds_utc(last_day)[1]
        result["granularity"] = "interval"
        result["points"] = [
            {"start": s, "duration_s": d, "wh": v, "quality": q, "channel": c}
            for s, d, v, q, c in interval_readings_for_account(account=account, start=start, end=end)
        ]
    elif span <= 400:
        result["granularity"] = "day"
        result["points"] = [
            t.__dict__ for t in daily_totals_for_account(account=account, first_day=first_day, last_day=last_day)
        ]
        if period == "year":
            result["months"] = [
                t.__dict__
                for t in monthly_totals_for_account(account=account, start_month=first_day, end_month=last_day)
            ]
    else:
        result["granularity"] = "month"
        result["points"] = [
            t.__dict__ for t in monthly_totals_for_account(account=account, start_month=first_day, end_month=last_day)
        ]
    return result


def espi_usage_points(*, account, start: datetime | date, end: datetime | date) -> Iterator[dict]:
    """The account's readings in [start, end) as Green Button usage points for
    ``accounts.usage.espi.render_espi``: one per channel, energy received only where the premise has
    solar. Used by the member's own download and by the disclosures export."""
    solar = getattr(account, "premise_has_solar", None)  # read by accounts_with_meters
    if solar is None:
        solar = (
            account.premise_id is not None
            and Meter.objects.filter(premise_id=account.premise_id, has_solar=True).exists()
        )
    for channel in ("delivered", "received") if solar else ("delivered",):
        readings = interval_readings_for_account(account=account, start=start, end=end)
        yield {
            "key": f"account-{account.pk}-{channel}",
            "title": f"Account {account.account_number} ({channel})",
            "channel": channel,
            "readings": (reading for reading in readings if reading[4] == channel),
        }


def usage_point_mapping_index() -> dict[tuple[str, str], int]:
    """The co-op's UsagePoint mapping as (kind, normalized value) -> meter id, for ``UsagePointResolver``."""
    return {
        (kind, normalized(value)): meter_id
        for kind, value, meter_id in UsagePointMapping.objects.values_list("kind", "value", "meter_id")
    }
