"""What the member's usage page shows: one period (a bill's period, a calendar month, a day, a year),
its total, the same period a year earlier, previous/next, and the rows for both the chart and the table.

Bills and usage agree (issue 14): the bill-period view uses the bill's own first and last day, so its
total is the sum of the same readings the bill was made from; where readings are missing for part of
the period, or the bill came from somewhere else (a migrated history), the page says so in words
instead of showing two numbers that silently differ. The month view says why a calendar month is not
a bill.

Reads come from the usage store's rollups (a day's total per meter), and a day's detail from its
intervals; never from raw intervals for a longer period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

from django.utils.html import format_html_join
from django.utils.safestring import SafeString

from accounts.models import Account, Bill
from accounts.usage.selectors import daily_totals_for_account, interval_readings_for_account, monthly_totals_for_account
from accounts.usage.timegrid import day_bounds_utc, local_zone

VIEWS = {"bill": "Billing period", "month": "Month", "day": "Day", "year": "Year"}


@dataclass
class UsageRow:
    key: str  # ISO date or time, for the chart
    label: str
    used: Decimal = Decimal(0)
    returned: Decimal = Decimal(0)
    last_year: Decimal | None = None
    note: str = ""


@dataclass
class UsagePeriod:
    view: str
    title: str
    first_day: dt.date
    last_day: dt.date
    unit_label: str  # "Day", "Hour", "Month"
    rows: list[UsageRow] = field(default_factory=list)
    previous: dict | None = None  # query parameters of the previous period, or None
    following: dict | None = None
    bill: Bill | None = None
    bills: list[Bill] = field(default_factory=list)  # bills overlapping a calendar month
    complete: bool = True
    detail: str = "60"

    @property
    def unit_word(self) -> str:
        """What one bar is: 'day', 'hour', '15 minutes', 'month'."""
        if self.view == "day":
            return "15 minutes" if self.detail == "15" else "hour"
        return "month" if self.view == "year" else "day"

    @cached_property
    def total(self) -> Decimal:
        return sum((row.used for row in self.rows), Decimal(0))

    @cached_property
    def total_returned(self) -> Decimal:
        return sum((row.returned for row in self.rows), Decimal(0))

    @cached_property
    def total_last_year(self) -> Decimal | None:
        values = [row.last_year for row in self.rows if row.last_year is not None]
        return sum(values, Decimal(0)) if values else None

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @cached_property
    def has_data(self) -> bool:
        return any(row.used or row.returned for row in self.rows)

    @property
    def agrees_with_bill(self) -> bool:
        return self.bill is not None and self.complete and round(self.total) == round(self.bill.kwh)


def _kwh(wh: int | float) -> Decimal:
    return (Decimal(wh) / 1000).quantize(Decimal("0.001"))


def _a_year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _daily(account: Account, first: dt.date, last: dt.date) -> dict[dt.date, dict]:
    days: dict[dt.date, dict] = {}
    for total in daily_totals_for_account(account=account, first_day=first, last_day=last):
        entry = days.setdefault(total.day, {"delivered": 0, "received": 0, "flag": ""})
        entry[total.channel] += total.wh
        if total.missing:
            entry["flag"] = "some readings missing"
        elif total.estimated and not entry["flag"]:
            entry["flag"] = "includes estimated readings"
    return days


def _day_rows(account: Account, first: dt.date, last: dt.date) -> tuple[list[UsageRow], bool]:
    """One row per day of [first, last], with the same days a year earlier; and whether every day of the
    period has readings."""
    this_year = _daily(account, first, last)
    last_year = _daily(account, _a_year_before(first), _a_year_before(last))
    rows, complete = [], True
    day = first
    while day <= last:
        entry = this_year.get(day)
        before = last_year.get(_a_year_before(day))
        if entry is None:
            complete = False
        rows.append(
            UsageRow(
                key=day.isoformat(),
                label=day.strftime("%a %b %-d"),
                used=_kwh(entry["delivered"]) if entry else Decimal(0),
                returned=_kwh(entry["received"]) if entry else Decimal(0),
                last_year=_kwh(before["delivered"]) if before else None,
                note=(entry["flag"] if entry else "no readings"),
            )
        )
        day += dt.timedelta(days=1)
    return rows, complete


def _interval_totals(account: Account, day: dt.date, minutes: int) -> dict[int, dict]:
    """Per slot of ``minutes`` since the local midnight: delivered and received Wh, and a flag."""
    start, end = day_bounds_utc(day)
    zone = local_zone()
    slots: dict[int, dict] = {}
    for begin, _duration, wh, quality, channel in interval_readings_for_account(account=account, start=start, end=end):
        local = begin.astimezone(zone)
        slot = (local.hour * 60 + local.minute) // minutes
        entry = slots.setdefault(slot, {"delivered": 0, "received": 0, "flag": "", "at": local})
        entry[channel] += wh
        if quality == "missing":
            entry["flag"] = "some readings missing"
        elif quality in ("estimated", "edited") and not entry["flag"]:
            entry["flag"] = "includes estimated readings"
    return slots


def _slot_label(slot: int, minutes: int) -> str:
    moment = dt.datetime(2000, 1, 1) + dt.timedelta(minutes=slot * minutes)  # noqa: DTZ001 (a clock label only)
    text = moment.strftime("%-I:%M %p").lower()
    return text.replace(":00 ", " ") if minutes == 60 else text


def _interval_rows(account: Account, day: dt.date, minutes: int) -> tuple[list[UsageRow], bool]:
    today = _interval_totals(account, day, minutes)
    before = _interval_totals(account, _a_year_before(day), minutes)
    rows = []
    for slot in range(24 * 60 // minutes):
        entry, old = today.get(slot), before.get(slot)
        rows.append(
            UsageRow(
                key=f"{day.isoformat()}T{slot * minutes // 60:02d}:{slot * minutes % 60:02d}",
                label=_slot_label(slot, minutes),
                used=_kwh(entry["delivered"]) if entry else Decimal(0),
                returned=_kwh(entry["received"]) if entry else Decimal(0),
                last_year=_kwh(old["delivered"]) if old else None,
                note=(entry["flag"] if entry else "no readings"),
            )
        )
    return rows, bool(today) and len(today) == len(rows)


def _month_rows(account: Account, year: int) -> tuple[list[UsageRow], bool]:
    def by_month(first: dt.date, last: dt.date) -> dict[dt.date, dict]:
        months: dict[dt.date, dict] = {}
        for total in monthly_totals_for_account(account=account, start_month=first, end_month=last):
            months.setdefault(total.month, {"delivered": 0, "received": 0, "days": 0})[total.channel] += total.wh
            months[total.month]["days"] = max(months[total.month]["days"], total.days_with_data)
        return months

    this_year = by_month(dt.date(year, 1, 1), dt.date(year, 12, 1))
    last_year = by_month(dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 1))
    rows, complete = [], True
    for number in range(1, 13):
        month = dt.date(year, number, 1)
        entry, old = this_year.get(month), last_year.get(dt.date(year - 1, number, 1))
        complete = complete and entry is not None
        rows.append(
            UsageRow(
                key=month.isoformat(),
                label=month.strftime("%B %Y"),
                used=_kwh(entry["delivered"]) if entry else Decimal(0),
                returned=_kwh(entry["received"]) if entry else Decimal(0),
                last_year=_kwh(old["delivered"]) if old else None,
                note="" if entry else "no readings",
            )
        )
    return rows, complete


# --- The four views: each builds its period from the request's parameters --------------------------


def _parse_date(value: str | None, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if value else default
    except ValueError:
        return default


# What the usage page shows of a bill (its charges and reads are the PDF's): every bill of the account is
# read on each visit, so not the rest.
_BILL_COLUMNS = ("id", "account_id", "statement_number", "period_start", "period_end", "kwh", "status")


def bill_period(account: Account, params, today: dt.date) -> UsagePeriod | None:
    bills = list(account.bills.exclude(status=Bill.Status.VOID).only(*_BILL_COLUMNS).order_by("period_start", "pk"))
    if not bills:
        return None
    wanted = params.get("bill")
    index = next((i for i, bill in enumerate(bills) if bill.statement_number == wanted), len(bills) - 1)
    bill = bills[index]
    rows, complete = _day_rows(account, bill.period_start, bill.period_end)
    return UsagePeriod(
        view="bill",
        title=f"Billing period {bill.period_start:%b %-d} – {bill.period_end:%b %-d, %Y}",
        first_day=bill.period_start,
        last_day=bill.period_end,
        unit_label="Day",
        rows=rows,
        complete=complete,
        bill=bill,
        previous={"view": "bill", "bill": bills[index - 1].statement_number} if index > 0 else None,
        following={"view": "bill", "bill": bills[index + 1].statement_number} if index + 1 < len(bills) else None,
    )


def month_period(account: Account, params, today: dt.date) -> UsagePeriod:
    first = _parse_date(params.get("month", "") + "-01" if params.get("month") else None, today).replace(day=1)
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    rows, complete = _day_rows(account, first, last)
    before = (first - dt.timedelta(days=1)).replace(day=1)
    after = last + dt.timedelta(days=1)
    return UsagePeriod(
        view="month",
        title=first.strftime("%B %Y"),
        first_day=first,
        last_day=last,
        unit_label="Day",
        rows=rows,
        complete=complete,
        bills=list(
            account.bills.exclude(status=Bill.Status.VOID)
            .only(*_BILL_COLUMNS)
            .filter(period_start__lte=last, period_end__gte=first)
            .order_by("period_start")
        ),
        previous={"view": "month", "month": before.strftime("%Y-%m")},
        following={"view": "month", "month": after.strftime("%Y-%m")} if after <= today else None,
    )


def day_period(account: Account, params, today: dt.date) -> UsagePeriod:
    day = _parse_date(params.get("day"), today - dt.timedelta(days=1))
    detail = "15" if params.get("detail") == "15" else "60"
    rows, complete = _interval_rows(account, day, int(detail))
    after = day + dt.timedelta(days=1)
    return UsagePeriod(
        view="day",
        title=day.strftime("%A, %B %-d, %Y"),
        first_day=day,
        last_day=day,
        unit_label="15 minutes starting" if detail == "15" else "Hour starting",
        rows=rows,
        complete=complete,
        detail=detail,
        previous={"view": "day", "day": (day - dt.timedelta(days=1)).isoformat(), "detail": detail},
        following={"view": "day", "day": after.isoformat(), "detail": detail} if after <= today else None,
    )


def year_period(account: Account, params, today: dt.date) -> UsagePeriod:
    try:
        year = int(params.get("year") or today.year)
    except ValueError:
        year = today.year
    year = min(max(year, 2000), today.year)
    rows, complete = _month_rows(account, year)
    return UsagePeriod(
        view="year",
        title=str(year),
        first_day=dt.date(year, 1, 1),
        last_day=dt.date(year, 12, 31),
        unit_label="Month",
        rows=rows,
        complete=complete,
        previous={"view": "year", "year": str(year - 1)} if year > 2000 else None,
        following={"view": "year", "year": str(year + 1)} if year < today.year else None,
    )


def _legacy(params) -> dict:
    """Links from before the bill-period view (``?period=month|year&day=...``) still open their period."""
    params = {key: params.get(key) for key in ("view", "bill", "month", "day", "detail", "year", "period")}
    day = _parse_date(params.get("day"), dt.date.min) if params.get("day") else None
    if not params.get("view") and params.get("period") in ("month", "year") and day:
        params["view"] = params["period"]
        params["month"], params["year"] = day.strftime("%Y-%m"), str(day.year)
    return params


BUILDERS = {"bill": bill_period, "month": month_period, "day": day_period, "year": year_period}


def usage_period(*, account: Account, params, today: dt.date) -> UsagePeriod:
    """The period the request asks for; the latest bill's period by default (a month if no bill yet)."""
    params = _legacy(params)
    view = params.get("view") if params.get("view") in BUILDERS else "bill"
    period = BUILDERS[view](account, params, today)
    return period if period is not None else month_period(account, params, today)


