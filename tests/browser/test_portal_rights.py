"""Browser journeys for a member's rights (issue 14 items 3, 4, 7): a full copy after the password check,
a correction request through to a decline and a statement of disagreement, and a membership-list request;
each page at 1366 and 390 pixels, checked by axe-core and for sideways scrolling, with screenshots."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore

from disclosures.models import DisclosureLogEntry, MembershipListRequest
from members import roles
from members.models import DisagreementStatement, User
from portal.models import CorrectionRequest
from portal.services import correction_request_resolve
from tests.browser.test_portal_pages import _assert_touch_targets as assert_touch_targets
from tests.conftest import PASSWORD
from tests.factories import AccountFactory, BillFactory, MemberFactory, PaymentFactory, UserFactory

WIDTHS = (1366, 390)


def _member(username: str):
    member = MemberFactory(
        legal_name="Rita Rights", email=f"{username}@example.test", user=UserFactory(username=username)
    )
    account = AccountFactory(member=member)
    BillFactory(account=account)
    PaymentFactory(account=account)
    return member


def _age_browser_session(page, minutes: int) -> None:
    """The session's last password check was ``minutes`` ago (a session cookie stolen later, say)."""
    cookie = next(c for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    session = SessionStore(session_key=cookie["value"])
    methods = session["account_authentication_methods"]
    for record in methods:
        record["at"] = time.time() - minutes * 60
    session["account_authentication_methods"] = methods
    session.save()


def _check(page, name, shot, assert_accessible, assert_no_horizontal_scroll) -> None:
    assert_accessible(page)
    assert_no_horizontal_scroll(page)
    assert_touch_targets(page)
    shot(page, name)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_member_downloads_a_full_copy_after_the_password_check(
    page_for, shot, assert_accessible, assert_no_horizontal_scroll, width
):
    member = _member(f"rita{width}")
    page = page_for(member.user, width=width)
    page.goto("/portal/my-information/")
    assert page.get_by_role("heading", name="A full copy of my information").is_visible()
    _check(page, "portal-rights-full-copy", shot, assert_accessible, assert_no_horizontal_scroll)

    _age_browser_session(page, settings.STEP_UP_MINUTES + 1)
    page.get_by_role("button", name="Download as a JSON data file").click()
    page.wait_for_url("**/auth/reauthenticate/**")
    _check(page, "portal-rights-full-copy-stepup", shot, assert_accessible, assert_no_horizontal_scroll)
    page.get_by_label("Password").fill(PASSWORD)
    with page.expect_download() as download_info:
        page.locator("form button[type=submit]").last.click()
    download = download_info.value
    assert download.suggested_filename.startswith("my-information-") and download.suggested_filename.endswith(".json")
    document = json.loads(open(download.path(), encoding="utf-8").read())
    assert document["meta"]["member_number"] == member.member_number
    entry = DisclosureLogEntry.objects.get(basis_kind="member_copy", outcome="released")
    assert entry.member_ids == [member.pk]

    # Within the step-up window the PDF comes straight away.
    page.goto("/portal/my-information/")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download as a PDF document").click()
    assert download_info.value.suggested_filename.endswith(".pdf")
    assert DisclosureLogEntry.objects.filter(basis_kind="member_copy", format="pdf").count() == 1


@pytest.mark.parametrize("width", WIDTHS)
def test_a_correction_request_through_decline_to_a_statement_of_disagreement(
    page_for, shot, assert_accessible, assert_no_horizontal_scroll, width, make_user
):
    member = _member(f"rosa{width}")
    page = page_for(member.user, width=width)
    page.goto("/portal/requests/")
    _check(page, "portal-rights-requests-empty", shot, assert_accessible, assert_no_horizontal_scroll)
    page.get_by_role("link", name="Ask for a correction").first.click()
    page.wait_for_url("**/portal/requests/new/")
    page.get_by_label("What is it about?").select_option(label="Date of birth")
    page.get_by_label("What should the record say, or what went wrong?").fill("My birthday is the 2nd, not the 1st")
    _check(page, "portal-rights-request-new", shot, assert_accessible, assert_no_horizontal_scroll)
    page.get_by_role("button", name="Send").click()
    page.wait_for_url("**/portal/requests/*/")
    assert page.locator("dd strong").inner_text() == "Received"
    request = CorrectionRequest.objects.get(member=member)

    csr = make_user(f"csr{width}", role=roles.CSR)
    correction_request_resolve(
        actor=csr, request=request, status="declined", note="Your birth certificate shows the 1st."
    )
    page.reload()
    assert page.get_by_text("Your birth certificate shows the 1st.").is_visible()
    _check(page, "portal-rights-request-declined", shot, assert_accessible, assert_no_horizontal_scroll)
    page.get_by_label("Your statement of disagreement").fill("The certificate was amended in 1990.")
    page.get_by_role("button", name="Keep my statement with my record").click()
    assert page.get_by_text("Your statement of disagreement is now kept with your record.").is_visible()
    _check(page, "portal-rights-request-disputed", shot, assert_accessible, assert_no_horizontal_scroll)
    request.refresh_from_db()
    assert request.status == CorrectionRequest.Status.DISPUTED
    assert DisagreementStatement.objects.get(member=member).statement == "The certificate was amended in 1990."

    page.goto("/portal/requests/")
    _check(page, "portal-rights-requests", shot, assert_accessible, assert_no_horizontal_scroll)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_member_asks_for_the_membership_list(page_for, shot, assert_accessible, assert_no_horizontal_scroll, width):
    member = _member(f"mona{width}")
    page = page_for(member.user, width=width)
    page.goto("/portal/membership-list/")
    _check(page, "portal-rights-membership-list", shot, assert_accessible, assert_no_horizontal_scroll)
    page.get_by_label("Why do you need the membership list?").fill("A petition for the board election in March")
    page.get_by_role("button", name="Send my request").click()
    assert page.get_by_text("Your request for the membership list was sent to the Privacy Officer.").is_visible()
    assert page.get_by_text("Pending Privacy Officer review").first.is_visible()
    _check(page, "portal-rights-membership-list-sent", shot, assert_accessible, assert_no_horizontal_scroll)
    assert MembershipListRequest.objects.get(requester=member).status == "pending"
    assert User.objects.filter(pk=member.user_id).exists()
