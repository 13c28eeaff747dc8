"""The two decision tables of the services package: every basis kind has a validator (what recording it
needs) and a resolver (what releasing on it allows), and each entry can be read and run on its own.

The behaviour of each entry through the services is in test_bases.py; here the tables themselves.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from disclosures import services
from disclosures.models import DataCategory as C
from disclosures.models import LegalBasis, Purpose, Recipient
from disclosures.services import bases, planner


def test_every_legal_basis_kind_has_a_validator_and_a_resolver():
    assert set(bases.VALIDATORS) == set(LegalBasis.Kind.values)
    assert set(planner.RESOLVERS) == set(LegalBasis.Kind.values) | {"consent", "membership_list"}


def _evidence(**given) -> bases.Evidence:
    blank = {
        "categories": [C.CONTACT],
        "purpose": Purpose.MARKETING,
        "valid_until": timezone.now() + timedelta(days=1),
        "recipient": None,
        "members": [],
        "agreement": None,
        "description": "",
        "request_reference": "",
        "process_type": "",
        "document_reference": "",
        "issuing_authority": "",
        "document_date": None,
        "justification": "",
    }
    return bases.Evidence(**{**blank, **given})


def test_a_validator_runs_alone_and_fixes_the_purpose_its_kind_is_recorded_with():
    police = Recipient(name="County Sheriff", kind=Recipient.Kind.LAW_ENFORCEMENT)
    problems, purpose = bases.VALIDATORS[LegalBasis.Kind.IMMINENT_THREAT](
        _evidence(recipient=police, valid_until=timezone.now() + timedelta(days=8), justification="fire")
    )
    assert purpose == Purpose.IMMINENT_THREAT
    assert problems == [
        "Name the members concerned and the recipient.",
        "An imminent-threat basis lasts at most seven days.",
    ]


def test_the_aggregated_validator_accepts_a_described_usage_basis_and_nothing_else():
    validate = bases.VALIDATORS[LegalBasis.Kind.AGGREGATED]
    assert validate(_evidence(categories=[C.USAGE], description="feeder study")) == ([], Purpose.AGGREGATE_REPORTING)
    assert validate(_evidence(categories=[C.CONTACT])).problems == [
        "Aggregated releases cover usage data only.",
        "Describe the analysis, reporting or program the aggregate is for.",
    ]


def test_a_contractor_is_bound_by_an_agreement_and_a_primary_purpose():
    partner = Recipient(pk=1, name="Partner", kind=Recipient.Kind.NON_AFFILIATED)
    problems, purpose = bases.VALIDATORS[LegalBasis.Kind.CONTRACTOR](_evidence(recipient=partner))
    assert purpose == Purpose.MARKETING  # as asked: the refusal is in the problems, not a silent change
    assert problems == [
        "This basis needs a recipient of kind Contractor or service provider.",
        "Name the recipient's confidentiality agreement (seed 000 F.2).",
        "A contractor receives data only for a primary purpose.",
    ]


@pytest.mark.django_db
def test_an_unknown_kind_is_refused_before_any_validator_runs(privacy_officer):
    with pytest.raises(ValidationError, match="Unknown basis 'sale'"):
        services.legal_basis_record(
            actor=privacy_officer,
            kind="sale",
            categories=[C.CONTACT],
            purpose=Purpose.MARKETING,
            valid_until=timezone.now() + timedelta(days=1),
        )
    assert not LegalBasis.objects.exists()


@pytest.mark.django_db
def test_a_resolver_runs_alone_on_a_basis_read_from_the_database(contractor_basis, members):
    def release(member_ids):
        return planner.Release(
            recipient=contractor_basis.recipient,
            categories=[C.CONTACT],
            purpose=Purpose.BILLING,
            member_ids=member_ids,
            fields=None,
        )

    resolve = planner.RESOLVERS[LegalBasis.Kind.CONTRACTOR]
    with pytest.raises(planner.Refusal, match="name the members to release"):
        resolve(contractor_basis, release(None))
    plan = resolve(contractor_basis, release([members[0].pk]))
    assert plan.basis_kind == LegalBasis.Kind.CONTRACTOR and plan.member_ids == [members[0].pk]
    assert plan.basis_ref == f"legal_basis:{contractor_basis.pk} contractor agreement CA-1"
    assert plan.fields == ["member_number", *services.CATEGORY_FIELDS[C.CONTACT]]
