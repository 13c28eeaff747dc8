"""The export planner: which basis allows this release, and to whom, of what, on which reference.

``plan_release`` reads and checks; it never writes. It returns a ``Plan`` or raises ``Refusal`` with the
reason an auditor reads on the log (export.py logs it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils import timezone

from disclosures.models import Consent, LegalBasis, MembershipListRequest, Purpose, Recipient
from disclosures.services.categories import CATEGORY_FIELDS, MEMBERSHIP_LIST_FIELDS, C
from disclosures.services.consents import active_consents, consent_status_reason


class Refusal(Exception):
    """Raised by the planner; the export gate logs it and raises ``DisclosureRefused``."""


@dataclass
class Plan:
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


def check_fields(categories: list[str], fields: Iterable[str] | None) -> list[str]:
    allowed = ["member_number"] + [f for c in categories for f in CATEGORY_FIELDS.get(c, ())]
    if fields is None:
        return allowed
    wanted = list(dict.fromkeys(["member_number", *fields]))
    outside = [f for f in wanted if f not in allowed]
    if outside:
        raise Refusal(f"fields outside the allowed categories: {', '.join(outside)}")
    return wanted


def plan_release(
    *,
    basis,
    recipient: Recipient | None,
    categories: list[str],
    purpose: str,
    member_ids: list[int] | None,
    fields: list[str] | None,
) -> Plan:
    """Resolve the basis or raise Refusal(reason). Pure checks, no writes.

    The request itself (purpose, format, categories held, recipient active) was checked by the gate first.
    """
    now = timezone.now()
    label = recipient.name if recipient else ""

    if basis is None or isinstance(basis, Consent):
        # Consent: the member's own, per member (seed 000 F.1, F.5; seed 001 written consent).
        if recipient is None:
            raise Refusal("a consent-based release names its recipient")
        if purpose in (
            Purpose.LEGAL_PROCESS,
            Purpose.IMMINENT_THREAT,
            Purpose.AGGREGATE_REPORTING,
            Purpose.MEMBERSHIP_LIST,
            Purpose.MEMBER_ACCESS,
        ):
            raise Refusal(f"purpose {purpose} is not released on consent")
        if isinstance(basis, Consent):
            consent = basis
            consent.refresh_from_db()
            if consent.recipient_id != recipient.pk:
                raise Refusal(f"consent #{consent.pk} is for another recipient")
            if member_ids is not None and set(member_ids) != {consent.member_id}:
                raise Refusal(f"consent #{consent.pk} covers member {consent.member_id} only")
            ok = (
                active_consents(recipient=recipient, purpose=purpose, categories=categories)
                .filter(pk=consent.pk)
                .exists()
            )
            if not ok:
                raise Refusal(
                    consent_status_reason(
                        recipient=recipient,
                        purpose=purpose,
                        categories=categories,
                        member_ids=[consent.member_id],
                        consent_id=consent.pk,
                    )
                )
            return Plan(
                "consent",
                f"consent:{consent.pk}",
                purpose,
                recipient,
                label,
                categories,
                check_fields(categories, fields),
                [consent.member_id],
            )
        gate = {"recipient": recipient, "purpose": purpose, "categories": categories}
        if member_ids is not None:
            covered = set(active_consents(**gate).filter(member_id__in=member_ids).values_list("member_id", flat=True))
            missing = sorted(set(member_ids) - covered)
            if missing:
                shown = ", ".join(str(m) for m in missing[:20])
                why = consent_status_reason(member_ids=missing, **gate)
                raise Refusal(
                    f"{len(missing)} of {len(set(member_ids))} members have no valid consent (members {shown}{'...' if len(missing) > 20 else ''}): {why}"
                )
        return Plan(
            "consent",
            f"consent:recipient={recipient.pk},purpose={purpose}",
            purpose,
            recipient,
            label,
            categories,
            check_fields(categories, fields),
            member_ids,
            consent_gate=gate,
        )

    if isinstance(basis, MembershipListRequest):
        request = MembershipListRequest.objects.select_related("requester").get(pk=basis.pk)
        if request.status == MembershipListRequest.Status.WITHDRAWN:
            raise Refusal(f"membership-list request #{request.pk} was withdrawn")
        if request.status != MembershipListRequest.Status.APPROVED:
            raise Refusal(
                f"membership-list request #{request.pk} is {request.status}, not approved by the Privacy Officer"
            )
        if request.valid_until and request.valid_until <= now:
            raise Refusal(
                f"the approval of membership-list request #{request.pk} expired {request.valid_until:%Y-%m-%d}"
            )
        if categories != [C.CONTACT]:
            raise Refusal("a membership list carries contact information only")
        wanted = list(fields) if fields is not None else list(MEMBERSHIP_LIST_FIELDS)
        if not set(wanted) <= set(MEMBERSHIP_LIST_FIELDS):
            raise Refusal("a membership list is limited to names and mailing addresses (seed 000 G)")

        def _mark_released():
            MembershipListRequest.objects.filter(pk=request.pk).update(
                status=MembershipListRequest.Status.RELEASED, released_at=timezone.now()
            )

        return Plan(
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
        raise Refusal("no basis for this release")
    lb = LegalBasis.objects.select_related("agreement", "recipient").get(pk=basis.pk)
    K = LegalBasis.Kind
    ref = f"legal_basis:{lb.pk} {lb.kind}"
    if lb.kind == K.LEGAL_PROCESS:
        ref += f" {lb.process_type} {lb.document_reference} ({lb.issuing_authority}, {lb.document_date})"
    if lb.revoked_at:
        raise Refusal(f"{ref}: revoked {lb.revoked_at:%Y-%m-%d}: {lb.revocation_reason}")
    if lb.valid_until <= now:
        raise Refusal(f"{ref}: expired {lb.valid_until:%Y-%m-%d}")
    if lb.valid_from > now:
        raise Refusal(f"{ref}: not yet valid")
    if lb.kind == K.AGGREGATED:
        raise Refusal("aggregated data is released through aggregate_export, never member by member")
    if lb.recipient_id != (recipient.pk if recipient else None):
        raise Refusal(f"{ref}: is for another recipient")
    if not set(categories) <= set(lb.categories):
        raise Refusal(f"{ref}: does not cover {', '.join(sorted(set(categories) - set(lb.categories)))}")
    if lb.kind in (K.CONTRACTOR, K.OTHER_UTILITY):
        agreement = lb.agreement
        if agreement is None or not agreement.in_force(timezone.localdate()):
            raise Refusal(
                f"{ref}: the confidentiality agreement {agreement.reference if agreement else ''} is not in force (expired {agreement.expires_on if agreement else '-'})"
            )
        if not set(categories) <= set(agreement.categories):
            raise Refusal(
                f"{ref}: the agreement {agreement.reference} does not cover {', '.join(sorted(set(categories) - set(agreement.categories)))}"
            )
        if purpose != lb.purpose:
            raise Refusal(f"{ref}: is for {lb.purpose}, not {purpose}")
        ref += f" agreement {agreement.reference}"
    else:
        if lb.kind == K.IMMINENT_THREAT and (not lb.approved_at or lb.approved_by_id == lb.requested_by_id):
            raise Refusal(f"{ref}: awaiting the second approver")
        scope = set(lb.members.values_list("pk", flat=True))
        if member_ids is None:
            member_ids = sorted(scope)
        outside = sorted(set(member_ids) - scope)
        if outside:
            raise Refusal(f"{ref}: does not cover members {', '.join(map(str, outside[:20]))}")
        if purpose != lb.purpose:
            raise Refusal(f"{ref}: is for {lb.purpose}, not {purpose}")
    if member_ids is None:
        raise Refusal(f"{ref}: name the members to release")
    return Plan(
        lb.kind,
        ref,
        purpose,
        recipient,
        label or "the member (own request)",
        categories,
        check_fields(categories, fields),
        list(member_ids),
        notice_withheld=lb.notice_withheld,
    )
