"""Issue 14 items 2 and 6: balance, amount due and due date; every bill reachable and printable as a PDF;
usage by billing period that agrees with the bill; a month that explains it is not a bill; a day by hour
or quarter-hour; the same period last year; and no other member named in "Who received my data"."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from decimal import Decimal

import pytest

from accounts.models import Bill
from accounts.usage.services import usage_ingest_file
from members import roles
from tests.factories import AccountFactory, BillFactory, MemberFactory, MeterFactory, PaymentFactory, UserFactory
from tests.usage.conftest import csv_bytes, day_lines

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    member = MemberFactory(legal_name="Alice Example", user=UserFactory(username="alice"))
    AccountFactory(
        member=member, status="open", opened_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC), account_number="A7000001"
    )
    return member


@pytest.fixture
def bob():
    member = MemberFactory(legal_name="Bob Outsider", user=UserFactory(username="bob"))
    AccountFactory(member=member, account_number="A7000002")
    return member


def _bill(account, first, last, *, kwh="48", amount="30.34", status=Bill.Status.PAID, **extra):
    return BillFactory(
        account=account,
        period_start=first,
        period_end=last,
        issued_on=last + dt.timedelta(days=2),
        due_on=last + dt.timedelta(days=22),
        kwh=Decimal(kwh),
        amount_due=Decimal(amount),
        status=status,
        **extra,
    )


class TestBalanceAndBills:
    def test_home_shows_balance_amount_due_and_due_date(self, client, alice):
        account = alice.accounts.get()
        paid = _bill(account, dt.date(2026, 8, 1), dt.date(2026, 8, 31), amount="90.00")
        PaymentFactory(account=account, bill=paid, amount=Decimal("90.00"))
        _bill(account, dt.date(2026, 9, 1), dt.date(2026, 9, 30), amount="112.40", status=Bill.Status.OPEN)
        PaymentFactory(account=account, amount=Decimal("50.00"), returned=True)  # bounced: does not count
        client.force_login(alice.user)
        body = client.get("/portal/").content.decode()
        assert "Balance" in body and "$112.40" in body
        assert "Amount due" in body and "October 22, 2026" in body

    def test_a_credit_is_shown_as_a_credit_with_nothing_due(self, client, alice):
        account = alice.accounts.get()
        _bill(account, dt.date(2026, 9, 1), dt.date(2026, 9, 30), amount="40.00", status=Bill.Status.OPEN)
        PaymentFactory(account=account, amount=Decimal("100.00"))
        client.force_login(alice.user)
        body = client.get("/portal/").content.decode()
        assert "Credit on the account" in body and "$60.00" in body and "Nothing due" in body

    def test_a_balance_carried_from_a_legacy_system_counts_only_later_bills_and_payments(self, client, alice):
        account = alice.accounts.get()
        account.balance, account.balance_as_of = Decimal("25.00"), dt.date(2026, 9, 15)
        account.save(update_fields=["balance", "balance_as_of"])
        _bill(account, dt.date(2026, 8, 1), dt.date(2026, 8, 31), amount="999.00")  # issued before: included in 25
        _bill(account, dt.date(2026, 9, 1), dt.date(2026, 9, 30), amount="10.00", status=Bill.Status.OPEN)
        client.force_login(alice.user)
        assert "$35.00" in client.get(f"/portal/accounts/{account.account_number}/").content.decode()

    def test_every_bill_is_reachable_however_long_the_history(self, client, alice):
        account = alice.accounts.get()
        first = dt.date(2023, 1, 1)
        for month in range(40):
            start = dt.date(first.year + (first.month + month - 1) // 12, (first.month + month - 1) % 12 + 1, 1)
            _bill(account, start, start + dt.timedelta(days=27))
        client.force_login(alice.user)
        url = f"/portal/accounts/{account.account_number}/"
        assert "Jan 1, 2023" not in client.get(url).content.decode()
        last_page = client.get(url + "?page=4").content.decode()
        assert "Jan 1, 2023" in last_page and 'aria-current="page">4<' in last_page

    def test_the_payments_list_pages_on_its_own(self, client, alice):
        account = alice.accounts.get()
        for day in range(1, 16):
            PaymentFactory(account=account, received_at=dt.datetime(2026, 3, day, 15, tzinfo=dt.UTC))
        client.force_login(alice.user)
        url = f"/portal/accounts/{account.account_number}/"
        assert "Mar 1, 2026" not in client.get(url).content.decode()
        assert "Mar 1, 2026" in client.get(url + "?payments_page=2").content.decode()


def _pdf_text(path) -> str:
    """The PDF's text with whitespace collapsed (line breaks fall where the layout puts them)."""
    tool = shutil.which("pdftotext")
    assert tool is not None
    out = subprocess.run([tool, str(path), "-"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    return " ".join(out.split())


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")
class TestBillPdf:
    def test_a_bill_pdf_carries_header_address_period_reads_usage_and_charges(self, client, alice, tmp_path):
        account = alice.accounts.get()
        bill = _bill(
            account,
            dt.date(2026, 9, 15),
            dt.date(2026, 10, 14),
            kwh="577",
            amount="100.16",
            meter_number="MTR-0042",
            previous_read=Decimal("31200"),
            present_read=Decimal("31777"),
            charges=[
                {"label": "Service availability charge", "amount": "24.00"},
                {"label": "Energy charge, 577 kWh at $0.1320 per kWh", "amount": "76.16"},
            ],
        )
        client.force_login(alice.user)
        response = client.get(f"/portal/accounts/{account.account_number}/bills/{bill.statement_number}.pdf")
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF") and response["Cache-Control"] == "private, no-store"
        (tmp_path / "bill.pdf").write_bytes(response.content)
        text = _pdf_text(tmp_path / "bill.pdf")
        premise = account.premise
        for expected in (
            "Electric bill",
            "Alice Example",
            premise.service_line1,
            "Sep 15, 2026",
            "Oct 14, 2026",
            "31200",
            "31777",
            "577 kWh",
            "Service availability charge",
            "Energy charge, 577 kWh",
            "$100.16",
            account.account_number,
        ):
            assert expected in text, expected
        assert alice.ssn_last4 not in text.replace(account.account_number, "")

    def test_a_bill_without_recorded_reads_or_charges_says_so(self, client, alice, tmp_path):
        account = alice.accounts.get()
        bill = _bill(account, dt.date(2026, 9, 1), dt.date(2026, 9, 30))
        client.force_login(alice.user)
        content = client.get(f"/portal/accounts/{account.account_number}/bills/{bill.statement_number}.pdf").content
        (tmp_path / "bill.pdf").write_bytes(content)
        text = _pdf_text(tmp_path / "bill.pdf")
        assert "not recorded" in text and "itemised charges were not recorded" in text


class TestBillPdfDenials:
    def test_another_member_gets_no_bill(self, client, alice, bob):
        account = alice.accounts.get()
        bill = _bill(account, dt.date(2026, 9, 1), dt.date(2026, 9, 30))
        client.force_login(bob.user)
        url = f"/portal/accounts/{account.account_number}/bills/{bill.statement_number}.pdf"
        assert client.get(url).status_code == 404
        # nor by putting another member's bill under their own account
        own = bob.accounts.get().account_number
        assert client.get(f"/portal/accounts/{own}/bills/{bill.statement_number}.pdf").status_code == 404

    def test_anonymous_visitors_are_sent_to_sign_in(self, client, alice):
        account = alice.accounts.get()
        bill = _bill(account, dt.date(2026, 9, 1), dt.date(2026, 9, 30))
        response = client.get(f"/portal/accounts/{account.account_number}/bills/{bill.statement_number}.pdf")
        assert response.status_code == 302 and "/auth/login/" in response["Location"]

    def test_staff_without_a_member_record_get_no_bill(self, client, alice, make_user):
        account = alice.accounts.get()
        bill = _bill(account, dt.date(2026, 9, 1), dt.date(2026, 9, 30))
        client.force_login(make_user("billing", role=roles.BILLING))
        url = f"/portal/accounts/{account.account_number}/bills/{bill.statement_number}.pdf"
        assert client.get(url).status_code == 404

    def test_an_unknown_bill_is_not_found(self, client, alice):
        client.force_login(alice.user)
        assert client.get(f"/portal/accounts/{alice.accounts.get().account_number}/bills/NOPE.pdf").status_code == 404


@pytest.fixture
def metered(alice):
    """Alice's meter: 250 Wh every quarter-hour (24 kWh a day) on 10-14 June 2025, and 125 Wh (12 kWh a
    day) on the same days of 2024."""
    account = alice.accounts.get()
    meter = MeterFactory(premise=account.premise, meter_number="MTR-U-0001")
    lines = []
    for offset in range(5):
        lines += day_lines(meter.meter_number, dt.date(2025, 6, 10) + dt.timedelta(days=offset), [250] * 96)
        lines += day_lines(meter.meter_number, dt.date(2024, 6, 10) + dt.timedelta(days=offset), [125] * 96)
    usage_ingest_file(data=csv_bytes(lines), source="test", filename="portal-usage.csv")
    return account


def _usage(client, account, query: str) -> str:
    response = client.get(f"/portal/accounts/{account.account_number}/usage/?{query}")
    assert response.status_code == 200
    return response.content.decode()


class TestUsageAgreesWithBills:
    def test_the_bill_period_view_totals_the_bills_own_dates_and_agrees_with_it(self, client, alice, metered):
        bill = _bill(metered, dt.date(2025, 6, 11), dt.date(2025, 6, 13), kwh="72")
        client.force_login(alice.user)
        body = _usage(client, metered, f"view=bill&bill={bill.statement_number}")
        assert "Billing period Jun 11 – Jun 13, 2025" in body
        assert '<div class="portal-figure__value" data-testid="period-total">72 kWh</div>' in body
        assert "the same as the readings above" in body
        assert "36 kWh" in body  # the same three days of 2024

    def test_a_bill_that_differs_from_complete_readings_is_explained_not_hidden(self, client, alice, metered):
        bill = _bill(metered, dt.date(2025, 6, 11), dt.date(2025, 6, 13), kwh="80")
        client.force_login(alice.user)
        body = _usage(client, metered, f"view=bill&bill={bill.statement_number}")
        assert "Your bill for this period says <strong>80 kWh</strong>; the readings above add up to 72 kWh" in body

    def test_a_bill_period_the_readings_cover_only_in_part_says_so(self, client, alice, metered):
        bill = _bill(metered, dt.date(2025, 6, 1), dt.date(2025, 6, 30), kwh="700")
        client.force_login(alice.user)
        body = _usage(client, metered, f"view=bill&bill={bill.statement_number}")
        assert "do not cover every day of this period" in body and "120 kWh" in body

    def test_the_latest_bill_is_the_default_view_with_previous_and_next_bills(self, client, alice, metered):
        older = _bill(metered, dt.date(2025, 6, 8), dt.date(2025, 6, 10), kwh="24")
        latest = _bill(metered, dt.date(2025, 6, 11), dt.date(2025, 6, 13), kwh="72")
        client.force_login(alice.user)
        body = _usage(client, metered, "")
        assert "Billing period Jun 11 – Jun 13, 2025" in body
        assert f"view=bill&amp;bill={older.statement_number}" in body and 'rel="next"' not in body
        body = _usage(client, metered, f"view=bill&bill={older.statement_number}")
        assert f"view=bill&amp;bill={latest.statement_number}" in body and 'rel="next"' in body

    def test_a_calendar_month_explains_it_is_not_a_bill_and_links_the_bills_it_overlaps(self, client, alice, metered):
        bill = _bill(metered, dt.date(2025, 5, 15), dt.date(2025, 6, 14), kwh="120")
        client.force_login(alice.user)
        body = _usage(client, metered, "view=month&month=2025-06")
        assert "A calendar month is not a bill" in body and "from one meter read to the next" in body
        assert f"view=bill&amp;bill={bill.statement_number}" in body
        assert "month=2025-05" in body and "month=2025-07" in body  # previous and next month


class TestUsageViews:
    def test_a_day_hour_by_hour_and_by_quarter_hour_with_last_year(self, client, alice, metered):
        client.force_login(alice.user)
        hourly = _usage(client, metered, "view=day&day=2025-06-12")
        assert hourly.count('data-label="Used (kWh)">1.00<') == 24  # 4 x 250 Wh an hour
        assert hourly.count('data-label="Same time last year (kWh)">0.50<') == 24
        assert "day=2025-06-11" in hourly and "day=2025-06-13" in hourly
        quarter = _usage(client, metered, "view=day&day=2025-06-12&detail=15")
        assert quarter.count('data-label="Used (kWh)">0.25<') == 96 and "12:15 am" in quarter

    def test_a_year_by_month_with_the_year_before(self, client, alice, metered):
        client.force_login(alice.user)
        body = _usage(client, metered, "view=year&year=2025")
        assert "June 2025" in body and "120 kWh" in body and "60 kWh" in body
        assert "year=2024" in body

    def test_the_chart_gets_its_numbers_as_data_not_inline_script(self, client, alice, metered):
        client.force_login(alice.user)
        body = _usage(client, metered, "view=day&day=2025-06-12")
        assert '<script id="usage-data" type="application/json">' in body
        assert "/static/portal/vendor/uplot/uPlot.iife.min.js" in body and "/static/portal/usage.js" in body

    def test_a_period_without_readings_says_so(self, client, alice, metered):
        client.force_login(alice.user)
        body = _usage(client, metered, "view=month&month=2025-01")
        assert "no meter readings online for this period" in body and "usage-data" not in body

    def test_nonsense_parameters_fall_back_to_a_sensible_period(self, client, alice, metered):
        client.force_login(alice.user)
        for query in ("view=bogus", "view=month&month=2025-13", "view=day&day=yesterday", "view=year&year=abc"):
            _usage(client, metered, query)

    def test_another_member_and_staff_cannot_see_alices_usage(self, client, alice, bob, metered, make_user):
        client.force_login(bob.user)
        assert client.get(f"/portal/accounts/{metered.account_number}/usage/?view=day").status_code == 404
        client.force_login(make_user("csr", role=roles.CSR))
        assert client.get(f"/portal/accounts/{metered.account_number}/usage/?view=day").status_code == 404
