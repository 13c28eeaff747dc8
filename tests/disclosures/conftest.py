"""Fixtures for the disclosures tests: recipients of every kind, agreements, a few members, staff by role."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from disclosures import services
from disclosures.models import DataCategory as C
from disclosures.models import LegalBasis, Purpose, Recipient
from members import roles
from tests.factories import MemberFactory, UserFactory


@pytest.fixture
def privacy_officer(make_user):
    return make_user("privacy-1", role=roles.PRIVACY_OFFICER)


@pytest.fixture
def second_privacy_officer(make_user):
    return make_user("privacy-2", role=roles.PRIVACY_OFFICER)


@pytest.fixture
def csr(make_user):
    return make_user("csr-1", role=roles.CSR)


@pytest.fixture
def members(db):
    return MemberFactory.create_batch(3)


@pytest.fixture
def member_with_login(db):
    user = UserFactory(username="member-alice")
    return MemberFactory(user=user)


@pytest.fixture
def recipient(privacy_officer):
    def _make(kind: str, name: str | None = None) -> Recipient:
        return services.recipient_create(actor=privacy_officer, name=name or f"{kind} recipient", kind=kind)

    return _make


@pytest.fixture
def partner(recipient):
    return recipient(Recipient.Kind.NON_AFFILIATED, "HomeWarm Offers")


@pytest.fixture
def contractor(recipient):
    return recipient(Recipient.Kind.CONTRACTOR, "Prairie Billing")


@pytest.fixture
def agreement(privacy_officer, contractor):
    today = timezone.localdate()
    return services.agreement_record(
        actor=privacy_officer,
        recipient=contractor,
        reference="CA-1",
        scope="bill printing",
        categories=[C.CONTACT],
        signed_on=today - timedelta(days=10),
        effective_from=today - timedelta(days=10),
        expires_on=today + timedelta(days=100),
    )


@pytest.fixture
def contractor_basis(privacy_officer, contractor, agreement):
    return services.legal_basis_record(
        actor=privacy_officer,
        kind=LegalBasis.Kind.CONTRACTOR,
        recipient=contractor,
        agreement=agreement,
        categories=[C.CONTACT],
        purpose=Purpose.BILLING,
        valid_until=timezone.now() + timedelta(days=30),
    )


def written_consent(actor, member, recipient, categories=(C.CONTACT,), purpose=Purpose.MARKETING, **extra):
    return services.consent_grant(
        actor=actor,
        member=member,
        recipient=recipient,
        categories=list(categories),
        purpose=purpose,
        channel="written",
        evidence="form F-1",
        **extra,
    )
