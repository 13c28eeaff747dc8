"""Every write of the disclosures app, and the ONE path by which member information leaves the co-op.

``disclosure_export`` is the gate (seed 000 F, seed 001). It:

1. resolves the basis: the member's consent (per member, for this recipient, purpose and categories),
   or a ``LegalBasis`` (member's request, contractor / other utility under a confidentiality
   agreement, legal process, imminent threat with a second approver), or an approved
   ``MembershipListRequest``; aggregated data goes through ``aggregate_export``;
2. trims the data to the categories and fields the basis allows;
3. renders CSV / JSON / Green Button XML as a stream, and in the same transaction as the last chunk
   appends the hash-chained log entry (member ids, categories, basis, SHA-256 of the exact bytes sent)
   and an audit row;
4. refuses anything else, logging the refused attempt with its reason before raising
   ``DisclosureRefused``.

There is no purpose for selling, renting or exchanging member information (seed 000 F.5): ``Purpose``
has no such value and unknown purposes are refused.

Transactions: the release is logged in the transaction that reads the data. A refusal is committed
in its own transaction; callers must not wrap ``disclosure_export`` in an atomic block that they
roll back on ``DisclosureRefused`` (the refusal record would go with it). A stream abandoned half-way
(client disconnect) rolls back and is then logged as ``interrupted`` with what had been sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import BinaryField, Count, Exists, F, Max, Min, OuterRef, Q, Sum
from django.db.models.functions import Cast
from django.utils import timezone

from disclosures import rendering
from disclosures.chain import chain_append
from disclosures.models import (
    NOT_CONSENTABLE,
    PRIMARY_PURPOSES,
    SECONDARY_PURPOSES,
    ConfidentialityAgreement,
    Consent,
    DataCategory,
    DisclosureLogEntry,
    LegalBasis,
    MembershipListRequest,
    Purpose,
    Recipient,
)
from members.audit import audit_record
from members.models import Member

C = DataCategory
WRITTEN_CHANNELS = frozenset({Consent.Channel.WRITTEN, Consent.Channel.PORTAL})

# What each category releases (member-level columns; usage is exported on its own, see below).
# ``member_number`` keys every row. Identifiers outside every category (driver's licence, passport,
# alien registration, bank accounts) are never exportable.
CATEGORY_FIELDS: dict[str, tuple[str, ...]] = {
    C.CONTACT: (
        "legal_name",
        "mailing_line1",
        "mailing_line2",
        "mailing_city",
        "mailing_state",
        "mailing_postal_code",
        "phone",
        "email",
    ),
    C.BILLING: ("ssn", "tin", "date_of_birth", "credit_notes", "deposit_required"),
    C.CAPITAL: ("capital_allocated_total", "capital_retired_total"),
    C.USAGE: ("account_number", "month", "channel", "kwh"),
}
# Categories MemberGuard does not hold (surveys, services data, imaging, recordings): consent may be
# recorded for A.5/A.6, but there is nothing here to release.
NOT_HELD = frozenset({C.SURVEYS, C.SERVICES, C.IMAGING, C.RECORDINGS})
MEMBERSHIP_LIST_FIELDS = (
    "legal_name",
    "mailing_line1",
    "mailing_line2",
    "mailing_city",
    "mailing_state",
    "mailing_postal_code",
)
FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "espi": ("application/atom+xml", "xml"),
}
EXPORT_PAGE_SIZE = 5000


class DisclosureRefused(Exception):
    """The release was refused; ``entry`` is the logged refusal."""

    def __init__(self, reason: str, entry: DisclosureLogEntry | None = None):
        super().__init__(reason)
        self.reason = reason
        self.entry = entry


class _Refusal(Exception):
    pass


def _now():
    return timezone.now()


def _actor_label(actor) -> str:
    return actor.get_username() if getattr(actor, "is_authenticated", False) else "system"


def _actor(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _clean_categories(categories: Iterable[str]) -> list[str]:
    cats = sorted(set(categories))
    if not cats:
        raise ValidationError("Choose at least one data category.")
    unknown = [c for c in cats if c not in C.values]
    if unknown:
        raise ValidationError(f"Unknown data categories: {', '.join(unknown)}")
    return cats


# --- Recipients and agreements ---------------------------------------------------------------------


@transaction.atomic
def recipient_create(
    *, actor, name: str, kind: str, contact_name: str = "", contact_email: str = "", address: str = "", notes: str = ""
) -> Recipient:
    if kind not in Recipient.Kind.values:
        raise ValidationError(f"Unknown recipient kind {kind!r}.")
    if not name.strip():
        raise ValidationError("A recipient needs a name.")
    recipient = Recipient(
        name=name.strip(),
        kind=kind,
        contact_name=contact_name,
        contact_email=contact_email,
        address=address,
        notes=notes,
        created_by=_actor(actor),
    )
    recipient.full_clean()
    recipient.save()
    audit_record(
        actor=actor,
        action="disclosures.recipient_created",
        obj=recipient,
        fields=["name", "kind"],
        detail={"kind": kind},
    )
    return recipient


@transaction.atomic
def recipient_deactivate(*, actor, recipient: Recipient, reason: str) -> Recipient:
    """Stop every release to a recipient (consents and bases stay on record)."""
    recipient = Recipient.objects.select_for_update().get(pk=recipient.pk)
    if not recipient.is_active:
        raise ValidationError("The recipient is already inactive.")
    if not reason.strip():
        raise ValidationError("Give the reason (e.g. contract ended, breach).")
    recipient.is_active = False
    recipient.save(update_fields=["is_active"])
    audit_record(
        actor=actor, action="disclosures.recipient_deactivated", obj=recipient, fields=["is_active"], reason=reason
    )
    return recipient


@transaction.atomic
def agreement_record(
    *,
    actor,
    recipient: Recipient,
    reference: str,
    scope: str,
    categories: Iterable[str],
    signed_on: date,
    effective_from: date,
    expires_on: date,
    document_reference: str = "",
) -> ConfidentialityAgreement:
    cats = _clean_categories(categories)
    if expires_on < effective_from:
        raise ValidationError("The agreement expires before it takes effect.")
    if not scope.strip() or not reference.strip():
        raise ValidationError("An agreement needs a reference and the scope of the services.")
    agreement = ConfidentialityAgreement.objects.create(
        recipient=recipient,
        reference=reference.strip(),
        scope=scope.strip(),
        categories=cats,
        signed_on=signed_on,
        effective_from=effective_from,
        expires_on=expires_on,
        document_reference=document_reference,
        recorded_by=_actor(actor),
    )
    audit_record(
        actor=actor,
        action="disclosures.agreement_recorded",
        obj=agreement,
        fields=["categories", "effective_from", "expires_on"],
        detail={"recipient_id": recipient.pk, "categories": cats, "expires_on": expires_on.isoformat()},
    )
    return agreement


# --- Consents --------------------------------------------------------------------------------------


@transaction.atomic
def consent_grant(
    *,
    actor,
    member: Member,
    recipient: Recipient,
    categories: Iterable[str],
    purpose: str,
    channel: str,
    evidence: str = "",
    purpose_detail: str = "",
    expires_at: datetime | None = None,
) -> Consent:
    """Record a member's consent. Secondary purposes need written consent (seed 001): the written form or
    the member's own signed-in portal session; a phone call is recorded but cannot authorise them."""
    cats = _clean_categories(categories)
    excluded = sorted(set(cats) & NOT_CONSENTABLE)
    if excluded:
        raise ValidationError(
            f"Imaging and telephone recordings cannot be released on a member's consent (seed 000 F.1): {', '.join(excluded)}"
        )
    if purpose not in Purpose.values or purpose not in (PRIMARY_PURPOSES | SECONDARY_PURPOSES):
        raise ValidationError(f"{purpose!r} is not a purpose a member can consent to.")
    if channel not in Consent.Channel.values:
        raise ValidationError(f"Unknown consent channel {channel!r}.")
    if purpose in SECONDARY_PURPOSES and channel not in WRITTEN_CHANNELS:
        raise ValidationError(
            "A secondary purpose needs the member's written consent (written form or the member portal), not a phone call."
        )
    if channel != Consent.Channel.PORTAL and not evidence.strip():
        raise ValidationError("Record the evidence: the form reference or the call id.")
    if not recipient.is_active:
        raise ValidationError("The recipient is not active.")
    if recipient.kind == Recipient.Kind.LAW_ENFORCEMENT:
        raise ValidationError("Releases to law enforcement need legal process, not a consent record.")
    now = _now()
    if expires_at is not None and expires_at <= now:
        raise ValidationError("The consent would already be expired.")
    consent = Consent.objects.create(
        member=member,
        recipient=recipient,
        categories=cats,
        purpose=purpose,
        purpose_detail=purpose_detail,
        channel=channel,
        evidence=evidence.strip(),
        granted_at=now,
        expires_at=expires_at,
        recorded_by=_actor(actor),
    )
    audit_record(
        actor=actor,
        action="consent.granted",
        obj=consent,
        fields=["categories", "purpose", "channel", "expires_at"],
        detail={
            "member_id": member.pk,
            "recipient_id": recipient.pk,
            "categories": cats,
            "purpose": purpose,
            "channel": channel,
        },
    )
    return consent


