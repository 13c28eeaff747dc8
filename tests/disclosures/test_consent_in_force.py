"""The export gate's fast reads of a consent (Connect My Data pulls) agree with the ORM and with
``active_consents``: ``consent_in_force`` on a consent read with ``consent_read`` / ``consent_reread``
says "in force" exactly when ``active_consents(...).filter(pk=...)`` finds it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from disclosures.models import Consent, DataCategory, Purpose, Recipient
from disclosures.services.consents import active_consents, consent_in_force, consent_read, consent_reread
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_recipients(recipient):
    return (
        recipient(Recipient.Kind.MEMBER_DESIGNATED, "SunCalc"),
        recipient(Recipient.Kind.MEMBER_DESIGNATED, "Other app"),
    )


def _variants(member, ours, other) -> dict[str, Consent]:
    now = timezone.now()
    base = {
        "member": member,
        "recipient": ours,
        "categories": [DataCategory.USAGE],
        "purpose": Purpose.MEMBER_DESIGNATED,
        "channel": Consent.Channel.WRITTEN,
        "granted_at": now - timedelta(days=1),
        "expires_at": now + timedelta(days=30),
    }
    variants = {
        "in force": {},
        "no end date": {"expires_at": None},
        "wider categories": {"categories": [DataCategory.USAGE, DataCategory.CONTACT]},
        "expired": {"expires_at": now - timedelta(seconds=1), "granted_at": now - timedelta(days=2)},
        "not granted yet": {"granted_at": now + timedelta(hours=1), "expires_at": now + timedelta(days=2)},
        "another recipient": {"recipient": other},
        "another purpose": {"purpose": Purpose.ENERGY_SERVICES},
        "narrower categories": {"categories": [DataCategory.CONTACT]},
        "by phone": {"channel": Consent.Channel.PHONE},
        "revoked": {"revoked_at": now - timedelta(minutes=5)},
    }
    return {name: Consent.objects.create(**{**base, **change}) for name, change in variants.items()}


def test_consent_in_force_answers_as_active_consents_does(two_recipients):
    ours, other = two_recipients
    consents = _variants(MemberFactory(), ours, other)
    answers = {}
    for name, consent in consents.items():
        read = consent_read(consent_id=consent.pk)
        assert read is not None
        wanted = {"recipient": ours, "purpose": Purpose.MEMBER_DESIGNATED, "categories": [DataCategory.USAGE]}
        fast = consent_in_force(read, **wanted)
        query = active_consents(**wanted).filter(pk=consent.pk).exists()
        assert fast == query, name
        answers[name] = fast
    # Not vacuous: both answers occur, and each refusal reason is one of the "no" answers.
    assert answers == {
        "in force": True,
        "no end date": True,
        "wider categories": True,
        "expired": False,
        "not granted yet": False,
        "another recipient": False,
        "another purpose": False,
        "narrower categories": False,
        "by phone": False,
        "revoked": False,
    }


def test_consent_reread_gives_every_column_as_the_orm_does(two_recipients):
    ours, other = two_recipients
    consent = _variants(MemberFactory(), ours, other)["revoked"]
    stub = Consent.from_db("default", ["id"], [consent.pk])
    consent_reread(stub)
    orm = Consent.objects.get(pk=consent.pk)
    for field in Consent._meta.concrete_fields:
        assert getattr(stub, field.attname) == getattr(orm, field.attname), field.name
    assert stub.get_deferred_fields() == set()
    assert consent_read(consent_id=consent.pk + 10_000) is None
    with pytest.raises(Consent.DoesNotExist):
        consent_reread(Consent.from_db("default", ["id"], [consent.pk + 10_000]))