def _kwh_cell(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def table_rows(period: UsagePeriod) -> SafeString:
    """The usage table's body (every number of the chart, for screen readers and for copying), built here
    rather than in the template: a year of rows through the template language cost the server more CPU
    than the rest of the page (issue 14's load test). Every value is escaped by format_html."""
    label = period.unit_label
    if period.total_returned:
        return format_html_join(
            "\n",
            '<tr><th scope="row" data-label="{}">{}</th><td data-label="Used (kWh)">{}</td>'
            '<td data-label="Same time last year (kWh)">{}</td><td data-label="Returned to the grid (kWh)">{}</td>'
            '<td data-label="Note">{}</td></tr>',
            (
                (label, row.label, _kwh_cell(row.used), _kwh_cell(row.last_year), _kwh_cell(row.returned), note)
                for row in period.rows
                for note in (row.note or "—",)
            ),
        )
    return format_html_join(
        "\n",
        '<tr><th scope="row" data-label="{}">{}</th><td data-label="Used (kWh)">{}</td>'
        '<td data-label="Same time last year (kWh)">{}</td><td data-label="Note">{}</td></tr>',
        ((label, row.label, _kwh_cell(row.used), _kwh_cell(row.last_year), row.note or "—") for row in period.rows),
    )


def chart_data(period: UsagePeriod) -> dict:
    """What portal/usage.js draws (uPlot): x as epoch seconds, kWh per series."""
    zone = local_zone()

    def epoch(key: str) -> int:
        moment = dt.datetime.fromisoformat(key)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return int(moment.timestamp())

    return {
        "view": period.view,
        "tz": str(zone),
        "unit": "kWh",
        "x_label": period.unit_label,
        "x": [epoch(row.key) for row in period.rows],
        "labels": [row.label for row in period.rows],
        "used": [float(row.used) for row in period.rows],
        "last_year": [None if row.last_year is None else float(row.last_year) for row in period.rows],
        "returned": [float(row.returned) for row in period.rows] if period.total_returned else None,
        "step_seconds": {"bill": 86400, "month": 86400, "day": int(period.detail) * 60, "year": 2629800}[period.view],
    }
