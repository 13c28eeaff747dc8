"""Legal bases other than consent: recording one with the evidence its kind requires, the second approver
of an imminent-threat release, and revocation.

Each kind's evidence (seed 000 F.2-F.4, seed 001): the member's own request; a contractor's or another
utility's confidentiality agreement; legal process (warrant, subpoena, court order) naming its members;
an imminent threat with a written justification, at most seven days and a second approver; an
aggregate release for usage only. The release side of each kind is in planner.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from disclosures.models import PRIMARY_PURPOSES, ConfidentialityAgreement, LegalBasis, Purpose, Recipient
from disclosures.services.categories import C, clean_categories
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import Member


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
    """Record a basis other than consent with the evidence its kind requires."""
    K = LegalBasis.Kind
    cats = clean_categories(categories)
    members = list(members)
    if kind not in K.values:
        raise ValidationError(f"Unknown basis {kind!r}.")
    if valid_until <= timezone.now():
        raise ValidationError("The basis would already have lapsed.")
    problems: list[str] = []
    if kind == K.MEMBER_REQUEST:
        if len(members) != 1:
            problems.append("A member's request covers exactly that member.")
        if not request_reference.strip():
            problems.append("Record the member's request (its reference).")
        if recipient is not None and recipient.kind not in (
            Recipient.Kind.MEMBER_DESIGNATED,
            Recipient.Kind.NON_AFFILIATED,
            Recipient.Kind.AFFILIATE,
            Recipient.Kind.OTHER_UTILITY,
        ):
            problems.append(
                "A member may direct their data to a recipient they choose, not to a contractor or law enforcement."
            )
        purpose = Purpose.MEMBER_ACCESS if recipient is None else Purpose.MEMBER_DESIGNATED
    elif kind in (K.CONTRACTOR, K.OTHER_UTILITY):
        wanted_kind = Recipient.Kind.CONTRACTOR if kind == K.CONTRACTOR else Recipient.Kind.OTHER_UTILITY
        if recipient is None or recipient.kind != wanted_kind:
            problems.append(f"This basis needs a recipient of kind {wanted_kind.label}.")
        if agreement is None or (recipient is not None and agreement.recipient_id != recipient.pk):
            problems.append("Name the recipient's confidentiality agreement (seed 000 F.2).")
        elif not set(cats) <= set(agreement.categories):
            problems.append("The agreement does not cover every requested category.")
        if kind == K.CONTRACTOR and purpose not in PRIMARY_PURPOSES - {Purpose.OPERATIONS}:
            problems.append("A contractor receives data only for a primary purpose.")
        if kind == K.OTHER_UTILITY and purpose != Purpose.OPERATIONS:
            problems.append("Another utility receives data only for operational requirements.")
    elif kind == K.LEGAL_PROCESS:
        if recipient is None or recipient.kind != Recipient.Kind.LAW_ENFORCEMENT:
            problems.append("Legal process names a law-enforcement or court recipient.")
        if process_type not in LegalBasis.ProcessType.values:
            problems.append("Say whether it is a warrant, a subpoena or a court order.")
        if not document_reference.strip() or not issuing_authority.strip() or document_date is None:
            problems.append("Record the document reference, the issuing authority and the date.")
        if not members:
            problems.append("Legal process covers the members it names (limit the scope, seed 000 F.4).")
        purpose = Purpose.LEGAL_PROCESS
    elif kind == K.IMMINENT_THREAT:
        if not justification.strip():
            problems.append("Write down the justification: the threat to life or property.")
        if not members or recipient is None:
            problems.append("Name the members concerned and the recipient.")
        if valid_until > timezone.now() + timedelta(days=7):
            problems.append("An imminent-threat basis lasts at most seven days.")
        purpose = Purpose.IMMINENT_THREAT
    elif kind == K.AGGREGATED:
        if cats != [C.USAGE]:
            problems.append("Aggregated releases cover usage data only.")
        if not description.strip():
            problems.append("Describe the analysis, reporting or program the aggregate is for.")
        purpose = Purpose.AGGREGATE_REPORTING
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
        notice_withheld=notice_withheld if kind == K.LEGAL_PROCESS else False,
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
def legal_basis_approve(*, actor: Actor, basis: LegalBasis) -> LegalBasis:
    """The second approver of an imminent-threat release: a Privacy Officer who is not the requester."""
    basis = LegalBasis.objects.select_for_update().get(pk=basis.pk)
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
    audit_record(actor=actor, action="legal_basis.approved", obj=basis, fields=["approved_by", "approved_at"])
    return basis


@transaction.atomic
def legal_basis_revoke(*, actor: Actor, basis: LegalBasis, reason: str) -> LegalBasis:
    basis = LegalBasis.objects.select_for_update().get(pk=basis.pk)
    if basis.revoked_at:
        raise ValidationError("Already revoked.")
    if not reason.strip():
        raise ValidationError("Give the reason (e.g. the order was quashed).")
    basis.revoked_at, basis.revoked_by = timezone.now(), signed_in_user(actor)
    basis.revocation_reason = reason.strip()
    basis.save(update_fields=["revoked_at", "revoked_by", "revocation_reason"])
    audit_record(actor=actor, action="legal_basis.revoked", obj=basis, fields=["revoked_at"], reason=reason)
    return basis
