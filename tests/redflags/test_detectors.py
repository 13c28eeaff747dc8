"""Every Red Flag of the program (A1-4, B1-8, C1-8, D) and the CRA category: a positive and a negative.

Openings go through the registry's ``account_open`` (so the account_opening receiver scores them);
changes go through the registry's services and are scored after commit.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Account
from members import services as member_services
from redflags import context, detectors, engine, events, services
from redflags.models import ConsumerReportAlert, KnownFraudEntry, RiskAssessment, SecurityIncident
from tests.factories import BillFactory, MemberFactory, OpenAccountFactory, PaymentFactory

pytestmark = pytest.mark.django_db


VERIFIED = {"identity_document_reviewed": True, "documents_seen": ["drivers_licence"]}


def open_account(member, actor, **checklist) -> Account:
    # A member with an open "Red Flag Exists" item (a notice, a CRA alert) needs the clerk's
    # acknowledgement to open another account (members.guards); ignored when there is none.
    return account_services.account_open(
        actor=actor, member=member, checklist={**VERIFIED, **checklist}, acknowledgement="identity checked in person"
    )


def opening_codes(account) -> list[str]:
    return [item["code"] for item in RiskAssessment.objects.get(account=account, event_name=events.OPENING).fired]


def latest(event_name: str) -> RiskAssessment:
    return RiskAssessment.objects.filter(event_name=event_name).latest("id")


def codes(assessment: RiskAssessment) -> list[str]:
    return [item["code"] for item in assessment.fired]


# --- A. Suspicious documents (checklist at opening) ------------------------------------------


@pytest.mark.parametrize(
    ("item", "code"),
    [
        ("document_appears_forged", "A1_FORGED_ID"),
        ("photo_or_description_mismatch", "A2_PHOTO_MISMATCH"),
        ("other_documents_inconsistent", "A3_DOCUMENTS_INCONSISTENT"),
        ("application_altered", "A4_APPLICATION_ALTERED"),
        ("inconsistent_with_other_sources", "B1_INCONSISTENT_WITH_SOURCES"),
        ("ssn_issued_before_birth", "B2_INCONSISTENT_WITH_APPLICANT"),
        ("address_appears_fictitious", "B4_CONSISTENT_WITH_FRAUD"),
        ("inconsistent_with_file", "B8_INCONSISTENT_WITH_FILE"),
    ],
)
def test_a_checklist_observation_fires_its_red_flag_and_queues_the_account(csr, item, code):
    account = open_account(MemberFactory(), csr, identity_document_reviewed=True, **{item: True})
    assert code in opening_codes(account)
    assert account.red_flag_warning is True


def test_a_clean_checklist_fires_no_checklist_flag(csr):
    account = open_account(MemberFactory(), csr, identity_document_reviewed=True, identifying_information_obtained=True)
    assert opening_codes(account) == []
    assert account.status == Account.Status.OPEN and not account.red_flag_warning and not account.on_hold


def test_a_photo_mismatch_holds_the_opening(csr):
    account = open_account(MemberFactory(), csr, photo_or_description_mismatch=True)
    assert account.status == Account.Status.PENDING and account.on_hold


def test_the_checklist_is_kept_with_the_account(csr):
    account = open_account(MemberFactory(), csr, identity_document_reviewed=True, customer_contacted_independently=True)
    assert account.redflags_checklist.customer_contacted_independently is True
    assert account.redflags_checklist.recorded_by == csr


# --- B2 stated values ------------------------------------------------------------------------


def test_b2_fires_when_the_stated_birth_date_differs(csr):
    account = open_account(MemberFactory(), csr, stated_date_of_birth_matches=False)
    assessment = RiskAssessment.objects.get(account=account)
    assert "B2_INCONSISTENT_WITH_APPLICANT" in codes(assessment)
    assert "birth date" in assessment.evidence_text


def test_b2_does_not_fire_when_stated_values_match(csr):
    account = open_account(MemberFactory(), csr, stated_date_of_birth_matches=True, stated_ssn_last4_matches=True)
    assert "B2_INCONSISTENT_WITH_APPLICANT" not in opening_codes(account)


# --- B3 known fraud list (blind index) -------------------------------------------------------


def test_b3_fires_when_the_phone_is_on_the_fraud_list(csr, analyst):
    member = MemberFactory()
    services.fraud_entry_add(
        kind="phone",
        value=member.phone,
        listing=KnownFraudEntry.Listing.FRAUDULENT_APPLICATION,
        source="case 2026-04",
        actor=analyst,
    )
    account = open_account(member, csr)
    assessment = RiskAssessment.objects.get(account=account)
    assert "B3_KNOWN_FRAUD" in codes(assessment)
    assert "phone matches known-fraud list entry" in assessment.evidence_text
    assert member.phone not in assessment.evidence_text
    assert account.on_hold


def test_b3_does_not_fire_for_someone_else_on_the_fraud_list(csr, analyst):
    other = MemberFactory()
    services.fraud_entry_add(
        kind="phone",
        value=other.phone,
        listing=KnownFraudEntry.Listing.FRAUDULENT_APPLICATION,
        source="case 2026-04",
        actor=analyst,
    )
    assert "B3_KNOWN_FRAUD" not in opening_codes(open_account(MemberFactory(), csr))


def test_b3_ignores_a_blind_index_collision_with_a_different_value(csr, analyst):
    member = MemberFactory()
    entry = services.fraud_entry_add(
        kind="phone",
        value="+12175550999",
        listing=KnownFraudEntry.Listing.FRAUDULENT_APPLICATION,
        source="case 7",
        actor=analyst,
    )
    KnownFraudEntry.objects.filter(pk=entry.pk).update(
        index_value=member.phone_index
    )  # same 16-bit index, different number
    assert "B3_KNOWN_FRAUD" not in opening_codes(open_account(member, csr))


def test_b3_fires_on_a_change_to_a_fraud_listed_ssn(csr, analyst, django_capture_on_commit_callbacks):
    member = MemberFactory()
    services.fraud_entry_add(
        kind="tax_id",
        value="123-55-0101",
        listing=KnownFraudEntry.Listing.FRAUDULENT_APPLICATION,
        source="case 9",
        actor=analyst,
    )
    with django_capture_on_commit_callbacks(execute=True):
        member_services.member_change_identifiers(actor=csr, member=member, ssn="123550101", reason="corrected")
    assert "B3_KNOWN_FRAUD" in codes(latest("member.identifiers_changed"))


def test_the_fraud_list_keeps_no_readable_value(analyst):
    entry = services.fraud_entry_add(
        kind="tax_id",
        value="123-55-0101",
        listing=KnownFraudEntry.Listing.FRAUDULENT_APPLICATION,
        source="case 9",
        actor=analyst,
    )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT index_value, value::text FROM redflags_knownfraudentry WHERE id = %s", [entry.pk])
        index_value, stored = cursor.fetchone()
    assert "123550101" not in stored and "0101" not in index_value


# --- B4 consistent with fraud ----------------------------------------------------------------


def test_b4_fires_for_an_address_on_the_fictitious_list(csr, analyst):
    member = MemberFactory()
    address = (
        member.mailing_line1,
        member.mailing_line2,
        member.mailing_city,
        member.mailing_state,
        member.mailing_postal_code,
    )
    services.fraud_entry_add(
        kind="address",
        value=address,
        listing=KnownFraudEntry.Listing.FICTITIOUS,
        source="vacant lot per county",
        actor=analyst,
    )
    assert "B4_CONSISTENT_WITH_FRAUD" in opening_codes(open_account(member, csr))


def test_b4_fires_for_an_invalid_phone_number(csr):
    account = open_account(MemberFactory(phone="+1217", phone_index=""), csr)
    assert "B4_CONSISTENT_WITH_FRAUD" in opening_codes(account)


def test_b4_does_not_fire_for_a_valid_phone_and_real_address(csr):
    assert "B4_CONSISTENT_WITH_FRAUD" not in opening_codes(open_account(MemberFactory(), csr))


# --- B5 shared SSN and B6 households ---------------------------------------------------------


def test_b5_an_ssn_shared_with_another_member_holds_the_opening(csr):
    first = MemberFactory(ssn="123456543")
    second = MemberFactory(ssn=first.ssn)
    account = open_account(second, csr)
    assessment = RiskAssessment.objects.get(account=account)
    assert "B5_SSN_SHARED" in codes(assessment)
    assert f"SSN matches member {first.member_number}" in assessment.evidence_text
    leaked = "123456543" in assessment.evidence_text or "6543" in assessment.evidence_text
    assert not leaked
    assert account.on_hold and account.status == Account.Status.PENDING and account.red_flag_warning
    assert assessment.review_item.outcome == "hold"


def test_b5_does_not_fire_for_distinct_ssns(csr):
    MemberFactory()
    assert "B5_SSN_SHARED" not in opening_codes(open_account(MemberFactory(), csr))


def test_b5_confirms_a_blind_index_candidate_before_firing(csr):
    first = MemberFactory()
    # Same 16-bit index, different SSN: a candidate, not a duplicate.
    second = MemberFactory(ssn="123450777", tax_id_index=first.tax_id_index)
    assert "B5_SSN_SHARED" not in opening_codes(open_account(second, csr))


def test_b5_fires_when_an_existing_member_changes_to_a_taken_ssn(csr, django_capture_on_commit_callbacks):
    first = MemberFactory()
    second = MemberFactory()
    account = OpenAccountFactory(member=second)
    with django_capture_on_commit_callbacks(execute=True):
        member_services.member_change_identifiers(actor=csr, member=second, ssn=first.ssn, reason="new SSN card")
    assessment = latest("member.identifiers_changed")
    assert "B5_SSN_SHARED" in codes(assessment) and assessment.outcome == "hold"
    account.refresh_from_db()
    assert account.red_flag_warning and assessment.review_item.account == account


def test_household_a_spouse_sharing_address_and_phone_is_recorded_not_held(csr):
    spouse = MemberFactory()
    partner = MemberFactory(
        mailing_line1=spouse.mailing_line1,
        mailing_city=spouse.mailing_city,
        mailing_state=spouse.mailing_state,
        mailing_postal_code=spouse.mailing_postal_code,
        phone=spouse.phone,
    )
    account = open_account(partner, csr)
    assessment = RiskAssessment.objects.get(account=account)
    assert codes(assessment) == ["B6_ADDRESS_OR_PHONE_SHARED"]
    assert f"address matches member {spouse.member_number}" in assessment.evidence_text
    assert f"phone matches member {spouse.member_number}" in assessment.evidence_text
    assert assessment.outcome == "record"
    assert account.status == Account.Status.OPEN and not account.on_hold and not account.red_flag_warning
    assert not hasattr(assessment, "review_item") or assessment.review_item is None


def test_household_sharing_only_a_phone_is_recorded_not_held(csr):
    spouse = MemberFactory()
    account = open_account(MemberFactory(phone=spouse.phone), csr)
    assert account.status == Account.Status.OPEN and not account.on_hold


def test_b6_does_not_fire_for_different_addresses_and_phones(csr):
    MemberFactory()
    assert "B6_ADDRESS_OR_PHONE_SHARED" not in opening_codes(open_account(MemberFactory(), csr))


def test_b6_fires_when_a_member_moves_to_another_members_address(csr, django_capture_on_commit_callbacks):
    other = MemberFactory()
    member = MemberFactory()
    with django_capture_on_commit_callbacks(execute=True):
        member_services.member_change_address(
            actor=csr,
            member=member,
            line1=other.mailing_line1,
            city=other.mailing_city,
            state=other.mailing_state,
            postal_code=other.mailing_postal_code,
        )
    assessment = latest("member.address_changed")
    assert "B6_ADDRESS_OR_PHONE_SHARED" in codes(assessment) and assessment.outcome == "record"


# --- B7 incomplete after a reminder -----------------------------------------------------------


def test_b7_fires_when_items_are_still_missing_after_a_reminder(csr):
    account = open_account(
        MemberFactory(), csr, reminded_of_missing_information=True, missing_items=["employer", "driver's licence"]
    )
    assessment = RiskAssessment.objects.get(account=account)
    assert "B7_INCOMPLETE_AFTER_REMINDER" in codes(assessment)
    assert "still missing after a reminder" in assessment.evidence_text


def test_b7_does_not_fire_without_a_reminder_or_when_complete(csr):
    assert "B7_INCOMPLETE_AFTER_REMINDER" not in opening_codes(
        open_account(MemberFactory(), csr, missing_items=["employer"])
    )
    assert "B7_INCOMPLETE_AFTER_REMINDER" not in opening_codes(
        open_account(MemberFactory(), csr, reminded_of_missing_information=True)
    )


def test_b7_a_missing_birth_date_on_file_is_now_refused_by_the_opening_service(csr):
    # Detection step (1) is enforced before scoring (issue 16): the opening names what is missing.
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="date of birth"):
        open_account(MemberFactory(date_of_birth=None), csr, reminded_of_missing_information=True)


def test_b8_does_not_fire_on_a_clean_opening(csr):
    assert "B8_INCONSISTENT_WITH_FILE" not in opening_codes(open_account(MemberFactory(), csr))


# --- C. Unusual account activity -------------------------------------------------------------


def test_c1_party_added_days_after_an_address_change(csr, django_capture_on_commit_callbacks):
    from django.db import transaction

    from members.audit import audit_record
    from tests.db_owner import tamper

    account = OpenAccountFactory()
    # The committed history: the address change's audit row, dated 6 days back by an administrator (the
    # audit trail is insert-only for the application, so the date is set as the owner).
    with transaction.atomic():
        row = audit_record(
            actor=None,
            actor_label="casey",
            action="member.address_changed",
            obj=account.member,
            fields=["mailing_line1"],
        )
    tamper("UPDATE members_auditevent SET at = %s WHERE id = %s", [timezone.now() - datetime.timedelta(days=6), row.pk])
    with django_capture_on_commit_callbacks(execute=True):
        account_services.authorized_party_add(actor=csr, account=account, name="New Person", relationship="friend")
    assessment = latest("account.party_added")
    assert "C1_CHANGE_AFTER_ADDRESS_CHANGE" in codes(assessment)
    assert "address changed 6 days before a new authorized party was added" in assessment.evidence_text
    account.refresh_from_db()
    assert account.red_flag_warning


def test_c1_name_change_right_after_an_address_change_through_the_registry(csr, django_capture_on_commit_callbacks):
    member = MemberFactory()
    OpenAccountFactory(member=member)
    with django_capture_on_commit_callbacks(execute=True):
        member_services.member_change_address(
            actor=csr, member=member, line1="9 Elm St", city="Springfield", state="IL", postal_code="62704"
        )
    with django_capture_on_commit_callbacks(execute=True):
        member_services.member_change_name(actor=csr, member=member, legal_name="Someone Else", reason="marriage")
    assert (
        "address changed the same day before the account holder's name was changed"
        in latest("member.name_changed").evidence_text
    )


def test_c1_does_not_fire_when_the_address_change_is_old(csr, django_capture_on_commit_callbacks):
    from django.db import transaction

    from members.audit import audit_record
    from tests.db_owner import tamper

    account = OpenAccountFactory()
    # The committed history: the address change's audit row, dated 45 days back by an administrator (the
    # audit trail is insert-only for the application, so the date is set as the owner).
    with transaction.atomic():
        row = audit_record(
            actor=None,
            actor_label="casey",
            action="member.address_changed",
            obj=account.member,
            fields=["mailing_line1"],
        )
    tamper(
        "UPDATE members_auditevent SET at = %s WHERE id = %s", [timezone.now() - datetime.timedelta(days=45), row.pk]
    )
    with django_capture_on_commit_callbacks(execute=True):
        account_services.authorized_party_add(actor=csr, account=account, name="New Person")
    assert "C1_CHANGE_AFTER_ADDRESS_CHANGE" not in codes(latest("account.party_added"))


def _bill(account, *, issued: datetime.date, number: str, status: str = "open"):
    return BillFactory(
        account=account,
        statement_number=number,
        issued_on=issued,
        due_on=issued + datetime.timedelta(days=20),
        period_start=issued - datetime.timedelta(days=30),
        period_end=issued,
        status=status,
    )


def test_c2_new_account_first_bill_unpaid(csr, django_capture_on_commit_callbacks):
    account = OpenAccountFactory(opened_at=timezone.now() - datetime.timedelta(days=40))
    today = timezone.localdate()
    _bill(account, issued=today - datetime.timedelta(days=30), number="S-C2-1")
    with django_capture_on_commit_callbacks(execute=True):
        account_services.bill_record(
            actor=csr,
            account=account,
            statement_number="S-C2-2",
            period_start=today - datetime.timedelta(days=30),
            period_end=today,
            issued_on=today,
            due_on=today + datetime.timedelta(days=20),
            amount_due=Decimal("90.00"),
        )
    assessment = latest("account.bill_recorded")
    assert "C2_NEW_ACCOUNT_PAYMENT_PATTERN" in codes(assessment)
    assert "first bill due" in assessment.evidence_text


def test_c2_only_the_initial_payment(csr):
    account = OpenAccountFactory(opened_at=timezone.now() - datetime.timedelta(days=70))
    today = timezone.localdate()
    first = _bill(account, issued=today - datetime.timedelta(days=65), number="S-C2-3", status="paid")
    PaymentFactory(account=account, bill=first, received_at=timezone.now() - datetime.timedelta(days=60))
    _bill(account, issued=today - datetime.timedelta(days=35), number="S-C2-4")
    services.payment_sweep(today=today - datetime.timedelta(days=35) + datetime.timedelta(days=21))
    assert "only the initial payment" in latest(events.PAYMENT_SWEEP).evidence_text


def test_c2_does_not_fire_when_the_new_account_pays(csr, django_capture_on_commit_callbacks):
    account = OpenAccountFactory(opened_at=timezone.now() - datetime.timedelta(days=40))
    bill = _bill(account, issued=timezone.localdate() - datetime.timedelta(days=30), number="S-C2-5")
    with django_capture_on_commit_callbacks(execute=True):
        account_services.payment_record(actor=csr, account=account, amount=bill.amount_due, method="check", bill=bill)
    assert "C2_NEW_ACCOUNT_PAYMENT_PATTERN" not in codes(latest("account.payment_recorded"))


def _timely_history(account, months: int = 6, *, late: bool = False):
    today = timezone.localdate()
    for index in range(months, 0, -1):
        bill = _bill(
            account,
            issued=today - datetime.timedelta(days=30 * index + 40),
            number=f"S-C3-{account.pk}-{index}",
            status="paid",
        )
        paid_on = bill.due_on + datetime.timedelta(days=15 if late else -2)
        PaymentFactory(
            account=account,
            bill=bill,
            received_at=timezone.make_aware(datetime.datetime.combine(paid_on, datetime.time(12))),
        )


def test_c3_late_payment_on_a_historically_timely_account(csr):
    account = OpenAccountFactory(opened_at=timezone.now() - datetime.timedelta(days=400))
    _timely_history(account)
    last = _bill(account, issued=timezone.localdate() - datetime.timedelta(days=25), number="S-C3-last")
    services.payment_sweep(today=last.due_on + datetime.timedelta(days=1))
    assessment = latest(events.PAYMENT_SWEEP)
    assert "C3_LATE_AFTER_TIMELY" in codes(assessment)
    assert "unpaid after 6 bills paid on time" in assessment.evidence_text


def test_c3_does_not_fire_for_an_account_that_was_always_late(csr):
    account = OpenAccountFactory(opened_at=timezone.now() - datetime.timedelta(days=400))
    _timely_history(account, late=True)
    last = _bill(account, issued=timezone.localdate() - datetime.timedelta(days=25), number="S-C3-last2")
    services.payment_sweep(today=last.due_on + datetime.timedelta(days=1))
    assert "C3_LATE_AFTER_TIMELY" not in codes(latest(events.PAYMENT_SWEEP))


def test_c4_mail_returned_twice(csr, django_capture_on_commit_callbacks):
    account = OpenAccountFactory()
    for days in (20, 3):
        with django_capture_on_commit_callbacks(execute=True):
            account_services.returned_mail_record(
                actor=csr,
                member=account.member,
                account=account,
                returned_on=timezone.localdate() - datetime.timedelta(days=days),
            )
    assessment = latest("account.mail_returned")
    assert "C4_MAIL_RETURNED_REPEATEDLY" in codes(assessment)
    assert "2 pieces of mail returned" in assessment.evidence_text


def test_c4_does_not_fire_for_a_single_returned_letter(csr, django_capture_on_commit_callbacks):
    account = OpenAccountFactory()
    with django_capture_on_commit_callbacks(execute=True):
        account_services.returned_mail_record(
            actor=csr, member=account.member, account=account, returned_on=timezone.localdate()
        )
    assert "C4_MAIL_RETURNED_REPEATEDLY" not in codes(latest("account.mail_returned"))


def test_c5_statements_not_arriving(csr, django_capture_on_commit_callbacks):
    account = OpenAccountFactory()
    with django_capture_on_commit_callbacks(execute=True):
        account_services.statement_notice_record(
            actor=csr, member=account.member, account=account, reported_on=timezone.localdate()
        )
    assert "C5_STATEMENTS_NOT_RECEIVED" in codes(latest("account.statement_not_received"))


def test_c5_does_not_fire_on_other_changes(csr, django_capture_on_commit_callbacks):
    member = MemberFactory()
    with django_capture_on_commit_callbacks(execute=True):
        member_services.member_change_email(actor=csr, member=member, email="new-address@example.test")
    assert codes(latest("member.email_changed")) == []


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (SecurityIncident.Kind.UNAUTHORIZED_ACTIVITY, "C6_UNAUTHORIZED_ACTIVITY_NOTICE"),
        (SecurityIncident.Kind.SYSTEM_BREACH, "C7_SYSTEM_BREACH"),
        (SecurityIncident.Kind.UNAUTHORIZED_ACCESS, "C8_UNAUTHORIZED_ACCESS"),
    ],
)
def test_c6_c7_c8_an_incident_flags_each_affected_account_with_its_own_code(analyst, kind, code):
    accounts = [OpenAccountFactory(), OpenAccountFactory()]
    services.security_incident_record(
        kind=kind, description="found in the access log", actor=analyst, accounts=accounts
    )
    assessments = RiskAssessment.objects.filter(event_name=events.SECURITY_INCIDENT)
    assert assessments.count() == 2
    for assessment in assessments:
        assert codes(assessment) == [code]
    for account in accounts:
        account.refresh_from_db()
        assert account.red_flag_warning


def test_c6_c7_c8_do_not_fire_without_an_incident(csr):
    fired = opening_codes(open_account(MemberFactory(), csr))
    assert not {"C6_UNAUTHORIZED_ACTIVITY_NOTICE", "C7_SYSTEM_BREACH", "C8_UNAUTHORIZED_ACCESS"} & set(fired)


# --- D. Notices and the CRA category ---------------------------------------------------------


def test_d1_a_notice_from_law_enforcement_flags_the_account(csr):
    account = OpenAccountFactory()
    services.identity_theft_notice_record(
        reporter="law_enforcement", summary="detective called about a stolen identity", actor=csr, account=account
    )
    assessment = latest(events.IDENTITY_THEFT_NOTICE)
    assert codes(assessment) == ["D1_IDENTITY_THEFT_NOTICE"]
    assert "from law enforcement" in assessment.evidence_text
    assert assessment.review_item.account == account


def test_d1_a_later_opening_by_the_same_member_is_held(csr):
    member = MemberFactory()
    services.identity_theft_notice_record(
        reporter="victim", summary="victim reports her identity was used", actor=csr, member=member
    )
    account = open_account(member, csr)
    assert "D1_IDENTITY_THEFT_NOTICE" in opening_codes(account) and account.on_hold


def test_d1_does_not_fire_without_a_notice(csr):
    assert "D1_IDENTITY_THEFT_NOTICE" not in opening_codes(open_account(MemberFactory(), csr))


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("fraud_alert", "CRA1_FRAUD_OR_ACTIVE_DUTY_ALERT"),
        ("active_duty_alert", "CRA1_FRAUD_OR_ACTIVE_DUTY_ALERT"),
        ("credit_freeze", "CRA2_CREDIT_FREEZE"),
        ("address_discrepancy", "CRA3_ADDRESS_DISCREPANCY"),
        ("inconsistent_pattern", "CRA4_INCONSISTENT_REPORT_PATTERN"),
    ],
)
def test_cra_alerts_fire_their_own_code_when_recorded_and_at_opening(csr, kind, code):
    member = MemberFactory()
    services.cra_alert_record(member=member, kind=kind, agency="Equifax", actor=csr)
    assert codes(latest(events.CRA_ALERT)) == [code]
    assert code in opening_codes(open_account(member, csr))


def test_cra_an_alert_older_than_the_window_does_not_fire_at_opening(csr):
    member = MemberFactory()
    alert = services.cra_alert_record(member=member, kind="fraud_alert", agency="Experian", actor=csr)
    ConsumerReportAlert.objects.filter(pk=alert.pk).update(received_at=timezone.now() - datetime.timedelta(days=400))
    assert "CRA1_FRAUD_OR_ACTIVE_DUTY_ALERT" not in opening_codes(open_account(member, csr))


def test_a_cra_alert_with_an_unknown_kind_is_refused_and_changes_nothing(csr):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        services.cra_alert_record(member=MemberFactory(), kind="bad", agency="Equifax", actor=csr)
    assert not ConsumerReportAlert.objects.exists()


# --- scoring explains itself -----------------------------------------------------------------


def test_an_assessment_records_score_rule_versions_and_thresholds(csr):
    first = MemberFactory()
    account = open_account(MemberFactory(ssn=first.ssn), csr, document_appears_forged=True)
    assessment = RiskAssessment.objects.get(account=account)
    assert assessment.score == 80 + 50
    assert {(item["code"], item["version"]) for item in assessment.fired} == {("B5_SSN_SHARED", 1), ("A1_FORGED_ID", 1)}
    assert set(assessment.flags.values_list("rule_version__number", flat=True)) == {1}
    assert (assessment.warn_threshold, assessment.hold_threshold, assessment.program_version) == (40, 70, "2008.1")


def test_every_catalogue_rule_has_an_active_version_and_a_detector():
    from redflags.catalogue import CODES
    from redflags.models import Rule

    assert set(Rule.objects.values_list("code", flat=True)) == set(CODES) == set(detectors.DETECTORS)
    assert all(rule.active_version is not None for rule in Rule.objects.all())


def test_the_opening_prefetch_finds_exactly_what_the_separate_lookups_find(csr, analyst):
    from tests.factories import AccountFactory

    first = MemberFactory()
    member = MemberFactory(ssn=first.ssn, phone=first.phone)
    services.fraud_entry_add(
        kind="phone",
        value=member.phone,
        listing=KnownFraudEntry.Listing.FRAUDULENT_APPLICATION,
        source="case 3",
        actor=analyst,
    )
    services.cra_alert_record(member=member, kind="fraud_alert", agency="Equifax", actor=csr)
    services.identity_theft_notice_record(reporter="victim", summary="someone used my name", actor=csr, member=member)
    account = AccountFactory(member=member)
    event = events.Event(name=events.OPENING, member_id=member.pk, account_id=account.pk)
    separate = engine.evaluate(event, context=context.Context(event))
    prefetched_context = context.Context(event)
    prefetched_context.prefetch_opening()
    prefetched = engine.evaluate(event, context=prefetched_context)
    assert {
        "B3_KNOWN_FRAUD",
        "B5_SSN_SHARED",
        "B6_ADDRESS_OR_PHONE_SHARED",
        "CRA1_FRAUD_OR_ACTIVE_DUTY_ALERT",
        "D1_IDENTITY_THEFT_NOTICE",
    } <= set(separate.codes)
    assert [(f.version.rule.code, f.evidence) for f in prefetched.fired] == [
        (f.version.rule.code, f.evidence) for f in separate.fired
    ]


def test_an_opening_is_scored_in_a_handful_of_queries(csr, django_assert_max_num_queries):
    from tests.factories import AccountFactory

    member = MemberFactory()
    account = AccountFactory(member=member)
    engine.settings_and_active_versions()  # a running process has the immutable versions cached
    # thresholds + active ids, one prefetch, observed event, assessment, audit row (chain head + row), checklist
    with django_assert_max_num_queries(7):
        services.opening_assess(account=account, actor=csr, checklist=VERIFIED)


@pytest.mark.parametrize(
    ("theirs", "mine"),
    [("12 North Birch Lane", "12 N Birch Ln."), ("North 5th Street", "N 5th St"), ("PO Box 12", "P.O. Box 12")],
)
def test_b6_finds_the_same_address_written_another_way(csr, theirs, mine):
    from members.crypto import blind_index

    other = MemberFactory(mailing_line1=theirs)
    address = (mine, "", other.mailing_city, other.mailing_state, other.mailing_postal_code)
    member = MemberFactory(mailing_line1=mine, address_index=blind_index("address", address))
    assert member.address_index == other.address_index
    assessment = RiskAssessment.objects.get(account=open_account(member, csr))
    assert f"address matches member {other.member_number}" in assessment.evidence_text


def test_the_fraud_list_follows_a_blind_index_key_rotation(csr, analyst, settings):
    from members.crypto import blind_index
    from members.signals import blind_index_key_rotated

    member = MemberFactory()
    entry = services.fraud_entry_add(
        kind="address",
        value=(member.mailing_line1, "", member.mailing_city, member.mailing_state, member.mailing_postal_code),
        listing=KnownFraudEntry.Listing.FRAUDULENT_APPLICATION,
        source="case 5",
        actor=analyst,
    )
    settings.BLIND_INDEX_KEY = "a-completely-different-index-key-for-this-test-0123456789"
    blind_index_key_rotated.send(sender=None)
    entry.refresh_from_db()
    assert entry.index_value == blind_index(
        "address", (member.mailing_line1, "", member.mailing_city, member.mailing_state, member.mailing_postal_code)
    )
