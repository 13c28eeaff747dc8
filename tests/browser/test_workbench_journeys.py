"""Issue 15.8: the staff workbench in a real browser at 1366 px, as a CSR, a Red Flag Analyst and an
auditor would use it: what is on the screen, that it fits the screen, and screenshots for review."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts import services as account_services
from members import roles
from tests import factories

pytestmark = pytest.mark.browser


def _staff(make_user, username: str, role: str):
    return make_user(username, role=role, first_name=username.split("-")[0].capitalize(), last_name="Tester")


def _member_with_accounts():
    member = factories.MemberFactory(legal_name="Ada Whitfield")
    account = factories.OpenAccountFactory(member=member, account_number="A0099001")
    factories.BillFactory(account=account, amount_due=Decimal("112.40"))
    factories.PaymentFactory(account=account, amount=Decimal("112.40"))
    for n in range(5):
        factories.MemberFactory(legal_name=f"Other Person {n}")
    return member


def test_csr_searches_a_member_opens_the_page_at_a_glance_and_is_told_why_no_reveal(
    page_for, make_user, shot, assert_no_horizontal_scroll
):
    member = _member_with_accounts()
    csr = _staff(make_user, "casey-csr", roles.CSR)
    page = page_for(csr)

    page.goto("/admin/members/member/")
    page.fill("#searchbar", "whitfield")
    page.click("#changelist-search input[type=submit]")
    page.wait_for_load_state()
    results = page.locator("#result_list tbody tr")
    assert results.count() == 1
    assert "Ada Whitfield" in results.first.inner_text()

    results.first.locator("a").first.click()
    page.wait_for_load_state()
    glance = page.locator("#member-at-a-glance")
    assert glance.is_visible()
    text = glance.inner_text()
    assert "A0099001" in text and "balance due" in text.lower() and "$0.00" in text
    assert "recent bills and payments" in text.lower()
    explanation = page.locator("#reveal-not-allowed")
    assert explanation.is_visible()
    assert "may not reveal full identifiers" in explanation.inner_text()
    assert roles.PRIVACY_OFFICER in explanation.inner_text()
    assert page.get_by_role("link", name="Reveal…").count() == 0
    assert member.ssn not in page.content()
    assert_no_horizontal_scroll(page)
    shot(page, "workbench-member-page")


def test_analyst_works_the_review_queue_with_confirmation_and_a_required_reason(
    page_for, make_user, shot, assert_no_horizontal_scroll
):
    from redflags import services as redflags_services
    from redflags.models import ReviewItem

    opener = _staff(make_user, "olive-csr", roles.CSR)
    first = factories.MemberFactory()
    account = account_services.account_open(
        actor=opener, member=factories.MemberFactory(ssn=first.ssn), checklist=factories.VERIFIED_CHECKLIST
    )
    assert ReviewItem.objects.filter(account=account, status="open").exists()
    analyst = _staff(make_user, "ana-analyst", roles.RED_FLAG_ANALYST)
    redflags_services.training_acknowledge(user=analyst, trained_by=None)
    page = page_for(analyst)

    page.goto("/admin/redflags/reviewitem/")
    respond = page.get_by_role("link", name="Respond").first
    assert respond.is_visible()
    box = respond.bounding_box()
    shot(page, "workbench-review-queue")
    assert box is not None and box["x"] + box["width"] <= 1366  # on screen
    # ... and not scrolled out of the results box (the admin clips a wide table in a scrolling box).
    results = page.locator("#changelist .results")
    assert results.evaluate("box => box.scrollWidth <= box.clientWidth"), "the queue's table overflows its box"
    assert_no_horizontal_scroll(page)
    shot(page, "workbench-review-queue")

    respond.click()
    page.wait_for_load_state()
    assert page.locator("#id_kind").input_value() == ""  # nothing preselected
    page.select_option("#id_kind", "do_not_open")
    page.click("input[type=submit][value='Record response']")
    page.wait_for_load_state()
    assert "Say why the account is not opened." in page.content()  # the reason is required

    page.select_option("#id_kind", "do_not_open")
    page.fill("#id_notes", "The applicant could not show identification at the counter.")
    page.click("input[type=submit][value='Record response']")
    page.wait_for_load_state()
    assert page.get_by_text("This cannot be undone").is_visible()
    account.refresh_from_db()
    assert account.status == "pending"  # nothing written before the confirmation

    page.click("input[type=submit][value='Yes, record this response']")
    page.wait_for_load_state()
    message = page.locator(".messagelist").inner_text()
    assert f"Account {account.account_number} is now denied" in message and "resolved" in message
    account.refresh_from_db()
    assert account.status == "denied"


def test_auditor_filters_the_disclosure_log_by_member_number_and_finds_the_pdf_export(
    page_for, make_user, shot, assert_no_horizontal_scroll
):
    from django.db import transaction

    from disclosures.chain import chain_append

    wanted = factories.MemberFactory(member_number="M0000501")
    other = factories.MemberFactory(member_number="M0000502")
    with transaction.atomic():
        for member, recipient in ((wanted, "Prairie Solar Partners"), (other, "County Sheriff")):
            chain_append(
                actor=None,
                actor_label="privacy-pat",
                outcome="released",
                recipient_label=recipient,
                basis_kind="legal_process",
                basis_ref="legal_basis:7 legal_process subpoena 2026-CV-118 (Sangamon County Circuit Court)",
                purpose="legal_audit",
                member_ids=[member.pk],
                categories=["A1_contact", "A2_billing", "A3_usage", "A4_capital"],
                format="csv",
                row_count=1,
                file_sha256="ab" * 32,
            )
    auditor = _staff(make_user, "audrey-auditor", roles.AUDITOR)
    page = page_for(auditor)

    page.goto("/audit/disclosures/")
    assert page.locator("#disclosure-log tbody tr").count() == 2
    page.fill("input[name=member]", "M0000501")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    rows = page.locator("#disclosure-log tbody tr")
    assert rows.count() == 1
    assert "Prairie Solar Partners" in rows.first.inner_text()
    assert "A.1 Contact information" in rows.first.inner_text()
    assert "legal_basis:7" not in page.content()
    pdf = page.get_by_role("link", name="Download PDF")
    assert pdf.is_visible() and "member=M0000501" in (pdf.get_attribute("href") or "")
    assert_no_horizontal_scroll(page)
    shot(page, "workbench-disclosure-log")

    # On a phone the page keeps its width; the eight-column log scrolls sideways in its own box.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_load_state()
    assert_no_horizontal_scroll(page)
    entries = page.get_by_role("region", name="Log entries (scrolls sideways on a narrow screen)")
    assert entries.evaluate("box => box.scrollWidth > box.clientWidth"), "the log's table fits: nothing to scroll"
    shot(page, "workbench-disclosure-log-phone")


def test_csr_marks_a_member_former_only_after_confirming_with_a_reason(page_for, make_user, shot):
    from members.models import Member

    member = factories.MemberFactory(legal_name="Ada Whitfield", status=Member.Status.ACTIVE)
    page = page_for(_staff(make_user, "cora-csr", roles.CSR))

    page.goto("/admin/members/member/?q=whitfield")
    page.locator(f"input[name=_selected_action][value='{member.pk}']").check()
    page.select_option("select[name=action]", "make_former")
    page.click("button[name=index]")
    page.wait_for_load_state()
    assert page.get_by_text("These members will leave the co-op").is_visible()
    assert "Ada Whitfield" in page.locator(".confirm-box").inner_text()
    shot(page, "workbench-mark-former-confirm")
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE  # nothing written before the confirmation

    page.fill("#id_action_reason", "Moved out of the service area")
    page.click("input[type=submit][value='Yes, mark 1 member former']")
    page.wait_for_load_state()
    assert "1 changed" in page.locator(".messagelist").inner_text()
    member.refresh_from_db()
    assert member.status == Member.Status.FORMER


def test_csr_finds_a_caller_by_phone_on_a_phone_sized_screen_and_opens_the_record(
    page_for, make_user, shot, assert_no_horizontal_scroll, assert_accessible
):
    """Find a member (members/find.py): typed, posted, the best match first and masked, one tap to the record."""
    member = _member_with_accounts()
    member.phone = "+12175550142"
    member.save(update_fields=["phone"])
    csr = _staff(make_user, "casey-csr", roles.CSR)
    for width in (1366, 390):
        page = page_for(csr, width=width)
        page.goto("/admin/")
        page.get_by_role("link", name="Find a member").click()
        page.get_by_label("Search").fill("(217) 555-0142")
        page.get_by_role("button", name="Find").click()
        page.wait_for_load_state()
        assert "_qt=" in page.url and "0142" not in page.url  # the term was posted, not put in the URL
        rows = page.locator("table tbody tr")
        assert rows.count() == 1
        assert "Ada Whitfield" in rows.first.inner_text() and member.member_number in rows.first.inner_text()
        assert "1 member matches" in page.locator("main").inner_text()
        assert_no_horizontal_scroll(page)
        assert_accessible(page)
        shot(page, "workbench-find-a-member")
        page.get_by_role("link", name=member.member_number).click()
        page.wait_for_load_state()
        assert f"/admin/members/member/{member.pk}/change/" in page.url