@transaction.atomic
def consent_revoke(*, actor, consent: Consent, channel: str, reason: str = "") -> Consent:
    """Revocation keeps the record (status revoked, when and by whom) and stops the next release."""
    consent = Consent.objects.select_for_update().get(pk=consent.pk)
    if consent.revoked_at:
        raise ValidationError("This consent is already revoked.")
    if channel not in Consent.Channel.values:
        raise ValidationError(f"Unknown channel {channel!r}.")
    consent.revoked_at = _now()
    consent.revoked_by = _actor(actor)
    consent.revocation_channel = channel
    consent.save(update_fields=["revoked_at", "revoked_by", "revocation_channel"])
    audit_record(
        actor=actor,
        action="consent.revoked",
        obj=consent,
        fields=["revoked_at", "revoked_by"],
        reason=reason,
        detail={"member_id": consent.member_id, "recipient_id": consent.recipient_id, "channel": channel},
    )
    return consent


# --- Legal bases -----------------------------------------------------------------------------------


@transaction.atomic
def legal_basis_record(
    *,
    actor,
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
    cats = _clean_categories(categories)
    members = list(members)
    if kind not in K.values:
        raise ValidationError(f"Unknown basis {kind!r}.")
    if valid_until <= _now():
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
        if valid_until > _now() + timedelta(days=7):
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
        requested_by=_actor(actor),
        valid_until=valid_until,
        recorded_by=_actor(actor),
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
def legal_basis_approve(*, actor, basis: LegalBasis) -> LegalBasis:
    """The second approver of an imminent-threat release: a Privacy Officer who is not the requester."""
    basis = LegalBasis.objects.select_for_update().get(pk=basis.pk)
    if basis.kind != LegalBasis.Kind.IMMINENT_THREAT:
        raise ValidationError("Only imminent-threat releases need a second approver.")
    if not actor.has_perm("disclosures.approve_legalbasis"):
        raise PermissionDenied("Approving needs the Privacy Officer's approval permission.")
    if basis.requested_by_id == actor.pk:
        raise ValidationError("The second approver must be someone other than the requester.")
    if basis.approved_at or basis.revoked_at:
        raise ValidationError("This basis is already approved or revoked.")
    basis.approved_by, basis.approved_at = actor, _now()
    basis.save(update_fields=["approved_by", "approved_at"])
    audit_record(actor=actor, action="legal_basis.approved", obj=basis, fields=["approved_by", "approved_at"])
    return basis


@transaction.atomic
def legal_basis_revoke(*, actor, basis: LegalBasis, reason: str) -> LegalBasis:
    basis = LegalBasis.objects.select_for_update().get(pk=basis.pk)
    if basis.revoked_at:
        raise ValidationError("Already revoked.")
    if not reason.strip():
        raise ValidationError("Give the reason (e.g. the order was quashed).")
    basis.revoked_at, basis.revoked_by, basis.revocation_reason = _now(), _actor(actor), reason.strip()
    basis.save(update_fields=["revoked_at", "revoked_by", "revocation_reason"])
    audit_record(actor=actor, action="legal_basis.revoked", obj=basis, fields=["revoked_at"], reason=reason)
    return basis


# --- Membership lists (seed 000 G) ------------------------------------------------------------------


@transaction.atomic
def membership_list_request_create(*, actor, requester: Member, purpose: str) -> MembershipListRequest:
    if not purpose.strip():
        raise ValidationError("A membership-list request states its purpose (e.g. a board election petition).")
    if requester.status != Member.Status.ACTIVE:
        raise ValidationError("Only an active member may request the membership list.")
    request = MembershipListRequest.objects.create(
        requester=requester, purpose=purpose.strip(), recorded_by=_actor(actor)
    )
    audit_record(
        actor=actor,
        action="membership_list.requested",
        obj=request,
        fields=["purpose"],
        detail={"member_id": requester.pk},
    )
    return request


@transaction.atomic
def membership_list_request_decide(
    *, actor, request: MembershipListRequest, approve: bool, note: str, valid_days: int = 30
) -> MembershipListRequest:
    request = MembershipListRequest.objects.select_for_update().get(pk=request.pk)
    if not actor.has_perm("disclosures.approve_membershiplistrequest"):
        raise PermissionDenied("Only the Privacy Officer decides membership-list requests.")
    if request.status != MembershipListRequest.Status.PENDING:
        raise ValidationError("This request has already been decided.")
    if request.requester.user_id and request.requester.user_id == actor.pk:
        raise ValidationError("A requester cannot approve their own request.")
    if not note.strip():
        raise ValidationError("Record why the purpose is (or is not) proper.")
    request.status = MembershipListRequest.Status.APPROVED if approve else MembershipListRequest.Status.DENIED
    request.decided_by, request.decided_at, request.decision_note = actor, _now(), note.strip()
    request.valid_until = _now() + timedelta(days=valid_days) if approve else None
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "valid_until"])
    audit_record(
        actor=actor,
        action=f"membership_list.{'approved' if approve else 'denied'}",
        obj=request,
        fields=["status"],
        reason=note,
    )
    return request


