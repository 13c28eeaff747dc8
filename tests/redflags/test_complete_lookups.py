"""Issue 16 item 3 and issue 11 item 10: every duplicate detector finds every match of its own kind.

The old lookup OR-ed SSN, address and phone matches into one statement capped at 600 rows, so an
applicant using a large apartment block's address (and its switchboard phone) hid a shared SSN.
"""

from __future__ import annotations

import pytest

from accounts import services as account_services
from accounts.models import Account
from members import services as member_services
from members.crypto import blind_index
from members.models import Member
from redflags import events
from redflags.models import RiskAssessment
from tests.factories import MemberFactory, OpenAccountFactory

pytestmark = pytest.mark.django_db

CROWD = 5_000
BLOCK = ("1 Tower Plaza", "", "Springfield", "IL", "62701")
SWITCHBOARD = "+12175550142"


def _crowd(prefix: str, **fields) -> None:
    """CROWD members sharing ``fields`` (one INSERT per 1,000; no encrypted identifiers to encrypt)."""
    Member.objects.bulk_create(
        [
            Member(member_number=f"{prefix}{n:06d}", legal_name=f"Crowd {n}", status="active", **fields)
            for n in range(CROWD)
        ],
        batch_size=1_000,
    )


VERIFIED = {"identity_document_reviewed": True, "identity_document_type": "passport"}


def _codes(assessment: RiskAssessment) -> list[str]:
    return [item["code"] for item in assessment.fired]


def test_a_shared_ssn_is_found_when_address_and_phone_are_each_shared_by_5000_members(csr):
    line1, line2, city, state, postal = BLOCK
    _crowd(
        "ADR",
        mailing_line1=line1,
        mailing_city=city,
        mailing_state=state,
        mailing_postal_code=postal,
        address_index=blind_index("address", BLOCK),
    )
    _crowd("PHN", phone=SWITCHBOARD, phone_index=blind_index("phone", SWITCHBOARD), mailing_line1="9 Elsewhere Rd")
    victim = MemberFactory(ssn="123456789")
    applicant = MemberFactory(
        ssn="123456789",
        mailing_line1=line1,
        mailing_city=city,
        mailing_state=state,
        mailing_postal_code=postal,
        phone=SWITCHBOARD,
    )
    account = account_services.account_open(actor=csr, member=applicant, checklist=VERIFIED)
    assessment = RiskAssessment.objects.get(account=account, event_name=events.OPENING)
    assert "B5_SSN_SHARED" in _codes(assessment)
    assert f"SSN matches member {victim.member_number}" in assessment.evidence_text
    # Every address and phone match was found and confirmed, not just the first few hundred.
    assert f"and {CROWD - 3} more" in assessment.evidence_text
    assert assessment.evidence_text.count(f"and {CROWD - 3} more") == 2
    assert account.on_hold and account.status == Account.Status.PENDING


def test_b9_a_driver_licence_shared_with_another_member_holds_the_opening(csr):
    first = MemberFactory(drivers_licence_number="S123-4567-8901", drivers_licence_state="IL")
    second = MemberFactory(drivers_licence_number="s12345678901", drivers_licence_state="IL")
    account = account_services.account_open(actor=csr, member=second, checklist=VERIFIED)
    assessment = RiskAssessment.objects.get(account=account, event_name=events.OPENING)
    assert "B9_LICENCE_SHARED" in _codes(assessment)
    assert f"driver's licence matches member {first.member_number}" in assessment.evidence_text
    assert "12345678901" not in assessment.evidence_text
    assert account.on_hold and account.status == Account.Status.PENDING


def test_b9_the_same_number_from_another_state_is_not_a_shared_licence(csr):
    MemberFactory(drivers_licence_number="S12345678901", drivers_licence_state="IL")
    second = MemberFactory(drivers_licence_number="S12345678901", drivers_licence_state="WI")
    account = account_services.account_open(actor=csr, member=second, checklist=VERIFIED)
    assert "B9_LICENCE_SHARED" not in _codes(RiskAssessment.objects.get(account=account, event_name=events.OPENING))


def test_b9_fires_when_an_existing_member_changes_to_a_taken_licence(csr, django_capture_on_commit_callbacks):
    first = MemberFactory(drivers_licence_number="D55500011", drivers_licence_state="IL")
    second = MemberFactory()
    OpenAccountFactory(member=second)
    with django_capture_on_commit_callbacks(execute=True):
        member_services.member_change_identifiers(
            actor=csr, member=second, drivers_licence_number="D55500011", drivers_licence_state="IL", reason="renewal"
        )
    assessment = RiskAssessment.objects.filter(event_name="member.identifiers_changed").latest("id")
    assert "B9_LICENCE_SHARED" in _codes(assessment)
    assert f"driver's licence matches member {first.member_number}" in assessment.evidence_text


def test_b9_many_holders_of_one_licence_are_confirmed_in_one_bulk_decryption(csr):
    holders = [MemberFactory(drivers_licence_number="D77700077", drivers_licence_state="IL") for _ in range(10)]
    applicant = MemberFactory(drivers_licence_number="D77700077", drivers_licence_state="IL")
    account = account_services.account_open(actor=csr, member=applicant, checklist=VERIFIED)
    evidence = RiskAssessment.objects.get(account=account, event_name=events.OPENING).evidence_text
    assert f"driver's licence matches member {holders[0].member_number}" in evidence and "and 7 more" in evidence
