"""Issue 12, item 4: every category a co-op holds goes after its period (and holds still protect it)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import Bill, Payment
from disclosures.models import Consent, Recipient
from members import roles
from members.models import Member, User
from portal.models import CorrectionRequest
from redflags.models import Flag, ObservedEvent, RiskAssessment, Rule, RuleVersion
from redflags.selectors import annual_review_report
from retention.models import Category, Hold
from retention.services import retention_policy_ensure_defaults, retention_purge_category
from tests.factories import BillFactory, MemberFactory, OpenAccountFactory, PaymentFactory

pytestmark = pytest.mark.django_db

LONG_AGO = timezone.now() - dt.timedelta(days=12 * 365)


@pytest.fixture(autouse=True)
def _policies():
    retention_policy_ensure_defaults()


def test_portal_logins_of_purged_former_members_are_deactivated_and_stripped(make_user):
    user = make_user("jsmith", first_name="Jane", last_name="Smith", email="jane@example.com")
    Token.objects.create(user=user)
    member = MemberFactory(status=Member.Status.FORMER, left_on=dt.date(2015, 1, 1), user=user)
    active_user = make_user("still-here", email="x@example.com")
    MemberFactory(status=Member.Status.ACTIVE, user=active_user)

    retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)
    run = retention_purge_category(category=Category.FORMER_MEMBER_LOGINS)

    user.refresh_from_db()
    assert run.records_destroyed == 1
    assert (user.is_active, user.email, user.first_name, user.last_name) == (False, "", "", "")
    assert user.username == f"purged-{user.pk}" and not user.has_usable_password()
    assert not Token.objects.filter(user=user).exists()
    assert User.objects.get(pk=active_user.pk).is_active
    assert Member.objects.get(pk=member.pk).user_id == user.pk  # the link stays; the login is dead


def test_resolved_correction_requests_go_after_their_period_open_ones_never(make_user):
    member = MemberFactory()
    staff = make_user("csr-1", role=roles.CSR)
    old = CorrectionRequest.objects.create(
        member=member,
        topic="identifiers",
        requested_correction="SSN should be 123-45-6789",
        submitted_by=staff,
        status="corrected",
        resolved_at=LONG_AGO,
    )
    still_open = CorrectionRequest.objects.create(
        member=member, topic="identifiers", requested_correction="fix my DOB", submitted_by=staff
    )  # fmt: skip
    CorrectionRequest.objects.filter(pk=still_open.pk).update(submitted_at=LONG_AGO)

    run = retention_purge_category(category=Category.CORRECTION_REQUESTS)

    assert run.records_destroyed == 1
    assert not CorrectionRequest.objects.filter(pk=old.pk).exists()
    assert CorrectionRequest.objects.filter(pk=still_open.pk).exists()


def test_revoked_and_expired_consents_go_after_the_evidence_period_live_ones_stay():
    member = MemberFactory()
    recipient = Recipient.objects.create(name="Solar Co", kind=Recipient.Kind.NON_AFFILIATED)

    def consent(**dates) -> Consent:
        return Consent.objects.create(
            member=member, recipient=recipient, categories=["A1_contact"], purpose="marketing", channel="written",
            granted_at=LONG_AGO - dt.timedelta(days=10), **dates,
        )  # fmt: skip

    revoked, expired = consent(revoked_at=LONG_AGO), consent(expires_at=LONG_AGO)
    live = consent()
    recently_revoked = consent(revoked_at=timezone.now() - dt.timedelta(days=30))

    run = retention_purge_category(category=Category.LAPSED_CONSENTS)

    assert run.records_destroyed == 2
    assert set(Consent.objects.values_list("pk", flat=True)) == {live.pk, recently_revoked.pk}
    assert not Consent.objects.filter(pk__in=[revoked.pk, expired.pk]).exists()


def test_bills_and_payments_go_after_the_financial_records_period_unless_held(make_user):
    account = OpenAccountFactory()
    old_bill = BillFactory(account=account, issued_on=dt.date(2012, 1, 5), status=Bill.Status.PAID)
    old_payment = PaymentFactory(account=account, bill=old_bill, received_at=LONG_AGO)
    new_bill = BillFactory(account=account, status=Bill.Status.PAID)
    held_account = OpenAccountFactory()
    held_bill = BillFactory(account=held_account, issued_on=dt.date(2012, 1, 5), status=Bill.Status.PAID)
    Hold.objects.create(scope=Hold.Scope.ACCOUNT, account=held_account, reason="Audit by the state commission")

    assert retention_purge_category(category=Category.PAYMENTS).records_destroyed == 1
    assert retention_purge_category(category=Category.BILLS).records_destroyed == 1

    assert not Payment.objects.filter(pk=old_payment.pk).exists()
    assert set(Bill.objects.values_list("pk", flat=True)) == {new_bill.pk, held_bill.pk}


def test_red_flags_evidence_goes_but_the_annual_review_counts_stay():
    member = MemberFactory()
    rule = Rule.objects.create(code="T1", category="A", title="Test rule", wording="w")
    version = RuleVersion.objects.create(rule=rule, number=1, weight=10)
    event = ObservedEvent.objects.create(
        event="member.address_changed", member_id=member.pk, old_indexes={"address": "abc"}, payload={"x": 1},
        occurred_at=LONG_AGO,
    )  # fmt: skip
    assessment = RiskAssessment.objects.create(
        event=event, event_name=event.event, member=member, program_version="t", warn_threshold=1,
        hold_threshold=2, fired=[{"code": "T1", "version": 1, "weight": 10, "evidence": ["address matches"]}],
        created_at=LONG_AGO,
    )  # fmt: skip
    Flag.objects.create(
        assessment=assessment, rule_version=version, code="T1", category="A", weight=10,
        evidence="address matches a known fraud address", created_at=LONG_AGO,
    )  # fmt: skip
    before = annual_review_report(year=LONG_AGO.year)

    run = retention_purge_category(category=Category.REDFLAGS_EVIDENCE)

    assessment.refresh_from_db()
    event.refresh_from_db()
    assert run.records_destroyed == 1
    assert assessment.fired == [] and Flag.objects.get().evidence == ""
    assert (event.old_indexes, event.payload) == ({}, {})
    after = annual_review_report(year=LONG_AGO.year)
    assert after["flags_total"] == before["flags_total"] == 1
    assert after["flags_by_type"] == before["flags_by_type"]