@transaction.atomic
def membership_list_request_withdraw(
    *, actor, request: MembershipListRequest, reason: str = ""
) -> MembershipListRequest:
    request = MembershipListRequest.objects.select_for_update().get(pk=request.pk)
    if request.status not in (MembershipListRequest.Status.PENDING, MembershipListRequest.Status.APPROVED):
        raise ValidationError("Only a pending or approved request can be withdrawn.")
    request.status = MembershipListRequest.Status.WITHDRAWN
    request.save(update_fields=["status"])
    audit_record(actor=actor, action="membership_list.withdrawn", obj=request, fields=["status"], reason=reason)
    return request


# --- The export gate --------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What a resolved basis allows: who, what, on which reference."""

    basis_kind: str
    basis_ref: str
    purpose: str
    recipient: Recipient | None
    recipient_label: str
    categories: list[str]
    fields: list[str]
    member_ids: list[int] | None  # explicit list; None = all members the consents cover
    notice_withheld: bool = False
    consent_gate: dict | None = None  # filters for the per-member consent join
    on_release: Callable[[], None] | None = None


@dataclass
class Export:
    """A release in progress: iterate ``chunks()`` once (e.g. into a StreamingHttpResponse)."""

    filename: str
    content_type: str
    _chunks: Iterator[bytes]
    entry: DisclosureLogEntry | None = None
    member_ids: list[int] = field(default_factory=list)

    def chunks(self) -> Iterator[bytes]:
        return self._chunks

    def read_all(self) -> bytes:
        """For small exports and tests only: the whole file in memory."""
        return b"".join(self._chunks)


