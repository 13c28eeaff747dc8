"""Issue 12, items 1 and 2: the schedule alone sets periods; holds are records with a reason."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.models import Bill
from members import roles
from members import services as member_services
from members.models import AuditEvent, Member
from redflags.models import ReviewItem, RiskAssessment
from retention.models import Category, Hold, RetentionPolicy
from retention.services import (
    retention_hold_place,
    retention_hold_request_release,
    retention_holds_sync,
    retention_policy_ensure_defaults,
    retention_purge_category,
)
from tests.factories import BillFactory, CapitalCreditAllocationFactory, MemberFactory, OpenAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _policies():
    retention_policy_ensure_defaults()


@pytest.fixture
def officer(make_user):
    return make_user("privacy-1", role=roles.PRIVACY_OFFICER)


def _left_three_years_ago_through_the_service(csr) -> Member:
    member = MemberFactory(status=Member.Status.ACTIVE)
    three_years_ago = timezone.localdate() - dt.timedelta(days=3 * 365 + 1)
    return member_services.member_change_status(actor=csr, member=member, status="former", on=three_years_ago)


def test_a_member_who_left_three_years_ago_is_purged_under_a_two_year_policy(make_user):
    """The issue's 'done when': leaving through the service sets no date that overrides the schedule."""
    member = _left_three_years_ago_through_the_service(make_user("csr-1", role=roles.CSR))
    assert RetentionPolicy.objects.get(category=Category.FORMER_MEMBER_IDENTIFIERS).retain_days == 2 * 365

    run = retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)

    member.refresh_from_db()
    assert run.records_destroyed == 1
    assert member.ssn is None and member.tax_id_index == ""


def test_the_same_member_under_a_hold_is_kept(make_user, officer):
    member = _left_three_years_ago_through_the_service(make_user("csr-1", role=roles.CSR))
    retention_hold_place(
        actor=officer, scope=Hold.Scope.MEMBER, member=member, reason="Litigation", legal_reference="2026-CV-118"
    )

    run = retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)

    member.refresh_from_db()
    assert run.records_destroyed == 0
    assert member.ssn is not None and member.tax_id_index
    placed = AuditEvent.objects.get(action="retention.hold_placed")
    assert placed.actor == officer and placed.reason == "Litigation"


def test_a_hold_without_a_reason_is_refused_and_nothing_is_saved(officer):
    member = MemberFactory()
    with pytest.raises(ValidationError) as refused:
        retention_hold_place(actor=officer, scope=Hold.Scope.MEMBER, member=member, reason="   ")
    assert "reason" in refused.value.message_dict
    assert not Hold.objects.exists() and not AuditEvent.objects.filter(action="retention.hold_placed").exists()


def test_a_category_hold_needs_its_dates_and_protects_records_dated_in_its_range(officer):
    with pytest.raises(ValidationError, match="first date"):
        retention_hold_place(
            actor=officer, scope=Hold.Scope.CATEGORY, category=Category.FORMER_MEMBER_IDENTIFIERS, reason="x"
        )
    inside = MemberFactory(status=Member.Status.FORMER, left_on=dt.date(2015, 6, 1))
    outside = MemberFactory(status=Member.Status.FORMER, left_on=dt.date(2014, 6, 1))
    retention_hold_place(
        actor=officer,
        scope=Hold.Scope.CATEGORY,
        category=Category.FORMER_MEMBER_IDENTIFIERS,
        date_from=dt.date(2015, 1, 1),
        date_to=dt.date(2015, 12, 31),
        reason="Class action covering members who left in 2015",
    )
    retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)
    inside.refresh_from_db()
    outside.refresh_from_db()
    assert inside.ssn is not None and outside.ssn is None


def test_a_member_hold_protects_every_category_of_that_member(officer):
    member = MemberFactory(status=Member.Status.FORMER, left_on=dt.date(2010, 1, 1))
    account = OpenAccountFactory(member=member)
    bill = BillFactory(account=account, issued_on=dt.date(2010, 1, 1), status=Bill.Status.PAID)
    retention_hold_place(actor=officer, scope=Hold.Scope.ACCOUNT, account=account, reason="Billing dispute")
    for category in (Category.FORMER_MEMBER_IDENTIFIERS, Category.BILLS):
        assert retention_purge_category(category=category).records_destroyed == 0
    assert Bill.objects.filter(pk=bill.pk).exists()


