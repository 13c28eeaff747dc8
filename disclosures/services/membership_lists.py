"""Membership lists (seed 000 G): a member asks for the list for a proper purpose, the Privacy Officer
decides, and an approved request is released once, through the export gate, as names and mailing
addresses of active members.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from disclosures.models import MembershipListRequest, Purpose
from disclosures.services.categories import C
from disclosures.services.export import Export, disclosure_export
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import Member


@transaction.atomic
def membership_list_request_create(*, actor: Actor, requester: Member, purpose: str) -> MembershipListRequest:
    if not purpose.strip():
        raise ValidationError("A membership-list request states its purpose (e.g. a board election petition).")
    if requester.status != Member.Status.ACTIVE:
        raise ValidationError("Only an active member may request the membership list.")
    request = MembershipListRequest.objects.create(
        requester=requester, purpose=purpose.strip(), recorded_by=signed_in_user(actor)
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
    *, actor: Actor, request: MembershipListRequest, approve: bool, note: str, valid_days: int = 30
) -> MembershipListRequest:
    request = MembershipListRequest.objects.select_for_update(no_key=True).get(pk=request.pk)
    decider = signed_in_user(actor)
    if decider is None or not decider.has_perm("disclosures.approve_membershiplistrequest"):
        raise PermissionDenied("Only the Privacy Officer decides membership-list requests.")
    if request.status != MembershipListRequest.Status.PENDING:
        raise ValidationError("This request has already been decided.")
    if request.requester.user_id and request.requester.user_id == decider.pk:
        raise ValidationError("A requester cannot approve their own request.")
    if not note.strip():
        raise ValidationError("Record why the purpose is (or is not) proper.")
    request.status = MembershipListRequest.Status.APPROVED if approve else MembershipListRequest.Status.DENIED
    request.decided_by, request.decided_at, request.decision_note = decider, timezone.now(), note.strip()
    request.valid_until = timezone.now() + timedelta(days=valid_days) if approve else None
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
    *, actor: Actor, request: MembershipListRequest, reason: str = ""
) -> MembershipListRequest:
    request = MembershipListRequest.objects.select_for_update(no_key=True).get(pk=request.pk)
    if request.status not in (MembershipListRequest.Status.PENDING, MembershipListRequest.Status.APPROVED):
        raise ValidationError("Only a pending or approved request can be withdrawn.")
    request.status = MembershipListRequest.Status.WITHDRAWN
    request.save(update_fields=["status"])
    audit_record(actor=actor, action="membership_list.withdrawn", obj=request, fields=["status"], reason=reason)
    return request


def membership_list_export(*, actor: Actor, request: MembershipListRequest, format: str = "csv") -> Export:
    """Seed 000 G: the approved list, names and mailing addresses of active members only, logged."""
    return disclosure_export(
        actor=actor,
        recipient=None,
        categories=[C.CONTACT],
        purpose=Purpose.MEMBERSHIP_LIST,
        basis=request,
        format=format,
    )