def _active_consents(*, recipient: Recipient, purpose: str, categories: list[str]):
    now = _now()
    queryset = Consent.objects.filter(
        recipient=recipient,
        purpose=purpose,
        revoked_at__isnull=True,
        categories__contains=categories,
        granted_at__lte=now,
    ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    if purpose in SECONDARY_PURPOSES:
        queryset = queryset.filter(channel__in=WRITTEN_CHANNELS)
    return queryset


def _consent_status_reason(
    *, recipient, purpose, categories, member_ids: list[int], consent_id: int | None = None
) -> str:
    """Why the consent gate fails, in words an auditor can act on (revoked / expired / narrower / none)."""
    any_consent = Consent.objects.filter(recipient=recipient, member_id__in=member_ids).order_by("-granted_at")
    if consent_id is not None:
        any_consent = any_consent.filter(pk=consent_id)
    now = _now()
    reasons = []
    for consent in any_consent[:5]:
        if consent.revoked_at:
            reasons.append(f"consent #{consent.pk} was revoked {consent.revoked_at:%Y-%m-%d}")
        elif consent.expires_at and consent.expires_at <= now:
            reasons.append(f"consent #{consent.pk} expired {consent.expires_at:%Y-%m-%d}")
        elif consent.purpose != purpose:
            reasons.append(f"consent #{consent.pk} is for another purpose ({consent.purpose})")
        elif not set(categories) <= set(consent.categories):
            reasons.append(
                f"consent #{consent.pk} does not cover {', '.join(sorted(set(categories) - set(consent.categories)))}"
            )
        elif purpose in SECONDARY_PURPOSES and consent.channel not in WRITTEN_CHANNELS:
            reasons.append(f"consent #{consent.pk} was by phone; a secondary purpose needs written consent")
    return "; ".join(reasons) or "no consent on record"


def _check_fields(categories: list[str], fields: Iterable[str] | None) -> list[str]:
    allowed = ["member_number"] + [f for c in categories for f in CATEGORY_FIELDS.get(c, ())]
    if fields is None:
        return allowed
    wanted = list(dict.fromkeys(["member_number", *fields]))
    outside = [f for f in wanted if f not in allowed]
    if outside:
        raise _Refusal(f"fields outside the allowed categories: {', '.join(outside)}")
    return wanted


def _plan_release(
    *,
    basis,
    recipient: Recipient | None,
    categories: list[str],
    purpose: str,
    member_ids: list[int] | None,
    fields,
    format: str,
) -> _Plan:
    """Resolve the basis or raise _Refusal(reason). Pure checks, no writes."""
    if purpose not in Purpose.values:
        raise _Refusal(
            f"unknown purpose {purpose!r}: there is no purpose for selling, renting or exchanging member information"
        )
    if format not in FORMATS:
        raise _Refusal(f"unknown format {format!r}")
    not_held = sorted(set(categories) & NOT_HELD)
    if not_held:
        raise _Refusal(f"categories not held in MemberGuard cannot be exported: {', '.join(not_held)}")
    if C.USAGE in categories and len(categories) > 1:
        raise _Refusal("usage data is exported on its own, not combined with other categories")
    if format == "espi" and categories != [C.USAGE]:
        raise _Refusal("Green Button XML carries usage data only")
    if recipient is not None:
        recipient.refresh_from_db(fields=["is_active", "kind", "name"])  # a deactivation seconds ago counts
        if not recipient.is_active:
            raise _Refusal("the recipient is not active")
    now = _now()
    label = recipient.name if recipient else ""

    if basis is None or isinstance(basis, Consent):
        # Consent: the member's own, per member (seed 000 F.1, F.5; seed 001 written consent).
        if recipient is None:
            raise _Refusal("a consent-based release names its recipient")
        if purpose in (
            Purpose.LEGAL_PROCESS,
            Purpose.IMMINENT_THREAT,
            Purpose.AGGREGATE_REPORTING,
            Purpose.MEMBERSHIP_LIST,
            Purpose.MEMBER_ACCESS,
        ):
            raise _Refusal(f"purpose {purpose} is not released on consent")
        if isinstance(basis, Consent):
            consent = basis
            consent.refresh_from_db()
            if consent.recipient_id != recipient.pk:
                raise _Refusal(f"consent #{consent.pk} is for another recipient")
            if member_ids is not None and set(member_ids) != {consent.member_id}:
                raise _Refusal(f"consent #{consent.pk} covers member {consent.member_id} only")
            ok = (
                _active_consents(recipient=recipient, purpose=purpose, categories=categories)
                .filter(pk=consent.pk)
                .exists()
            )
            if not ok:
                raise _Refusal(
                    _consent_status_reason(
                        recipient=recipient,
                        purpose=purpose,
                        categories=categories,
                        member_ids=[consent.member_id],
                        consent_id=consent.pk,
                    )
                )
            return _Plan(
                "consent",
                f"consent:{consent.pk}",
                purpose,
                recipient,
                label,
                categories,
                _check_fields(categories, fields),
                [consent.member_id],
            )
        gate = {"recipient": recipient, "purpose": purpose, "categories": categories}
        if member_ids is not None:
            covered = set(_active_consents(**gate).filter(member_id__in=member_ids).values_list("member_id", flat=True))
            missing = sorted(set(member_ids) - covered)
            if missing:
                shown = ", ".join(str(m) for m in missing[:20])
                why = _consent_status_reason(member_ids=missing, **gate)
                raise _Refusal(
                    f"{len(missing)} of {len(set(member_ids))} members have no valid consent (members {shown}{'...' if len(missing) > 20 else ''}): {why}"
                )
        return _Plan(
            "consent",
            f"consent:recipient={recipient.pk},purpose={purpose}",
            purpose,
            recipient,
            label,
            categories,
            _check_fields(categories, fields),
            member_ids,
            consent_gate=gate,
        )

    if isinstance(basis, MembershipListRequest):
        request = MembershipListRequest.objects.select_related("requester").get(pk=basis.pk)
        if request.status == MembershipListRequest.Status.WITHDRAWN:
            raise _Refusal(f"membership-list request #{request.pk} was withdrawn")
        if request.status != MembershipListRequest.Status.APPROVED:
            raise _Refusal(
                f"membership-list request #{request.pk} is {request.status}, not approved by the Privacy Officer"
            )
        if request.valid_until and request.valid_until <= now:
            raise _Refusal(
                f"the approval of membership-list request #{request.pk} expired {request.valid_until:%Y-%m-%d}"
            )
        if categories != [C.CONTACT]:
            raise _Refusal("a membership list carries contact information only")
        wanted = list(fields) if fields is not None else list(MEMBERSHIP_LIST_FIELDS)
        if not set(wanted) <= set(MEMBERSHIP_LIST_FIELDS):
            raise _Refusal("a membership list is limited to names and mailing addresses (seed 000 G)")

        def _mark_released():
            MembershipListRequest.objects.filter(pk=request.pk).update(
                status=MembershipListRequest.Status.RELEASED, released_at=_now()
            )

        return _Plan(
            "membership_list",
            f"membership_list:{request.pk}",
            Purpose.MEMBERSHIP_LIST,
            None,
            f"member {request.requester.member_number} (membership list)",
            categories,
            wanted,
            member_ids,
            consent_gate=None,
            on_release=_mark_released,
        )

    if not isinstance(basis, LegalBasis):
        raise _Refusal("no basis for this release")
    lb = LegalBasis.objects.select_related("agreement", "recipient").get(pk=basis.pk)
    K = LegalBasis.Kind
    ref = f"legal_basis:{lb.pk} {lb.kind}"
    if lb.kind == K.LEGAL_PROCESS:
        ref += f" {lb.process_type} {lb.document_reference} ({lb.issuing_authority}, {lb.document_date})"
    if lb.revoked_at:
        raise _Refusal(f"{ref}: revoked {lb.revoked_at:%Y-%m-%d}: {lb.revocation_reason}")
    if lb.valid_until <= now:
        raise _Refusal(f"{ref}: expired {lb.valid_until:%Y-%m-%d}")
    if lb.valid_from > now:
        raise _Refusal(f"{ref}: not yet valid")
    if lb.kind == K.AGGREGATED:
        raise _Refusal("aggregated data is released through aggregate_export, never member by member")
    if lb.recipient_id != (recipient.pk if recipient else None):
        raise _Refusal(f"{ref}: is for another recipient")
    if not set(categories) <= set(lb.categories):
        raise _Refusal(f"{ref}: does not cover {', '.join(sorted(set(categories) - set(lb.categories)))}")
    if lb.kind in (K.CONTRACTOR, K.OTHER_UTILITY):
        agreement = lb.agreement
        if agreement is None or not agreement.in_force(timezone.localdate()):
            raise _Refusal(
                f"{ref}: the confidentiality agreement {agreement.reference if agreement else ''} is not in force (expired {agreement.expires_on if agreement else '-'})"
            )
        if not set(categories) <= set(agreement.categories):
            raise _Refusal(
                f"{ref}: the agreement {agreement.reference} does not cover {', '.join(sorted(set(categories) - set(agreement.categories)))}"
            )
        if purpose != lb.purpose:
            raise _Refusal(f"{ref}: is for {lb.purpose}, not {purpose}")
        ref += f" agreement {agreement.reference}"
    else:
        if lb.kind == K.IMMINENT_THREAT and (not lb.approved_at or lb.approved_by_id == lb.requested_by_id):
            raise _Refusal(f"{ref}: awaiting the second approver")
        scope = set(lb.members.values_list("pk", flat=True))
        if member_ids is None:
            member_ids = sorted(scope)
        outside = sorted(set(member_ids) - scope)
        if outside:
            raise _Refusal(f"{ref}: does not cover members {', '.join(map(str, outside[:20]))}")
        if purpose != lb.purpose:
            raise _Refusal(f"{ref}: is for {lb.purpose}, not {purpose}")
    if member_ids is None:
        raise _Refusal(f"{ref}: name the members to release")
    return _Plan(
        lb.kind,
        ref,
        purpose,
        recipient,
        label or "the member (own request)",
        categories,
        _check_fields(categories, fields),
        list(member_ids),
        notice_withheld=lb.notice_withheld,
    )


def _log_refusal(*, actor, recipient, basis, categories, purpose, member_ids, format, reason) -> DisclosureLogEntry:
    basis_kind, basis_ref = "", ""
    if isinstance(basis, Consent):
        basis_kind, basis_ref = "consent", f"consent:{basis.pk}"
    elif isinstance(basis, LegalBasis):
        basis_kind, basis_ref = basis.kind, f"legal_basis:{basis.pk}"
    elif isinstance(basis, MembershipListRequest):
        basis_kind, basis_ref = "membership_list", f"membership_list:{basis.pk}"
    elif basis is None:
        basis_kind = "consent"
    with transaction.atomic():
        entry = chain_append(
            actor=_actor(actor),
            actor_label=_actor_label(actor),
            outcome=DisclosureLogEntry.Outcome.REFUSED,
            recipient=recipient,
            recipient_label=recipient.name if recipient else "",
            basis_kind=basis_kind,
            basis_ref=basis_ref,
            purpose=str(purpose or "")[:20],
            member_ids=sorted(set(member_ids or [])),
            categories=[str(c) for c in categories],
            fields=[],
            format=str(format)[:10],
            reason=reason,
        )
        audit_record(
            actor=actor,
            action="disclosure.refused",
            object_type="disclosures.disclosurelogentry",
            object_id=entry.seq,
            reason=reason,
            detail={"recipient_id": recipient.pk if recipient else None, "basis_kind": basis_kind},
        )
    return entry


def disclosure_export(
    *,
    actor,
    recipient: Recipient | None,
    categories: Iterable[str],
    purpose: str,
    basis: Consent | LegalBasis | MembershipListRequest | None = None,
    member_ids: Iterable[int] | None = None,
    fields: Iterable[str] | None = None,
    format: str = "csv",
    usage_start: date | None = None,
    usage_end: date | None = None,
) -> Export:
    """THE export path. Returns a streaming ``Export`` or raises ``DisclosureRefused`` (already logged).

    ``basis=None`` means the members' consents: every member released must hold an active consent to
    this recipient for this purpose covering every category; with ``member_ids=None`` the release is
    exactly the members who hold one (e.g. the members who opted in to a partner's program).
    """
    member_list = sorted({int(m) for m in member_ids}) if member_ids is not None else None
    try:
        cats = _clean_categories(categories)
    except ValidationError as exc:
        raise DisclosureRefused(
            "; ".join(exc.messages),
            _log_refusal(
                actor=actor,
                recipient=recipient,
                basis=basis,
                categories=[],
                purpose=purpose,
                member_ids=member_list,
                format=format,
                reason="; ".join(exc.messages),
            ),
        ) from None
    try:
        plan = _plan_release(
            basis=basis,
            recipient=recipient,
            categories=cats,
            purpose=purpose,
            member_ids=member_list,
            fields=list(fields) if fields is not None else None,
            format=format,
        )
    except _Refusal as refusal:
        reason = str(refusal)
        entry = _log_refusal(
            actor=actor,
            recipient=recipient,
            basis=basis,
            categories=cats,
            purpose=purpose,
            member_ids=member_list,
            format=format,
            reason=reason,
        )
        raise DisclosureRefused(reason, entry) from None
    content_type, extension = FORMATS[format]
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    export = Export(
        filename=f"memberguard-{plan.basis_kind}-{stamp}.{extension}", content_type=content_type, _chunks=iter(())
    )
    export._chunks = _stream_release(
        export, plan=plan, actor=actor, format=format, usage_start=usage_start, usage_end=usage_end
    )
    return export


def _members_queryset(plan: _Plan):
    queryset = Member.objects.all()
    if plan.member_ids is not None:
        queryset = queryset.filter(pk__in=plan.member_ids)
    if plan.consent_gate is not None:
        consents = _active_consents(**plan.consent_gate).filter(member=OuterRef("pk"))
        queryset = queryset.filter(Exists(consents))
    if plan.basis_kind == "membership_list" and plan.member_ids is None:
        queryset = queryset.filter(status=Member.Status.ACTIVE)
    return queryset.order_by("pk")


def _encrypted_field_names() -> frozenset[str]:
    from fernet_fields.fields import EncryptedField

    return frozenset(f.name for f in Member._meta.fields if isinstance(f, EncryptedField))


def _member_rows(plan: _Plan, sink: list[int]) -> Iterator[list]:
    """Rows of the released fields, a page at a time.

    Only the columns released are read, so fields outside the categories are never even decrypted.
    Encrypted columns are fetched as raw Fernet tokens and decrypted a page at a time
    (members/fernet_bulk.py: one AES call and one XOR per page), which is what lets a
    100,000-member export run at thousands of members a second.
    """
    from members import crypto
    from members.fernet_bulk import decrypt_page

    queryset = _members_queryset(plan)
    if "capital_allocated_total" in plan.fields or "capital_retired_total" in plan.fields:
        queryset = queryset.annotate(
            capital_allocated_total=Sum("capital_credits__allocated_amount"),
            capital_retired_total=Sum("capital_credits__retired_amount"),
        )
    encrypted = _encrypted_field_names()
    columns: list = []
    for name in plan.fields:
        columns.append(Cast(name, output_field=BinaryField()) if name in encrypted else F(name))
    values = queryset.values_list("pk", *columns)
    encrypted_positions = [
        (index, Member._meta.get_field(name)) for index, name in enumerate(plan.fields) if name in encrypted
    ]
    keys = crypto.derived_fernet_keys()
    # Keyset pagination (pk > last, LIMIT n): memory stays at one page whatever the export's size, and
    # unlike a server-side cursor nothing is left open if the download is abandoned half-way.
    last_pk = 0
    while True:
        page = list(values.filter(pk__gt=last_pk)[:EXPORT_PAGE_SIZE])
        rows = [list(row[1:]) for row in page]
        if encrypted_positions:
            tokens = [bytes(row[index]) for row in rows for index, _ in encrypted_positions if row[index] is not None]
            plaintexts = iter(decrypt_page(keys, tokens))
            for row in rows:
                for index, model_field in encrypted_positions:
                    if row[index] is not None:
                        row[index] = model_field.to_python(next(plaintexts).decode())
        for source, row in zip(page, rows, strict=True):
            sink.append(source[0])
            yield row
        if len(page) < EXPORT_PAGE_SIZE:
            return
        last_pk = page[-1][0]


def _usage_rows(plan: _Plan, sink: list[int], *, start: date | None, end: date | None) -> Iterator[list]:
    """Monthly kWh per account and channel (CSV/JSON usage exports), from the usage app's selector."""
    from accounts.models import Account
    from accounts.usage.selectors import monthly_totals_for_accounts

    today = timezone.localdate()
    start_month = (start or date(today.year - 1, today.month, 1)).replace(day=1)
    end_month = (end or today).replace(day=1)
    members = list(_members_queryset(plan).values_list("pk", flat=True))
    accounts = {
        a.pk: a
        for a in Account.objects.filter(member_id__in=members)
        .select_related("member")
        .only("pk", "account_number", "member__member_number")
    }
    sink.extend(members)
    for account_id, month, channel, wh in monthly_totals_for_accounts(
        account_ids=list(accounts), start_month=start_month, end_month=end_month
    ):
        account = accounts[account_id]
        yield [
            account.member.member_number,
            account.account_number,
            month,
            channel,
            (Decimal(wh) / 1000).quantize(Decimal("0.001")),
        ]


def _espi_points(plan: _Plan, sink: list[int], *, start: date | None, end: date | None) -> Iterator[dict]:
    """One usage point per account and channel (energy received only where the premise has solar)."""
    from accounts.models import Account
    from accounts.usage.selectors import espi_usage_points

    today = timezone.localdate()
    start_day = start or today - timedelta(days=30)
    end_day = end or today + timedelta(days=1)
    members = list(_members_queryset(plan).values_list("pk", flat=True))
    sink.extend(members)
    for account in Account.objects.filter(member_id__in=members).order_by("pk"):
        yield from espi_usage_points(account=account, start=start_day, end=end_day)


def _stream_release(export: Export, *, plan: _Plan, actor, format: str, usage_start, usage_end) -> Iterator[bytes]:
    digest = hashlib.sha256()
    released: list[int] = []
    rows_sent = 0
    finished = False
    try:
        with transaction.atomic():
            if format == "espi":
                chunks = rendering.render_espi(
                    _espi_points(plan, released, start=usage_start, end=usage_end),
                    base_url=settings.SITE_URL,
                    now=_now(),
                )
            else:
                if plan.categories == [C.USAGE]:
                    header = ["member_number", *CATEGORY_FIELDS[C.USAGE]]
                    rows = _usage_rows(plan, released, start=usage_start, end=usage_end)
                else:
                    header = list(plan.fields)
                    rows = _member_rows(plan, released)

                def counted(rows=rows):
                    nonlocal rows_sent
                    for row in rows:
                        rows_sent += 1
                        yield row

                if format == "csv":
                    chunks = rendering.render_csv(header, counted())
                else:
                    chunks = rendering.render_json(
                        header,
                        counted(),
                        meta={
                            "basis": plan.basis_ref,
                            "recipient": plan.recipient_label,
                            "categories": plan.categories,
                        },
                    )
            try:
                for chunk in chunks:
                    digest.update(chunk)
                    yield chunk
            finally:
                # Close the renderer (and with it the row generators and their server-side cursor) while
                # the transaction that declared the cursor is still open.
                chunks.close()
            basis_ref = plan.basis_ref
            if plan.consent_gate is not None and released:
                # Which consent records authorised this release, read in the same transaction.
                authorising = _active_consents(**plan.consent_gate)
                if plan.member_ids is not None:
                    authorising = authorising.filter(member_id__in=plan.member_ids)
                consents = authorising.aggregate(low=Min("pk"), high=Max("pk"), n=Count("pk"))
                if consents["n"]:
                    basis_ref += (
                        f" consent:{consents['low']}"
                        if consents["n"] == 1
                        else f" consents {consents['low']}..{consents['high']} ({consents['n']})"
                    )
            entry = chain_append(
                actor=_actor(actor),
                actor_label=_actor_label(actor),
                outcome=DisclosureLogEntry.Outcome.RELEASED,
                recipient=plan.recipient,
                recipient_label=plan.recipient_label,
                basis_kind=plan.basis_kind,
                basis_ref=basis_ref[:300],
                purpose=plan.purpose,
                member_ids=released,
                categories=plan.categories,
                fields=plan.fields if format != "espi" else ["interval_readings"],
                format=format,
                row_count=rows_sent,
                file_sha256=digest.hexdigest(),
                notice_withheld=plan.notice_withheld,
            )
            audit_record(
                actor=actor,
                action="disclosure.released",
                object_type="disclosures.disclosurelogentry",
                object_id=entry.seq,
                fields=plan.fields,
                detail={
                    "recipient_id": plan.recipient.pk if plan.recipient else None,
                    "basis_kind": plan.basis_kind,
                    "member_count": len(released),
                    "categories": plan.categories,
                },
            )
            if plan.on_release:
                plan.on_release()
            export.entry = entry
            export.member_ids = released
            finished = True
    finally:
        if not finished:
            # The transfer stopped part-way (client went away, or an error): the bytes already sent are
            # out of our hands, so say so on the log.
            with transaction.atomic():
                interrupted = chain_append(
                    actor=_actor(actor),
                    actor_label=_actor_label(actor),
                    outcome=DisclosureLogEntry.Outcome.INTERRUPTED,
                    recipient=plan.recipient,
                    recipient_label=plan.recipient_label,
                    basis_kind=plan.basis_kind,
                    basis_ref=plan.basis_ref[:300],
                    purpose=plan.purpose,
                    member_ids=released,
                    categories=plan.categories,
                    fields=plan.fields,
                    format=format,
                    row_count=rows_sent,
                    file_sha256=digest.hexdigest(),
                    notice_withheld=plan.notice_withheld,
                    reason="transfer interrupted before completion; members listed may have been partly sent",
                )
                audit_record(
                    actor=actor,
                    action="disclosure.interrupted",
                    object_type="disclosures.disclosurelogentry",
                    object_id=interrupted.seq,
                    fields=plan.fields,
                    detail={"member_count": len(released), "basis_kind": plan.basis_kind},
                )


def membership_list_export(*, actor, request: MembershipListRequest, format: str = "csv") -> Export:
    """Seed 000 G: the approved list, names and mailing addresses of active members only, logged."""
    return disclosure_export(
        actor=actor,
        recipient=None,
        categories=[C.CONTACT],
        purpose=Purpose.MEMBERSHIP_LIST,
        basis=request,
        format=format,
    )


# --- Aggregated data (seed 000 D.2, F.3; seed 001) ---------------------------------------------------


def aggregation_problems(
    groups: dict[str, dict[int, Decimal | int | float]],
    *,
    min_members: int | None = None,
    max_share_percent: int | None = None,
) -> list[str]:
    """Every group that fails the aggregation standard, with why. Empty list = releasable."""
    min_members = settings.AGGREGATION_MIN_MEMBERS if min_members is None else min_members
    max_share = (
        Decimal(settings.AGGREGATION_MAX_SHARE_PERCENT if max_share_percent is None else max_share_percent) / 100
    )
    problems = []
    if not groups:
        problems.append("there are no groups to release")
    for name, contributions in groups.items():
        members = len(contributions)
        total = sum((Decimal(str(v)) for v in contributions.values()), Decimal(0))
        if members < min_members:
            problems.append(f"group {name!r} has {members} members; the standard needs at least {min_members}")
            continue
        if total > 0:
            largest = max(Decimal(str(v)) for v in contributions.values())
            if largest / total > max_share:
                problems.append(
                    f"group {name!r}: one member contributes {largest / total:.0%} of the total; the standard allows at most {max_share:.0%}"
                )
    return problems


def aggregate_export(
    *,
    actor,
    basis: LegalBasis,
    recipient: Recipient | None,
    groups: dict[str, dict[int, Decimal | int | float]],
    metric: str = "kwh",
    format: str = "csv",
) -> Export:
    """Release group totals only when every group meets the standard; otherwise refuse, logged, with the
    reason (never a silent partial release)."""
    basis = LegalBasis.objects.get(pk=basis.pk)
    now = _now()
    reason = ""
    if basis.kind != LegalBasis.Kind.AGGREGATED:
        reason = "aggregate releases need an aggregated-data basis"
    elif basis.revoked_at:
        reason = f"legal_basis:{basis.pk} revoked {basis.revoked_at:%Y-%m-%d}"
    elif basis.valid_until <= now:
        reason = f"legal_basis:{basis.pk} expired {basis.valid_until:%Y-%m-%d}"
    elif basis.recipient_id != (recipient.pk if recipient else None):
        reason = f"legal_basis:{basis.pk} is for another recipient"
    elif format not in ("csv", "json"):
        reason = f"unknown format {format!r}"
    else:
        problems = aggregation_problems(groups)
        if problems:
            reason = "aggregation standard not met: " + "; ".join(problems)
    if reason:
        entry = _log_refusal(
            actor=actor,
            recipient=recipient,
            basis=basis,
            categories=[C.USAGE],
            purpose=Purpose.AGGREGATE_REPORTING,
            member_ids=[],
            format=format,
            reason=reason,
        )
        raise DisclosureRefused(reason, entry)
    rows = []
    for name in sorted(groups):
        contributions = groups[name]
        total = sum((Decimal(str(v)) for v in contributions.values()), Decimal(0))
        rows.append([name, len(contributions), total, (total / len(contributions)).quantize(Decimal("0.001"))])
    header = ["group", "members", f"total_{metric}", f"mean_{metric}"]
    member_count = sum(len(c) for c in groups.values())

    def _stream() -> Iterator[bytes]:
        digest = hashlib.sha256()
        with transaction.atomic():
            chunks = (
                rendering.render_csv(header, rows)
                if format == "csv"
                else rendering.render_json(header, rows, meta={"basis": f"legal_basis:{basis.pk}"})
            )
            for chunk in chunks:
                digest.update(chunk)
                yield chunk
            entry = chain_append(
                actor=_actor(actor),
                actor_label=_actor_label(actor),
                outcome=DisclosureLogEntry.Outcome.RELEASED,
                recipient=recipient,
                recipient_label=recipient.name if recipient else "",
                basis_kind=LegalBasis.Kind.AGGREGATED,
                basis_ref=f"legal_basis:{basis.pk} aggregated",
                purpose=Purpose.AGGREGATE_REPORTING,
                member_ids=[],
                member_count=member_count,
                categories=[C.USAGE],
                fields=header,
                format=format,
                row_count=len(rows),
                file_sha256=digest.hexdigest(),
            )
            audit_record(
                actor=actor,
                action="disclosure.released",
                object_type="disclosures.disclosurelogentry",
                object_id=entry.seq,
                fields=header,
                detail={"legal_basis_id": basis.pk, "groups": len(rows), "member_count": member_count},
            )
            export.entry = entry

    export = Export(
        filename=f"memberguard-aggregate-{timezone.localtime():%Y%m%d-%H%M%S}.{format}",
        content_type=FORMATS[format][0],
        _chunks=iter(()),
    )
    export._chunks = _stream()
    return export


# --- Chain verification with an anchor on the audit trail --------------------------------------------


def chain_verification_record(*, actor=None, actor_label: str = ""):
    """Verify the chain (against the head anchored by the previous run) and anchor the current head.

    The head (sequence number and hash) goes into an ``AuditEvent``: a second append-only table, so
    truncating or rewriting the log afterwards disagrees with a head that someone would also have to
    remove from the audit trail. Returns the ``ChainReport``.
    """
    from disclosures.chain import verify_chain
    from members.models import AuditEvent

    previous = (
        AuditEvent.objects.filter(action="disclosures.chain_verified", detail__ok=True)
        .order_by("-at", "-id")
        .values_list("detail", flat=True)
        .first()
    )
    expect = (
        (int(previous["head_seq"]), previous["head_hash"].replace(":", ""))
        if previous and previous.get("head_seq")
        else None
    )
    report = verify_chain(expect_head=expect)
    with transaction.atomic():
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="disclosures.chain_verified",
            object_type="disclosures.chainhead",
            object_id=1,
            detail={
                "ok": report.ok,
                "entries": report.entries,
                "head_seq": report.head_seq,
                # Grouped by four so no run of digits looks like an SSN to the audit guard.
                "head_hash": ":".join(report.head_hash[i : i + 4] for i in range(0, 64, 4)),
                "problems": len(report.problems),
            },
            reason="; ".join(report.problems[:5]),
        )
    return report


