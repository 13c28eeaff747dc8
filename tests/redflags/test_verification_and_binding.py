"""Issue 16 items 1, 2, 4, 5: identity verified at every opening, warnings that bind, caller verification
with two independent factors, and detection the software does itself (C1 from history, B1/B2)."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError

from accounts import services as account_services
from accounts.models import Account
from members import guards
from members import services as member_services
from redflags import events, services
from redflags.cases import selectors as case_selectors
from redflags.cases.models import Case, CaseNote
from redflags.models import RiskAssessment
from tests.factories import BusinessMemberFactory, MemberFactory, OpenAccountFactory

pytestmark = pytest.mark.django_db

VERIFIED = {"identity_document_reviewed": True, "documents_seen": ["drivers_licence"]}


def _opening(account) -> RiskAssessment:
    return RiskAssessment.objects.get(account=account, event_name=events.OPENING)


def _codes(assessment) -> list[str]:
    return [item["code"] for item in assessment.fired]


# --- 1. identity verified at every opening -----------------------------------------------------------


def test_an_opening_without_any_verification_is_held(csr):
    account = account_services.account_open(actor=csr, member=MemberFactory())
    assessment = _opening(account)
    assert "V1_IDENTITY_NOT_VERIFIED" in _codes(assessment)
    assert account.on_hold and account.status == Account.Status.PENDING
    assert assessment.review_item.outcome == "hold"


def test_an_opening_whose_checklist_names_no_document_is_held(csr):
    account = account_services.account_open(
        actor=csr, member=MemberFactory(), checklist={"identity_document_reviewed": True}
    )
    assert "no identity document type was recorded as seen" in _opening(account).evidence_text
    assert account.on_hold


def test_an_opening_recording_the_documents_seen_opens(csr):
    account = account_services.account_open(actor=csr, member=MemberFactory(), checklist=VERIFIED)
    assert account.status == Account.Status.OPEN
    assert account.redflags_checklist.documents_seen == ["drivers_licence"]


def test_a_business_opening_needs_its_business_documentation(csr):
    held = account_services.account_open(actor=csr, member=BusinessMemberFactory(), checklist=VERIFIED)
    assert "business entity exists" in _opening(held).evidence_text and held.on_hold
    opened = account_services.account_open(
        actor=csr,
        member=BusinessMemberFactory(),
        checklist={"business_documentation_reviewed": True, "documents_seen": ["business_registration"]},
    )
    assert opened.status == Account.Status.OPEN


def test_the_opening_service_names_each_missing_required_field_and_writes_nothing(csr):
    person = MemberFactory(date_of_birth=None, ssn=None, drivers_licence_number=None, tax_id_index="", licence_index="")
    with pytest.raises(ValidationError) as refused:
        account_services.account_open(actor=csr, member=person, checklist=VERIFIED)
    assert set(refused.value.message_dict) == {"date_of_birth", "ssn"}
    assert "date of birth is required" in str(refused.value)
    business = BusinessMemberFactory(tin=None, mailing_line1="", address_index="", tax_id_index="")
    with pytest.raises(ValidationError) as refused:
        account_services.account_open(actor=csr, member=business, checklist=VERIFIED)
    assert set(refused.value.message_dict) == {"tin", "mailing_line1"}
    assert "principal place of business" in str(refused.value)
    assert not Account.objects.filter(member__in=[person, business]).exists()


def test_members_without_verification_are_listed_for_the_program_administrator(csr):
    unverified = OpenAccountFactory().member
    verified = account_services.account_open(actor=csr, member=MemberFactory(), checklist=VERIFIED).member
    listed = set(case_selectors.members_without_verification())
    assert unverified in listed and verified not in listed


# --- B1 / B2 as comparisons the software makes -----------------------------------------------------------


def test_b2_the_birth_date_on_the_id_is_compared_with_the_registry(csr):
    member = MemberFactory(date_of_birth=datetime.date(1970, 6, 1))
    account = account_services.account_open(
        actor=csr, member=member, checklist={**VERIFIED, "document_date_of_birth": "1971-06-01"}
    )
    assessment = _opening(account)
    assert "B2_INCONSISTENT_WITH_APPLICANT" in _codes(assessment)
    assert "1971" not in assessment.evidence_text and "1971" not in str(assessment.event.payload)
    assert account.redflags_checklist.document_date_of_birth_matches is False


def test_b1_the_name_on_the_id_is_compared_with_the_registry(csr):
    member = MemberFactory(legal_name="Jane Quinn Doe")
    same = account_services.account_open(
        actor=csr, member=member, checklist={**VERIFIED, "document_name": "JANE Q. DOE"}
    )
    assert "B1_INCONSISTENT_WITH_SOURCES" not in _codes(_opening(same))
    other = account_services.account_open(
        actor=csr, member=MemberFactory(legal_name="Jane Doe"), checklist={**VERIFIED, "document_name": "John Roe"}
    )
    assert "B1_INCONSISTENT_WITH_SOURCES" in _codes(_opening(other))


# --- 4. caller verification: two independent factors, never the phone alone ----------------------------


def test_the_phone_number_alone_never_verifies_a_caller(csr):
    member = MemberFactory()
    with pytest.raises(ValidationError, match="phone number"):
        services.caller_verify(member=member, staff=csr, stated={"phone": member.phone})


def test_address_and_phone_together_are_not_two_independent_factors(csr):
    member = MemberFactory()
    address = (member.mailing_line1, "", member.mailing_city, member.mailing_state, member.mailing_postal_code)
    with pytest.raises(ValidationError, match="SSN last 4 or the date of birth"):
        services.caller_verify(member=member, staff=csr, stated={"phone": member.phone, "address": address})


def test_two_factors_verify_and_the_attempt_records_which_passed(csr):
    from redflags.models import CallerVerificationAttempt

    member = MemberFactory()
    results = services.caller_verify(
        member=member, staff=csr, stated={"ssn_last4": member.ssn_last4, "phone": member.phone}
    )
    attempt = CallerVerificationAttempt.objects.get(member=member)
    assert results == {"ssn_last4": True, "phone": True} and attempt.passed
    wrong = services.caller_verify(member=member, staff=csr, stated={"ssn_last4": "0000", "phone": member.phone})
    assert wrong == {"ssn_last4": False, "phone": True}
    assert not CallerVerificationAttempt.objects.filter(member=member).latest("id").passed


# --- 5. C1 from the committed history, whatever order the tasks run in -----------------------------------


def test_c1_is_found_when_the_party_task_runs_before_the_address_change_task(csr, django_capture_on_commit_callbacks):
    account = OpenAccountFactory()
    member = account.member
    with django_capture_on_commit_callbacks(execute=False) as address_callbacks:
        member_services.member_change_address(
            actor=csr, member=member, line1="9 New Rd", city="Springfield", state="IL", postal_code="62701"
        )
    with django_capture_on_commit_callbacks(execute=False) as party_callbacks:
        account_services.authorized_party_add(actor=csr, account=account, name="New Person")
    for callback in [*party_callbacks, *address_callbacks]:  # the later change is scored first
        callback()
    party = RiskAssessment.objects.get(event_name="account.party_added")
    assert "C1_CHANGE_AFTER_ADDRESS_CHANGE" in _codes(party)


# --- 2. warnings that bind -------------------------------------------------------------------------------


@pytest.fixture
def warned_member(csr, django_capture_on_commit_callbacks):
    """A member with an open account and an open "Red Flag Exists" item (a CRA fraud alert)."""
    account = OpenAccountFactory()
    services.cra_alert_record(member=account.member, account=account, kind="fraud_alert", agency="Equifax", actor=csr)
    account.refresh_from_db()
    assert account.red_flag_warning
    return account


def test_a_contact_change_needs_an_acknowledgement_while_a_warning_is_open(csr, warned_member):
    member = warned_member.member
    old_phone = member.phone
    with pytest.raises(guards.AcknowledgementRequired) as refused:
        member_services.member_change_phone(actor=csr, member=member, phone="+12175550199")
    assert "Red Flag Exists" in str(refused.value) and "CRA1_FRAUD_OR_ACTIVE_DUTY_ALERT" in str(refused.value)
    member.refresh_from_db()
    assert member.phone == old_phone
    member_services.member_change_phone(
        actor=csr, member=member, phone="+12175550199", acknowledgement="Caller verified with DOB and SSN last 4"
    )
    case = Case.objects.get(member=member)
    note = case.notes.get(kind=CaseNote.Kind.ACKNOWLEDGEMENT)
    assert note.author == csr and note.action == guards.CONTACT_CHANGE and "Caller verified" in note.text


@pytest.mark.parametrize("action", ["bank", "party", "account"])
def test_every_sensitive_action_is_bound_by_the_warning(csr, warned_member, action):
    member = warned_member.member
    calls = {
        "bank": lambda **ack: member_services.financial_account_add(
            actor=csr, member=member, routing_number="011000015", account_number="12345678", **ack
        ),
        "party": lambda **ack: account_services.authorized_party_add(
            actor=csr, account=warned_member, name="A Stranger", **ack
        ),
        "account": lambda **ack: account_services.account_open(actor=csr, member=member, checklist=VERIFIED, **ack),
    }
    with pytest.raises(guards.AcknowledgementRequired):
        calls[action]()
    calls[action](acknowledgement="Spoke with the member in person, ID checked")
    assert Case.objects.get(member=member).notes.filter(kind=CaseNote.Kind.ACKNOWLEDGEMENT).count() == 1


def test_a_member_cannot_acknowledge_a_warning_about_themselves(warned_member):
    from tests.factories import UserFactory

    member = warned_member.member
    login = UserFactory()
    with pytest.raises(guards.AcknowledgementRequired, match="call member services") as refused:
        member_services.member_change_email(
            actor=login, member=member, email="new@example.test", acknowledgement="it is me"
        )
    assert "Red Flag" not in str(refused.value) and "CRA1" not in str(refused.value)


def test_without_a_warning_nothing_is_asked(csr):
    member = OpenAccountFactory().member
    member_services.member_change_phone(actor=csr, member=member, phone="+12175550198")
    assert not Case.objects.filter(member=member).exists()


def test_the_guard_refuses_an_unknown_action_name(csr):
    with pytest.raises(ValueError, match="portal_enrollment"):
        guards.check(action="portal_signup", member=MemberFactory(), actor=csr)


def test_the_api_answers_400_on_the_acknowledgement_and_accepts_it(csr, warned_member):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(csr)
    url = f"/api/members/{warned_member.member_id}/"
    refused = api.patch(url, {"phone": "+12175550177"}, format="json")
    assert refused.status_code == 400 and "acknowledgement" in refused.json()
    accepted = api.patch(url, {"phone": "+12175550177", "acknowledgement": "verified by DOB and SSN"}, format="json")
    assert accepted.status_code == 200
    assert Case.objects.get(member_id=warned_member.member_id).notes.filter(kind="acknowledgement").exists()


def test_the_member_admin_asks_for_the_acknowledgement_on_the_form(client, csr, warned_member):
    member = warned_member.member
    form = {
        "kind": member.kind,
        "legal_name": member.legal_name,
        "mailing_line1": member.mailing_line1,
        "mailing_line2": "",
        "mailing_city": member.mailing_city,
        "mailing_state": member.mailing_state,
        "mailing_postal_code": member.mailing_postal_code,
        "phone": "+12175550166",
        "email": member.email,
        "employer_name": "",
        "drivers_licence_state": member.drivers_licence_state,
    }
    client.force_login(csr)
    url = f"/admin/members/member/{member.pk}/change/"
    page = client.post(url, form)
    assert page.status_code == 200 and b"Acknowledge it with a note" in page.content
    assert client.post(url, {**form, "acknowledgement": "member at the counter with ID"}).status_code == 302
    member.refresh_from_db()
    assert member.phone == "+12175550166"