class TestAutomaticHolds:
    def test_unretired_capital_credits_hold_the_member_with_the_reason_shown(self):
        member = MemberFactory(status=Member.Status.FORMER, left_on=dt.date(2015, 1, 1))
        CapitalCreditAllocationFactory(member=member)  # allocated, not yet retired

        run = retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)

        hold = Hold.objects.get(member=member)
        assert hold.kind == Hold.Kind.CAPITAL_CREDITS and "TIN" in hold.reason
        assert run.records_destroyed == 0

    def test_an_open_balance_holds_the_account_and_ends_when_paid(self):
        member = MemberFactory(status=Member.Status.FORMER, left_on=dt.date(2015, 1, 1))
        bill = BillFactory(account=OpenAccountFactory(member=member), status=Bill.Status.OPEN)
        retention_holds_sync()
        hold = Hold.objects.get(kind=Hold.Kind.OPEN_BALANCE)
        assert hold.account_id == bill.account_id and hold.is_active
        assert retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS).records_destroyed == 0

        Bill.objects.filter(pk=bill.pk).update(status=Bill.Status.PAID)
        assert retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS).records_destroyed == 1
        hold.refresh_from_db()
        assert not hold.is_active
        assert (
            AuditEvent.objects.filter(action="retention.automatic_holds_synced", object_id="open_balance").count() == 2
        )

    def test_an_open_red_flags_review_item_holds_the_member(self):
        member = MemberFactory(status=Member.Status.FORMER, left_on=dt.date(2015, 1, 1))
        assessment = RiskAssessment.objects.create(
            event_name="test", member=member, program_version="t", warn_threshold=1, hold_threshold=2
        )
        ReviewItem.objects.create(assessment=assessment, member=member, outcome="hold")
        assert retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS).records_destroyed == 0
        assert Hold.objects.get(member=member).kind == Hold.Kind.REDFLAGS_REVIEW

    def test_an_automatic_hold_cannot_be_released_by_hand(self, officer):
        member = MemberFactory(status=Member.Status.FORMER, left_on=dt.date(2015, 1, 1))
        CapitalCreditAllocationFactory(member=member, retired_amount=Decimal("0"))
        retention_holds_sync()
        with pytest.raises(ValidationError, match="ends by itself"):
            retention_hold_request_release(actor=officer, hold=Hold.objects.get(member=member), reason="x")


class TestAdmin:
    def test_the_privacy_officer_places_a_hold_in_the_admin_and_sees_it_on_the_member_page(self, client, officer):
        member = MemberFactory()
        client.force_login(officer)
        response = client.post(
            "/admin/retention/hold/add/",
            {"scope": "member", "member": member.pk, "reason": "Subpoena 2026-44", "legal_reference": "2026-44"},
        )
        assert response.status_code == 302, response.content[:2000]
        hold = Hold.objects.get()
        assert hold.placed_by == officer
        page = client.get(f"/admin/members/member/{member.pk}/change/")
        assert page.status_code == 200 and b"Subpoena 2026-44" in page.content

    def test_a_hold_without_reason_in_the_admin_is_refused(self, client, officer):
        client.force_login(officer)
        response = client.post(
            "/admin/retention/hold/add/", {"scope": "member", "member": MemberFactory().pk, "reason": ""}
        )
        assert response.status_code == 200 and b"reason" in response.content.lower()
        assert not Hold.objects.exists()

    def test_a_csr_sees_no_holds_and_cannot_place_one(self, client, make_user):
        member = MemberFactory()
        Hold.objects.create(scope=Hold.Scope.MEMBER, member=member, reason="Secret litigation")
        client.force_login(make_user("csr-2", role=roles.CSR))
        assert client.get("/admin/retention/hold/").status_code == 403
        assert (
            client.post(
                "/admin/retention/hold/add/", {"scope": "member", "member": member.pk, "reason": "x"}
            ).status_code
            == 403
        )
        assert b"Secret litigation" not in client.get(f"/admin/members/member/{member.pk}/change/").content

    def test_an_auditor_reads_holds_but_cannot_place_them(self, client, auditor):
        client.force_login(auditor)
        assert client.get("/admin/retention/hold/").status_code == 200
        assert client.post("/admin/retention/hold/add/", {"scope": "member", "reason": "x"}).status_code == 403

    def test_anonymous_is_sent_to_login(self, client):
        assert client.get("/admin/retention/hold/").status_code == 302
