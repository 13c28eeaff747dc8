"""Issue 14's benchmark data and demo data: the fast bench loader (PostgreSQL generates a year of
15-minute meter-days and their rollups, bypassing ingest on purpose), bench bills billed from those
readings so the portal's bills and usage agree, the load test's scenario selection, and the demo's
last-year readings for the usage page's comparison."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Bill
from accounts.usage.bench_loader import bench_meter_days_load
from accounts.usage.demo import seed_usage, seed_usage_last_year
from accounts.usage.models import MeterDay, MeterMonth
from config.loadtest import selected_scenarios
from members import demo
from portal import bench
from tests.factories import AccountFactory, MemberFactory, MeterFactory, UserFactory

pytestmark = pytest.mark.django_db


class TestBenchLoader:
    FIRST, LAST = dt.date(2025, 10, 25), dt.date(2025, 11, 5)  # the clocks go back on 2 November 2025

    def test_a_day_per_meter_with_one_value_per_local_quarter_hour_and_their_total(self):
        meters = [MeterFactory().pk, MeterFactory().pk]
        loaded = bench_meter_days_load(meter_ids=meters, first_day=self.FIRST, last_day=self.LAST)
        assert loaded["months_loaded"] == 2
        rows = list(MeterDay.objects.filter(meter_id__in=meters))
        assert len(rows) == 2 * 12
        for row in rows:
            assert (row.channel, row.interval_minutes, row.quality) == (1, 15, None)
            assert len(row.vals) == (100 if row.day == dt.date(2025, 11, 2) else 96)
            assert row.total_wh == sum(row.vals)
            assert 5_000 < row.total_wh < 80_000  # a household's day, not noise
            assert max(row.vals) > 2 * min(row.vals)  # a daily shape (evening peak), not a flat line
        october = [row.total_wh for row in rows if row.meter_id == meters[0] and row.day.month == 10]
        rollup = MeterMonth.objects.get(meter_id=meters[0], month=dt.date(2025, 10, 1), channel=1)
        assert rollup.total_wh == sum(october) and rollup.days_with_data == 7

    def test_a_second_run_loads_nothing_and_a_new_meter_completes_the_months(self):
        first = MeterFactory().pk
        bench_meter_days_load(meter_ids=[first], first_day=self.FIRST, last_day=self.LAST)
        before = {(r.day, r.total_wh) for r in MeterDay.objects.filter(meter_id=first)}
        again = bench_meter_days_load(meter_ids=[first], first_day=self.FIRST, last_day=self.LAST)
        assert (again["months_loaded"], again["months_skipped"]) == (0, 2)
        second = MeterFactory().pk
        grown = bench_meter_days_load(meter_ids=[first, second], first_day=self.FIRST, last_day=self.LAST)
        assert grown["months_loaded"] == 2
        assert {(r.day, r.total_wh) for r in MeterDay.objects.filter(meter_id=first)} == before  # untouched
        assert MeterDay.objects.filter(meter_id=second).count() == 12


def test_bench_bills_are_billed_from_the_bench_readings_and_the_usage_page_agrees(client, monkeypatch):
    monkeypatch.setenv("PORTAL_BENCH_MEMBERS", "2")
    monkeypatch.setenv("PORTAL_BENCH_DAYS", "365")
    sessions = bench.portal_load_sessions(quick=True, session_cookie=lambda user: user)
    assert len(sessions["portal.home"]) == len(sessions["portal.usage_page"]) == 2
    member_user = sessions["portal.usage_page"][0]["cookie"]
    path = sessions["portal.usage_page"][0]["paths"][0]
    account = member_user.member.accounts.get()
    bills = list(Bill.objects.filter(account=account).order_by("period_start"))
    assert len(bills) == 12
    for bill in bills:
        days = MeterDay.objects.filter(day__gte=bill.period_start, day__lte=bill.period_end, channel=1).filter(
            meter_id__in=account.premise.meters.values("pk")
        )
        assert days.count() == (bill.period_end - bill.period_start).days + 1
        assert bill.kwh == Decimal(round(sum(d.total_wh for d in days) / 1000))
        assert sum(Decimal(charge["amount"]) for charge in bill.charges) == bill.amount_due
        assert bill.present_read - bill.previous_read == bill.kwh
    client.force_login(member_user)
    body = client.get(path).content.decode()
    assert "usa-alert--success" in body and f"says <strong>{bills[-1].kwh:.0f} kWh</strong>" in body
    assert "Mon " in body or "Tue " in body  # the table's rows, built in Python, are in the page
    # Idempotent: a second build adds no member and changes no bill.
    again = bench.portal_load_sessions(quick=True, session_cookie=lambda user: user)
    assert len(again["portal.home"]) == 2
    assert [b.kwh for b in Bill.objects.filter(account=account).order_by("period_start")] == [b.kwh for b in bills]


class TestScenarioSelection:
    NAMES = ["api.usage_daily", "registry.member_search", "portal.home", "portal.usage_page"]

    def test_nothing_picked_runs_every_scenario(self):
        assert selected_scenarios(self.NAMES, "") == self.NAMES

    def test_a_prefix_picks_an_areas_scenarios_and_a_name_picks_one(self):
        assert selected_scenarios(self.NAMES, "portal.") == ["portal.home", "portal.usage_page"]
        assert selected_scenarios(self.NAMES, "portal.home, api.usage_daily") == ["api.usage_daily", "portal.home"]

    def test_a_name_that_matches_nothing_is_an_error_not_an_empty_run(self):
        with pytest.raises(ValueError, match="names none"):
            selected_scenarios(self.NAMES, "portal")


def test_the_demo_has_last_years_readings_for_the_usage_pages_comparison(client):
    assert demo.DEMO_STEPS.index(seed_usage_last_year) > demo.DEMO_STEPS.index(seed_usage)
    member = MemberFactory(user=UserFactory(username="demo-member"))
    account = AccountFactory(
        member=member, status="open", opened_at=dt.datetime(2015, 1, 1, tzinfo=dt.UTC), account_number="AD0000001"
    )
    meter = MeterFactory(premise=account.premise, meter_number="DEMO-LY-1")
    seed_usage()
    assert "for 1 meters" in seed_usage_last_year()
    first = MeterDay.objects.filter(meter_id=meter.pk).earliest("day").day
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    assert first <= yesterday.replace(year=yesterday.year - 1, day=1)
    assert seed_usage_last_year() == "last year's usage: already loaded"
    last_month = (yesterday.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    client.force_login(member.user)
    body = client.get(f"/portal/accounts/{account.account_number}/usage/?view=month&month={last_month}").content
    text = body.decode()
    assert "Same period last year" in text
    figure = text.split("Same period last year</div>", 1)[1].split("</div>", 1)[0]
    assert "kWh" in figure and "no readings" not in figure


def test_account_summaries_in_one_query_for_several_accounts(django_assert_num_queries):
    """The home page's one written-out summary query: void bills and returned payments left out, a
    carried-over balance counting only what came after it, the latest bill by issue date, an account
    with nothing yet."""
    from accounts.models import Payment
    from portal.selectors import account_summaries
    from tests.factories import BillFactory, OpenAccountFactory, PaymentFactory

    member = MemberFactory()
    busy = OpenAccountFactory(member=member, balance=Decimal("25.00"), balance_as_of=dt.date(2026, 9, 15))
    empty = OpenAccountFactory(member=member)
    BillFactory(account=busy, issued_on=dt.date(2026, 9, 1), due_on=dt.date(2026, 9, 21), amount_due=Decimal("999"))
    BillFactory(
        account=busy, issued_on=dt.date(2026, 10, 2), due_on=dt.date(2026, 10, 22), amount_due=Decimal("40.00"),
        status=Bill.Status.OPEN, statement_number="S-OCT",
    )  # fmt: skip
    BillFactory(account=busy, issued_on=dt.date(2026, 11, 2), amount_due=Decimal("500"), status=Bill.Status.VOID)
    PaymentFactory(account=busy, amount=Decimal("10.00"))
    PaymentFactory(account=busy, amount=Decimal("300.00"), returned=True)
    Payment.objects.filter(account=busy).update(received_at=dt.datetime(2026, 10, 5, 12, tzinfo=dt.UTC))
    with django_assert_num_queries(1):
        first, second = account_summaries(accounts=[busy, empty])
        assert first.latest_bill.statement_number == "S-OCT" and first.latest_bill.kwh is not None
    assert (first.balance, first.amount_due) == (Decimal("55.00"), Decimal("55.00"))
    assert first.due_on == dt.date(2026, 10, 22)
    assert first.latest_bill.charges is not None  # a column not selected is read on first use
    assert (second.balance, second.amount_due, second.due_on, second.latest_bill) == (0, 0, None, None)
    assert account_summaries(accounts=[]) == []
