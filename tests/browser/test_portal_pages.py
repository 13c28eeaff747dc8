"""The member portal in a real browser at 1366 and 390 pixels (issue 14 items 1, 2 and 7): sign-in through
the form (with a TOTP code when the member has one), home, bills, a bill PDF, the usage chart with
previous/next and its table, the change of e-mail behind a fresh password check. Every page: no sideways
scrolling, touch targets of at least 44 pixels, no serious or critical axe-core violation, and a
screenshot in var/screenshots/."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.utils.module_loading import import_string

from accounts.models import Bill
from accounts.usage.services import usage_ingest_file
from tests.conftest import PASSWORD
from tests.factories import AccountFactory, BillFactory, MemberFactory, MeterFactory, PaymentFactory, UserFactory
from tests.usage.conftest import csv_bytes, day_lines

WIDTHS = (1366, 390)
TODAY = dt.date.today()  # noqa: DTZ011 (the live server's day; only used to place demo-like data)


def _member(username: str = "portal-member"):
    user = UserFactory(username=username)
    user.set_password(PASSWORD)
    user.save(update_fields=["password"])
    member = MemberFactory(legal_name="Pat Portal", user=user, email=f"{username}@example.test")
    account = AccountFactory(
        member=member,
        account_number="A9100001",
        status="open",
        opened_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    meter = MeterFactory(premise=account.premise, meter_number="MTR-BROWSER-1")
    # Three billing periods of ten days ending a week ago, with readings for the last two.
    end = TODAY - dt.timedelta(days=7)
    periods = [(end - dt.timedelta(days=10 * n + 9), end - dt.timedelta(days=10 * n)) for n in (2, 1, 0)]
    lines = []
    day = periods[1][0]
    while day <= end + dt.timedelta(days=3):
        values = [100 + (slot % 24) * 10 for slot in range(96)]
        lines += day_lines(meter.meter_number, day, values)
        day += dt.timedelta(days=1)
    usage_ingest_file(data=csv_bytes(lines), source="test", filename="browser.csv")
    per_day = Decimal(sum(100 + (slot % 24) * 10 for slot in range(96))) / 1000
    for index, (first, last) in enumerate(periods):
        kwh = (per_day * 10).quantize(Decimal("1"))
        bill = BillFactory(
            account=account,
            period_start=first,
            period_end=last,
            issued_on=last + dt.timedelta(days=2),
            due_on=last + dt.timedelta(days=22),
            kwh=kwh,
            amount_due=Decimal("24.00") + kwh * Decimal("0.1320"),
            status=Bill.Status.OPEN if index == 2 else Bill.Status.PAID,
            meter_number=meter.meter_number,
            previous_read=Decimal(40000) + kwh * index,
            present_read=Decimal(40000) + kwh * (index + 1),
            charges=[
                {"label": "Service availability charge", "amount": "24.00"},
                {"label": f"Energy charge, {kwh} kWh at $0.1320 per kWh", "amount": str(kwh * Decimal("0.1320"))},
            ],
        )
        if index < 2:
            PaymentFactory(account=account, bill=bill, amount=bill.amount_due)
    return member


def _totp(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _sign_in(page, username: str, secret: str | None = None) -> None:
    page.goto("/auth/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_load_state()
    if secret is not None:
        assert "/auth/2fa/authenticate/" in page.url  # the password alone signs nobody in
        page.fill("input[name=code]", _totp(secret))
        page.locator("main form button[type=submit]").first.click()
        page.wait_for_load_state()


def _open_menu_if_collapsed(page) -> None:
    button = page.locator("button.usa-menu-btn")
    if button.is_visible():
        button.click()
        page.locator("nav.usa-nav.is-visible").wait_for()


def _assert_touch_targets(page) -> None:
    """Every visible button and menu link is at least 44 x 44 CSS pixels (WCAG 2.5.5)."""
    _open_menu_if_collapsed(page)
    small = []
    for element in page.locator("button:visible, .usa-button:visible, .usa-nav__primary a:visible").all():
        box = element.bounding_box()
        if box and (box["height"] < 44 or box["width"] < 44):
            small.append(f"{element.inner_text().strip()[:30]!r} {box['width']:.0f}x{box['height']:.0f}")
    close = page.locator("button.usa-nav__close")
    if close.is_visible():
        close.click()
    assert not small, f"{page.url}: touch targets under 44 px: {small}"


@pytest.fixture
def check(assert_accessible, assert_no_horizontal_scroll, shot):
    def _check(page, name: str) -> None:
        assert_no_horizontal_scroll(page)
        assert_accessible(page)
        _assert_touch_targets(page)
        shot(page, name)

    return _check


@pytest.mark.parametrize("width", WIDTHS)
def test_sign_in_with_a_totp_code_then_home_bills_and_a_bill_pdf(page_for, check, width):
    member = _member()
    secret = generate_totp_secret()
    TOTP.activate(member.user, secret)
    page = page_for(width=width)
    page.goto("/auth/login/")
    check(page, "portal-signin")
    _sign_in(page, member.user.username, secret)
    assert page.url.endswith("/portal/")

    home = page.locator("main")
    assert "Pat Portal" in home.inner_text()
    summary = page.locator(".usa-card").first.inner_text()
    latest = member.accounts.get().bills.order_by("-issued_on").first()
    assert "Balance" in summary and f"${latest.amount_due}" in summary
    assert latest.due_on.strftime("%B %-d, %Y") in summary
    check(page, "portal-home")

    page.get_by_role("link", name="Bills and payments").click()
    page.wait_for_load_state()
    rows = page.locator("table").first.locator("tbody tr")
    assert rows.count() == 3
    check(page, "portal-bills")

    pdf_link = page.locator("a", has_text="PDF").first
    response = page.request.get(pdf_link.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")


@pytest.mark.parametrize("width", WIDTHS)
def test_usage_chart_with_previous_next_views_and_its_table(page_for, check, width):
    member = _member()
    page = page_for(member.user, width=width)
    account = member.accounts.get()
    latest = account.bills.order_by("-issued_on").first()
    page.goto(f"/portal/accounts/{account.account_number}/usage/")
    assert "Billing period" in page.locator("h2#period-title").inner_text()
    chart = page.locator("#usage-chart canvas")
    chart.first.wait_for()
    box = chart.first.bounding_box()
    assert box and box["width"] > 200 and box["width"] <= width
    total = page.locator("[data-testid=period-total]").inner_text()
    assert total == f"{latest.kwh:.0f} kWh"  # the bill and the usage page agree
    assert "the same as the readings above" in page.locator("[data-testid=bill-agreement]").inner_text()
    assert page.locator("#usage-table tbody tr").count() == (latest.period_end - latest.period_start).days + 1
    check(page, "portal-usage-bill")

    page.get_by_role("link", name="Previous billing period").click()
    page.wait_for_load_state()
    assert page.locator("a[rel=next]").count() == 1
    page.get_by_role("link", name="Next billing period").click()
    page.wait_for_load_state()
    assert page.locator("[data-testid=period-total]").inner_text() == total

    page.locator(".portal-view-switch").get_by_role("link", name="Month").click()
    page.wait_for_load_state()
    assert "A calendar month is not a bill" in page.locator("main").inner_text()
    check(page, "portal-usage-month")

    page.goto(f"/portal/accounts/{account.account_number}/usage/")  # from the bill: its last day
    page.locator(".portal-view-switch").get_by_role("link", name="Day").click()
    page.wait_for_load_state()
    assert latest.period_end.strftime("%B %-d, %Y") in page.locator("h2#period-title").inner_text()
    assert page.locator("#usage-table tbody tr").count() == 24
    page.locator("#usage-chart canvas").first.wait_for()
    check(page, "portal-usage-day")
    page.get_by_role("link", name="every 15 minutes").click()
    page.wait_for_load_state()
    assert page.locator("#usage-table tbody tr").count() == 96
    page.get_by_role("link", name="Previous day").click()
    page.wait_for_load_state()
    assert page.locator("#usage-table tbody tr").count() == 96


def _age_the_sign_in(page, seconds: int) -> None:
    """Make the browser session's last password check ``seconds`` old (as if the member signed in then)."""
    cookie = next(c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    store: SessionBase = import_string(f"{settings.SESSION_ENGINE}.SessionStore")(cookie["value"])
    records = store["account_authentication_methods"]
    for record in records:
        record["at"] -= seconds
    store["account_authentication_methods"] = records
    store.save()


@pytest.mark.parametrize("width", WIDTHS)
def test_changing_the_email_asks_for_the_password_again(page_for, check, width):
    member = _member()
    page = page_for(width=width)
    _sign_in(page, member.user.username)
    page.goto("/portal/contact/")
    check(page, "portal-contact")
    _age_the_sign_in(page, settings.STEP_UP_MINUTES * 60 + 60)
    page.fill("input[name=email]", "new-address@example.test")
    page.get_by_role("button", name="Save my information").click()
    page.wait_for_load_state()
    assert "/auth/reauthenticate/" in page.url  # a session alone cannot change the e-mail
    check(page, "portal-stepup")
    member.refresh_from_db()
    assert member.email != "new-address@example.test"
    page.fill("input[name=password]", PASSWORD)
    page.locator("main form button[type=submit]").last.click()
    page.wait_for_load_state()
    assert "Your contact information was updated." in page.locator(".portal-messages").inner_text()
    member.refresh_from_db()
    assert member.email == "new-address@example.test"


@pytest.mark.parametrize("width", WIDTHS)
def test_every_other_portal_page_fits_and_passes_axe(page_for, check, width):
    member = _member()
    page = page_for(member.user, width=width)
    for path, name in (
        ("/portal/privacy/", "portal-privacy"),
        ("/portal/corrections/new/", "portal-correction"),
        ("/portal/alerts/", "portal-alerts"),
        ("/portal/security/", "portal-security"),
        ("/auth/password/change/", "portal-password"),
        ("/auth/2fa/", "portal-two-step"),
    ):
        response = page.goto(path)
        assert response.status == 200, path
        assert page.locator(".usa-header").count() == 1, path  # every page in the portal's own look
        check(page, name)
    anonymous = page_for(width=width)
    anonymous.goto("/portal/enroll/")
    check(anonymous, "portal-enroll")


def test_the_password_page_is_a_portal_page_not_the_staff_admins(page_for):
    member = _member()
    page = page_for(member.user)
    page.goto("/portal/security/")
    page.get_by_role("link", name="Change my password").click()
    page.wait_for_load_state()
    assert page.url.endswith("/auth/password/change/")
    assert "/admin/" not in page.content()
    page.locator(".usa-logo a").click()
    page.wait_for_load_state()
    assert page.url.endswith("/portal/")
