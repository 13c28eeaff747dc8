"""Legal bases other than consent: recording one with the evidence its kind requires, the second approver
of an imminent-threat release, and revocation.

Each kind's evidence (seed 000 F.2-F.4, seed 001): the member's own request; a contractor's or another
utility's confidentiality agreement; legal process (warrant, subpoena, court order) naming its members;
an imminent threat with a written justification, at most seven days and a second approver; an
aggregate release for usage only. Each kind's evidence check is one entry of ``VALIDATORS``; the release
side of each kind is one entry of ``planner.RESOLVERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from disclosures.models import (
    MEMBER_DESIGNATABLE,
    PRIMARY_PURPOSES,
    ConfidentialityAgreement,
    LegalBasis,
    Purpose,
    Recipient,
)
from disclosures.services.categories import C, clean_categories
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import Member


@dataclass(frozen=True)
class Evidence:
    """What the caller gives for a basis, as given: each kind's validator reads what that kind needs."""

    categories: list[str]
    purpose: str
    valid_until: datetime
    recipient: Recipient | None
    members: list[Member]
    agreement: ConfidentialityAgreement | None
    description: str
    request_reference: str
    process_type: str
    document_reference: str
    issuing_authority: str
    document_date: date | None
    justification: str


class Checked(NamedTuple):
    """A validator's verdict: what is missing or wrong (empty = recordable), and the purpose the basis is
    recorded with (most kinds fix it; a contractor's or another utility's is the one asked for)."""

    problems: list[str]
    purpose: str


IMMINENT_THREAT_MAX_DAYS = 7


def _member_request(e: Evidence) -> Checked:
    problems = []
    if len(e.members) != 1:
        problems.append("A member's request covers exactly that member.")
    if not e.request_reference.strip():
        problems.append("Record the member's request (its reference).")
    if e.recipient is not None and e.recipient.kind not in MEMBER_DESIGNATABLE:
        problems.append(
            "A member may direct their data to a recipient they choose, not to a contractor or law enforcement."
        )
    return Checked(problems, Purpose.MEMBER_ACCESS if e.recipient is None else Purpose.MEMBER_DESIGNATED)


def _contractor(e: Evidence) -> Checked:
    problems = _agreement_problems(e, Recipient.Kind.CONTRACTOR)
    if e.purpose not in PRIMARY_PURPOSES - {Purpose.OPERATIONS}:
        problems.append("A contractor receives data only for a primary purpose.")
    return Checked(problems, e.purpose)


def _other_utility(e: Evidence) -> Checked:
    problems = _agreement_problems(e, Recipient.Kind.OTHER_UTILITY)
    if e.purpose != Purpose.OPERATIONS:
        problems.append("Another utility receives data only for operational requirements.")
    return Checked(problems, e.purpose)


def _agreement_problems(e: Evidence, recipient_kind: Recipient.Kind) -> list[str]:
    """Seed 000 F.2: a recipient of the right kind, bound by its own agreement covering every category."""
    problems = []
    if e.recipient is None or e.recipient.kind != recipient_kind:
        problems.append(f"This basis needs a recipient of kind {recipient_kind.label}.")
    if e.agreement is None or (e.recipient is not None and e.agreement.recipient_id != e.recipient.pk):
        problems.append("Name the recipient's confidentiality agreement (seed 000 F.2).")
    elif not set(e.categories) <= set(e.agreement.categories):
        problems.append("The agreement does not cover every requested category.")
    return problems


def _legal_process(e: Evidence) -> Checked:
    problems = []
    if e.recipient is None or e.recipient.kind != Recipient.Kind.LAW_ENFORCEMENT:
        problems.append("Legal process names a law-enforcement or court recipient.")
    if e.process_type not in LegalBasis.ProcessType.values:
        problems.append("Say whether it is a warrant, a subpoena or a court order.")
    if not e.document_reference.strip() or not e.issuing_authority.strip() or e.document_date is None:
        problems.append("Record the document reference, the issuing authority and the date.")
    if not e.members:
        problems.append("Legal process covers the members it names (limit the scope, seed 000 F.4).")
    return Checked(problems, Purpose.LEGAL_PROCESS)


def _imminent_threat(e: Evidence) -> Checked:
    problems = []
    if not e.justification.strip():
        problems.append("Write down the justification: the threat to life or property.")
    if not e.members or e.recipient is None:
        problems.append("Name the members concerned and the recipient.")
    if e.valid_until > timezone.now() + timedelta(days=IMMINENT_THREAT_MAX_DAYS):
        problems.append("An imminent-threat basis lasts at most seven days.")
    return Checked(problems, Purpose.IMMINENT_THREAT)


def _aggregated(e: Evidence) -> Checked:
    problems = []
    if e.categories != [C.USAGE]:
        problems.append("Aggregated releases cover usage data only.")
    if not e.description.strip():
        problems.append("Describe the analysis, reporting or program the aggregate is for.")
    return Checked(problems, Purpose.AGGREGATE_REPORTING)