# --- Auditor exports --------------------------------------------------------------------------------


def auditor_csv_export(
    *, actor, kind: str, header: list[str], rows: Iterable[Iterable], filters: dict
) -> Iterator[bytes]:
    """The auditor pages' CSV downloads. They carry ids, never plaintext identifiers, and are themselves
    recorded: an audit row plus a chained log entry (recipient: the auditor) in the same transaction."""
    digest = hashlib.sha256()
    count = 0
    with transaction.atomic():
        for chunk in rendering.render_csv(header, rows):
            digest.update(chunk)
            count += chunk.count(b"\r\n")
            yield chunk
        entry = chain_append(
            actor=_actor(actor),
            actor_label=_actor_label(actor),
            outcome=DisclosureLogEntry.Outcome.RELEASED,
            recipient=None,
            recipient_label=f"auditor {_actor_label(actor)}",
            basis_kind="audit_review",
            basis_ref=f"auditor export: {kind}",
            purpose=Purpose.LEGAL_AUDIT,
            member_ids=[],
            categories=[],
            fields=header,
            format="csv",
            row_count=max(count - 1, 0),
            file_sha256=digest.hexdigest(),
        )
        audit_record(
            actor=actor,
            action="audit.export",
            object_type="disclosures.disclosurelogentry",
            object_id=entry.seq,
            fields=header,
            detail={"kind": kind, "filters": sorted(filters)},
        )
