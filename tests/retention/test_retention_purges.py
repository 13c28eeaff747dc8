from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from accounts.models import Account, Premise, ReturnedMail, StatementNotice
from members import roles
from members.models import AuditEvent, FinancialAccount, Member
from retention.models import Category, Hold, PendingChange, PurgeRun, RetentionPolicy
from retention.services import (
    retention_policy_ensure_defaults,
    retention_policy_update,
    retention_purge_category,
    retention_run_due,
)
from tests.factories import (
    AccountFactory,
    CapitalCreditAllocationFactory,
    FinancialAccountFactory,
    MemberFactory,
    PremiseFactory,
    ReturnedMailFactory,
    StatementNoticeFactory,
)

pytestmark = pytest.mark.django_db

LONG_AGO = dt.date(2015, 1, 1)


@pytest.fixture(autouse=True)
def _policies():
    retention_policy_ensure_defaults()


def _former(**extra) -> Member:
    return MemberFactory(status=Member.Status.FORMER, left_on=LONG_AGO, **extra)


def test_a_former_members_identifiers_are_destroyed_after_the_retention_period():
    member = _former()
    FinancialAccountFactory(member=member)
    CapitalCreditAllocationFactory(member=member, retired_amount=Decimal("84.00"))  # paid out: no TIN needed
    run = retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)
    member.refresh_from_db()
    assert run.status == PurgeRun.Status.DONE and run.records_destroyed == 1
    assert (member.ssn, member.date_of_birth, member.drivers_licence_number) == (None, None, None)
    assert member.tax_id_index == "" and member.ssn_last4 == "" and member.licence_index == ""
    assert not FinancialAccount.objects.filter(member=member).exists()


def test_what_a_former_member_keeps_name_address_and_capital_credits():
    member = _former()
    CapitalCreditAllocationFactory(member=member, retired_amount=Decimal("84.00"))
    name, line1 = member.legal_name, member.mailing_line1
    retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)
    member.refresh_from_db()
    assert (member.legal_name, member.mailing_line1) == (name, line1)
    assert member.capital_credits.count() == 1


def test_the_ciphertext_is_gone_from_the_database_not_just_hidden():
    member = _former()
    retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)
    with connection.cursor() as cursor:
        cursor.execute("SELECT ssn, date_of_birth FROM members_member WHERE id = %s", [member.pk])
        assert cursor.fetchone() == (None, None)


def test_recent_former_members_active_members_and_held_members_are_kept():
    recent = MemberFactory(status=Member.Status.FORMER, left_on=timezone.localdate() - dt.timedelta(days=30))
    active = MemberFactory(status=Member.Status.ACTIVE)
    held = _former()
    Hold.objects.create(scope=Hold.Scope.MEMBER, member=held, reason="litigation", legal_reference="2026-CV-1")
    run = retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)
    assert run.records_destroyed == 0
    for member in (recent, active, held):
        member.refresh_from_db()
        assert member.ssn is not None and member.tax_id_index


def test_every_batch_leaves_an_audit_row_with_ids_and_field_names_but_no_values():
    members = [_former() for _ in range(5)]
    run = retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS, batch_size=2)
    assert run.batches == 3 and run.records_destroyed == 5
    batches = AuditEvent.objects.filter(action="retention.purge_batch", object_id=str(run.pk))
    assert batches.count() == 3
    assert sorted(i for event in batches for i in event.detail["ids"]) == sorted(m.pk for m in members)
    assert "ssn" in batches.first().fields
    assert AuditEvent.objects.filter(action="retention.purge_finished", object_id=str(run.pk)).exists()


def test_running_a_purge_twice_destroys_nothing_more():
    _former()
    retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)
    second = retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)
    assert second.records_destroyed == 0 and second.status == PurgeRun.Status.DONE


def test_denied_applicants_lose_their_identifiers_but_an_applicant_still_being_served_does_not():
    denied = MemberFactory(status=Member.Status.APPLICANT)
    account = AccountFactory(member=denied, status=Account.Status.DENIED)
    Account.objects.filter(pk=account.pk).update(updated_at=timezone.now() - dt.timedelta(days=3 * 365))
    pending = MemberFactory(status=Member.Status.APPLICANT)
    AccountFactory(member=pending, status=Account.Status.DENIED)
    retention_purge_category(category=Category.DENIED_APPLICANT_IDENTIFIERS)
    denied.refresh_from_db()
    pending.refresh_from_db()
    assert denied.ssn is None and pending.ssn is not None


def test_inactive_bank_accounts_are_deleted_after_their_period_and_active_ones_kept():
    old = FinancialAccountFactory(is_active=False, removed_at=timezone.now() - dt.timedelta(days=400))
    active = FinancialAccountFactory()
    run = retention_purge_category(category=Category.INACTIVE_FINANCIAL_ACCOUNTS)
    assert run.records_destroyed == 1
    assert not FinancialAccount.objects.filter(pk=old.pk).exists()
    assert FinancialAccount.objects.filter(pk=active.pk).exists()


