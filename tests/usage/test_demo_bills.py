"""The demo bills are made from the demo readings (issue 14: the October bill said 577 kWh while the
usage page said 854 kWh, because the demo invented bill kWh from a formula unrelated to the readings)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from accounts.models import Bill, Payment
from accounts.usage.demo_bills import billing_periods, seed_bills
from accounts.usage.selectors import daily_totals_for_account
from accounts.usage.services import usage_ingest_file
from members import demo
from tests.factories import AccountFactory, MeterFactory
from tests.usage.conftest import csv_bytes, day_lines


def test_billing_periods_follow_the_cycle_day_and_end_before_the_bill_is_issued():
    periods = billing_periods(cycle_day=15, today=dt.date(2026, 11, 30), count=3)
    assert periods == [
        (dt.date(2026, 8, 15), dt.date(2026, 9, 14)),
        (dt.date(2026, 9, 15), dt.date(2026, 10, 14)),
        (dt.date(2026, 10, 15), dt.date(2026, 11, 14)),
    ]
    # A period ending yesterday is not billed yet (bills are issued two days after the read).
    assert billing_periods(cycle_day=1, today=dt.date(2026, 12, 1), count=1) == [
        (dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    ]
    assert billing_periods(cycle_day=1, today=dt.date(2027, 1, 5), count=2)[-1] == (
        dt.date(2026, 12, 1),
        dt.date(2026, 12, 31),
    )


@pytest.mark.django_db
def test_a_period_the_readings_cover_is_billed_for_exactly_their_total(monkeypatch):
    import accounts.usage.demo_bills as demo_bills

    today = dt.date(2026, 11, 30)
    monkeypatch.setattr(demo_bills.timezone, "localdate", lambda: today)
    account = AccountFactory(
        account_number="AD00009001", status="open", opened_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    )
    meter = MeterFactory(premise=account.premise, meter_number="DEMO-B-1")
    cycle = demo_bills.BILLING_CYCLE_DAYS[account.pk % len(demo_bills.BILLING_CYCLE_DAYS)]
    covered = billing_periods(cycle_day=cycle, today=today)[-1]
    lines, day = [], covered[0]
    while day <= covered[1]:
        lines += day_lines(meter.meter_number, day, [200 + day.day] * 96)
        day += dt.timedelta(days=1)
    usage_ingest_file(data=csv_bytes(lines), source="test", filename="demo-bills.csv")

    assert "12 bills" in seed_bills()
    bill = Bill.objects.get(account=account, period_start=covered[0])
    readings = sum(
        total.wh for total in daily_totals_for_account(account=account, first_day=covered[0], last_day=covered[1])
    )
    assert bill.kwh == Decimal(round(readings / 1000)) and bill.status == Bill.Status.OPEN
    assert bill.present_read - bill.previous_read == bill.kwh and bill.meter_number == "DEMO-B-1"
    assert sum(Decimal(charge["amount"]) for charge in bill.charges) == bill.amount_due
    bills = list(Bill.objects.filter(account=account).order_by("period_start"))
    assert all(a.present_read == b.previous_read for a, b in zip(bills, bills[1:], strict=False))
    assert Payment.objects.filter(account=account).count() == 11  # every bill but the open one is paid
    assert "0 bills" in seed_bills()  # idempotent


def test_bills_are_made_after_the_readings_they_are_billed_from():
    from accounts.usage.demo import seed_usage

    assert demo.DEMO_STEPS.index(seed_bills) == demo.DEMO_STEPS.index(seed_usage) + 1