# Basis kind -> what its evidence must show. The release side of each kind is planner.RESOLVERS.
VALIDATORS: dict[str, Callable[[Evidence], Checked]] = {
    LegalBasis.Kind.MEMBER_REQUEST: _member_request,
    LegalBasis.Kind.CONTRACTOR: _contractor,
    LegalBasis.Kind.OTHER_UTILITY: _other_utility,
    LegalBasis.Kind.LEGAL_PROCESS: _legal_process,
    LegalBasis.Kind.IMMINENT_THREAT: _imminent_threat,
    LegalBasis.Kind.AGGREGATED: _aggregated,
}


@transaction.atomic
def legal_basis_record(
    *,
    actor: Actor,
    kind: str,
    categories: Iterable[str],
    purpose: str,
    valid_until: datetime,
    recipient: Recipient | None = None,
    members: Iterable[Member] = (),
    agreement: ConfidentialityAgreement | None = None,
    description: str = "",
    request_reference: str = "",
    process_type: str = "",
    document_reference: str = "",
    issuing_authority: str = "",
    document_date: date | None = None,
    notice_withheld: bool = False,
    justification: str = "",
) -> LegalBasis:
    """Record a basis other than consent with the evidence its kind requires (``VALIDATORS``)."""
    cats = clean_categories(categories)
    members = list(members)
    if kind not in VALIDATORS:
        raise ValidationError(f"Unknown basis {kind!r}.")
    if valid_until <= timezone.now():
        raise ValidationError("The basis would already have lapsed.")
    problems, purpose = VALIDATORS[kind](
        Evidence(
            categories=cats,
            purpose=purpose,
            valid_until=valid_until,
            recipient=recipient,
            members=members,
            agreement=agreement,
            description=description,
            request_reference=request_reference,
            process_type=process_type,
            document_reference=document_reference,
            issuing_authority=issuing_authority,
            document_date=document_date,
            justification=justification,
        )
    )
    if problems:
        raise ValidationError(problems)
    basis = LegalBasis.objects.create(
        kind=kind,
        recipient=recipient,
        agreement=agreement,
        categories=cats,
        purpose=purpose,
        description=description,
        request_reference=request_reference.strip(),
        process_type=process_type,
        document_reference=document_reference.strip(),
        issuing_authority=issuing_authority.strip(),
        document_date=document_date,
        notice_withheld=notice_withheld if kind == LegalBasis.Kind.LEGAL_PROCESS else False,
        justification=justification.strip(),
        requested_by=signed_in_user(actor),
        valid_until=valid_until,
        recorded_by=signed_in_user(actor),
    )
    if members:
        basis.members.set(members)
    audit_record(
        actor=actor,
        action="legal_basis.recorded",
        obj=basis,
        fields=["kind", "categories", "valid_until"],
        detail={
            "kind": kind,
            "recipient_id": recipient.pk if recipient else None,
            "member_ids": [m.pk for m in members],
            "categories": cats,
        },
    )
    return basis


@transaction.atomic
def legal_basis_approve(*, actor: Actor, basis: LegalBasis, reason: str = "") -> LegalBasis:
    """The second approver of an imminent-threat release: a Privacy Officer who is not the requester.
    ``reason`` (why the threat justifies the release, as the approver judged it) is kept on the audit row;
    the staff admin asks for it on its confirmation page."""
    basis = LegalBasis.objects.select_for_update(no_key=True).get(pk=basis.pk)
    if basis.kind != LegalBasis.Kind.IMMINENT_THREAT:
        raise ValidationError("Only imminent-threat releases need a second approver.")
    approver = signed_in_user(actor)
    if approver is None or not approver.has_perm("disclosures.approve_legalbasis"):
        raise PermissionDenied("Approving needs the Privacy Officer's approval permission.")
    if basis.requested_by_id == approver.pk:
        raise ValidationError("The second approver must be someone other than the requester.")
    if basis.approved_at or basis.revoked_at:
        raise ValidationError("This basis is already approved or revoked.")
    basis.approved_by, basis.approved_at = approver, timezone.now()
    basis.save(update_fields=["approved_by", "approved_at"])
    audit_record(
        actor=actor,
        action="legal_basis.approved",
        obj=basis,
        fields=["approved_by", "approved_at"],
        reason=" ".join((reason or "").split()),
    )
    return basis


@transaction.atomic
def legal_basis_revoke(*, actor: Actor, basis: LegalBasis, reason: str) -> LegalBasis:
    basis = LegalBasis.objects.select_for_update(no_key=True).get(pk=basis.pk)
    if basis.revoked_at:
        raise ValidationError("Already revoked.")
    if not reason.strip():
        raise ValidationError("Give the reason (e.g. the order was quashed).")
    basis.revoked_at, basis.revoked_by = timezone.now(), signed_in_user(actor)
    basis.revocation_reason = reason.strip()
    basis.save(update_fields=["revoked_at", "revoked_by", "revocation_reason"])
    audit_record(actor=actor, action="legal_basis.revoked", obj=basis, fields=["revoked_at"], reason=reason)
    return basis