def test_gate_codes_of_vacant_premises_are_cleared_but_served_premises_keep_theirs():
    vacant = PremiseFactory(gate_code="4417", dog_warning=True)
    served = PremiseFactory(gate_code="9120")
    AccountFactory(premise=served, status=Account.Status.OPEN)
    Premise.objects.filter(pk__in=[vacant.pk, served.pk]).update(updated_at=timezone.now() - dt.timedelta(days=800))
    retention_purge_category(category=Category.VACANT_PREMISE_FIELD_NOTES)
    vacant.refresh_from_db()
    served.refresh_from_db()
    assert vacant.gate_code is None and vacant.dog_warning is False
    assert served.gate_code == "9120"


def test_old_returned_mail_and_statement_notices_are_deleted():
    old_mail = ReturnedMailFactory(returned_on=LONG_AGO)
    new_mail = ReturnedMailFactory(returned_on=timezone.localdate())
    old_notice = StatementNoticeFactory(reported_on=LONG_AGO)
    retention_purge_category(category=Category.RETURNED_MAIL)
    retention_purge_category(category=Category.STATEMENT_NOTICES)
    assert not ReturnedMail.objects.filter(pk=old_mail.pk).exists()
    assert ReturnedMail.objects.filter(pk=new_mail.pk).exists()
    assert not StatementNotice.objects.filter(pk=old_notice.pk).exists()


def test_a_disabled_policy_is_not_run_nightly():
    _former()
    RetentionPolicy.objects.filter(category=Category.FORMER_MEMBER_IDENTIFIERS).update(enabled=False)
    runs = retention_run_due()
    assert Category.FORMER_MEMBER_IDENTIFIERS not in {run.category for run in runs}
    assert Member.objects.filter(ssn__isnull=False).exists()


def test_changing_a_schedule_needs_a_reason_and_is_audited(make_user):
    officer = make_user("privacy-1", role=roles.PRIVACY_OFFICER)
    policy = RetentionPolicy.objects.get(category=Category.RETURNED_MAIL)
    with pytest.raises(ValidationError, match="reason"):
        retention_policy_update(policy=policy, retain_days=10, enabled=True, basis="x", actor=officer, reason=" ")
    policy.refresh_from_db()
    assert policy.retain_days == 3 * 365
    retention_policy_update(
        policy=policy, retain_days=1500, enabled=True, basis="Policy 105 §4", actor=officer, reason="board decision"
    )
    event = AuditEvent.objects.get(action="retention.policy_changed")
    assert event.actor == officer and "retain_days" in event.fields


def test_an_unknown_category_is_refused():
    with pytest.raises(ValueError, match="unknown retention category"):
        retention_purge_category(category="everything")


class TestAdmin:
    def test_an_auditor_can_read_purge_runs_but_not_change_policies(self, client, make_user):
        retention_purge_category(category=Category.RETURNED_MAIL)
        client.force_login(make_user("aud", role=roles.AUDITOR))
        assert client.get("/admin/retention/purgerun/").status_code == 200
        policy = RetentionPolicy.objects.get(category=Category.RETURNED_MAIL)
        response = client.post(
            f"/admin/retention/retentionpolicy/{policy.pk}/change/",
            {"retain_days": 1, "enabled": "on", "basis": "x", "reason": "x"},
        )
        assert response.status_code == 403
        policy.refresh_from_db()
        assert policy.retain_days == 3 * 365

    def test_a_csr_cannot_see_retention_at_all(self, client, make_user):
        client.force_login(make_user("csr", role=roles.CSR))
        assert client.get("/admin/retention/purgerun/").status_code == 403
        assert client.get("/admin/retention/retentionpolicy/").status_code == 403

    def test_anonymous_is_sent_to_login(self, client):
        assert client.get("/admin/retention/purgerun/").status_code == 302

    def test_the_privacy_officer_changes_a_schedule_through_the_service(self, client, make_user):
        client.force_login(make_user("po", role=roles.PRIVACY_OFFICER))
        policy = RetentionPolicy.objects.get(category=Category.RETURNED_MAIL)
        response = client.post(
            f"/admin/retention/retentionpolicy/{policy.pk}/change/",
            {"retain_days": 2000, "enabled": "on", "basis": "Policy 105", "reason": "longer per counsel"},
        )
        assert response.status_code == 302
        policy.refresh_from_db()
        assert policy.retain_days == 2000
        assert AuditEvent.objects.filter(action="retention.policy_changed", reason="longer per counsel").exists()

    def test_a_shorter_schedule_from_the_admin_waits_for_a_second_privacy_officer(self, client, make_user):
        client.force_login(make_user("po", role=roles.PRIVACY_OFFICER))
        policy = RetentionPolicy.objects.get(category=Category.RETURNED_MAIL)
        response = client.post(
            f"/admin/retention/retentionpolicy/{policy.pk}/change/",
            {"retain_days": 400, "enabled": "on", "basis": "Policy 105", "reason": "shorter per counsel"},
        )
        assert response.status_code == 302
        policy.refresh_from_db()
        assert policy.retain_days == 3 * 365
        change = PendingChange.objects.get()
        assert (change.kind, change.retain_days, change.status) == ("shorten_period", 400, "pending")
