"""Demo bills made from the demo meter readings, so a bill and the usage page agree.

Why this step exists (issue 14): the demo used to invent each bill's kWh from a formula in the registry
step (``450 + (account * 37 + month * 53) % 900``), before any reading existed, while the usage demo
drew its 15-minute readings from a household load profile. The October bill said 577 kWh and the usage
page 854 kWh for October because the two numbers had nothing to do with each other. A real co-op bills
from the meter: kWh is the present register read less the previous one. Here the bills are made after
the readings, and a billing period the readings cover in full is billed for exactly their total.

Periods before the readings begin (the rest of the year of history) keep an invented figure: there are
no readings online to compare with, and the usage page says so. Each account reads on one of four
billing cycles (the 1st, 8th, 15th or 22nd), so most bills do not follow calendar months: the usage
page's bill-period view uses the bill's own dates, and its month view says why the two can differ.

Idempotent: accounts that already have bills are left alone.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Bill, Meter, Payment
from accounts.usage.selectors import daily_totals_for_account
from members.audit import audit_record

BILLING_CYCLE_DAYS = (1, 8, 15, 22)
HISTORY_BILLS = 12
ENERGY_RATE = Decimal("0.1320")  # $ per kWh
SERVICE_CHARGE = Decimal("24.00")  # $ per billing period
DEMO_ACCOUNT_PREFIX = "AD"


def billing_periods(*, cycle_day: int, today: dt.date, count: int = HISTORY_BILLS) -> list[tuple[dt.date, dt.date]]:
    """The last ``count`` complete periods of a cycle reading on ``cycle_day``, oldest first; a period
    counts once its bill is issued (two days after it ends)."""
    start = dt.date(today.year, today.month, cycle_day)
    periods: list[tuple[dt.date, dt.date]] = []
    while len(periods) < count:
        previous = _month_before(start)
        end = start - dt.timedelta(days=1)
        if end + dt.timedelta(days=2) <= today:
            periods.append((previous, end))
        start = previous
    return periods[::-1]


def _month_before(day: dt.date) -> dt.date:
    return day.replace(year=day.year - 1, month=12) if day.month == 1 else day.replace(month=day.month - 1)


def _charges(kwh: Decimal) -> tuple[list[dict], Decimal]:
    energy = (kwh * ENERGY_RATE).quantize(Decimal("0.01"))
    charges = [
        {"label": "Service availability charge", "amount": str(SERVICE_CHARGE)},
        {"label": f"Energy charge, {kwh:.0f} kWh at ${ENERGY_RATE} per kWh", "amount": str(energy)},
    ]
    return charges, SERVICE_CHARGE + energy


def _delivered_by_day(account: Account, first: dt.date, last: dt.date) -> dict[dt.date, int]:
    return {
        total.day: total.wh
        for total in daily_totals_for_account(account=account, first_day=first, last_day=last)
        if total.channel == "delivered"
    }


def _bills_for(account: Account, today: dt.date, meter_number: str) -> list[Bill]:
    cycle_day = BILLING_CYCLE_DAYS[account.pk % len(BILLING_CYCLE_DAYS)]
    periods = billing_periods(cycle_day=cycle_day, today=today)
    delivered = _delivered_by_day(account, periods[0][0], periods[-1][1])
    register = Decimal(20000 + (account.pk * 7919) % 60000)
    bills = []
    for number, (first, last) in enumerate(periods):
        days = [first + dt.timedelta(days=offset) for offset in range((last - first).days + 1)]
        if all(day in delivered for day in days):
            kwh = Decimal(round(sum(delivered[day] for day in days) / 1000))
        else:
            kwh = Decimal(450 + (account.pk * 37 + number * 53) % 900)
        charges, amount = _charges(kwh)
        bills.append(
            Bill(
                account=account,
                statement_number=f"DS{account.pk:07d}{last:%y%m}",
                period_start=first,
                period_end=last,
                issued_on=last + dt.timedelta(days=2),
                due_on=last + dt.timedelta(days=22),
                kwh=kwh,
                amount_due=amount,
                status=Bill.Status.OPEN if number == len(periods) - 1 else Bill.Status.PAID,
                meter_number=meter_number,
                previous_read=register,
                present_read=register + kwh,
                charges=charges,
            )
        )
        register += kwh
    return bills


def seed_bills() -> str:
    """A year of bills and payments, billed from the meter readings"""
    today = timezone.localdate()
    accounts = list(
        Account.objects.filter(account_number__startswith=DEMO_ACCOUNT_PREFIX, bills__isnull=True)
        .exclude(opened_at__isnull=True)
        .order_by("pk")
    )
    meters = dict(Meter.objects.filter(premise__accounts__in=accounts).values_list("premise_id", "meter_number"))
    bills: list[Bill] = []
    for account in accounts:
        bills.extend(_bills_for(account, today, meters.get(account.premise_id, "")))
    with transaction.atomic():
        Bill.objects.bulk_create(bills, batch_size=1000)
        payments = [
            Payment(
                account_id=bill.account_id,
                bill=bill,
                amount=bill.amount_due,
                received_at=dt.datetime.combine(bill.due_on - dt.timedelta(days=5), dt.time(16), tzinfo=dt.UTC),
                method=(Payment.Method.ACH, Payment.Method.CHECK, Payment.Method.CARD)[bill.account_id % 3],
            )
            for bill in bills
            if bill.status == Bill.Status.PAID
        ]
        Payment.objects.bulk_create(payments, batch_size=1000)
        if bills:
            audit_record(
                actor=None,
                actor_label="demo",
                action="demo.billing_history",
                object_type="accounts.bill",
                fields=["bills", "payments"],
                detail={"bills": len(bills), "payments": len(payments), "accounts": len(accounts)},
            )
    return f"bills: {len(bills)} bills and {len(payments)} payments for {len(accounts)} accounts, from the meter reads"
