"""Writes of the portal's own records: members' correction requests (Privacy Policy B.2).

The correction itself is made by staff through the registry's services; these record the request
and its resolution, each with an audit row in the same transaction. Both need a signed-in person:
the request names who asked and who resolved it.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import Member, User
from members.notices.services import notice_enqueue
from portal.models import CorrectionRequest

MAX_TEXT = 2000


def _person(actor: Actor) -> User:
    user = signed_in_user(actor)
    if user is None:
        raise PermissionDenied("Correction requests are submitted and resolved by a signed-in person.")
    return user


@transaction.atomic
def correction_request_submit(
    *, actor: Actor, member: Member, topic: str, requested_correction: str, explanation: str = ""
) -> CorrectionRequest:
    submitter = _person(actor)
    errors: dict[str, list[str]] = {}
    if topic not in CorrectionRequest.Topic.values:
        errors["topic"] = ["Choose what the correction is about."]
    if not requested_correction.strip():
        errors["requested_correction"] = ["Say what the record should say."]
    elif len(requested_correction) > MAX_TEXT:
        errors["requested_correction"] = [f"Keep it under {MAX_TEXT} characters."]
    if len(explanation) > MAX_TEXT:
        errors["explanation"] = [f"Keep it under {MAX_TEXT} characters."]
    if errors:
        raise ValidationError(errors)
    request = CorrectionRequest.objects.create(
        member=member,
        topic=topic,
        requested_correction=requested_correction.strip(),
        explanation=explanation.strip(),
        submitted_by=submitter,
    )
    audit_record(
        actor=actor,
        action="member.correction_requested",
        obj=request,
        fields=["topic"],
        detail={"member_id": member.pk, "topic": topic},
    )
    return request


@transaction.atomic
def correction_request_resolve(
    *, actor: Actor, request: CorrectionRequest, status: str, note: str
) -> CorrectionRequest:
    """Staff close a request. The correction itself is made through the registry's services."""
    resolver = _person(actor)
    if request.status != CorrectionRequest.Status.OPEN:
        raise ValidationError({"status": ["This request is already resolved."]})
    if status not in (CorrectionRequest.Status.CORRECTED, CorrectionRequest.Status.DECLINED):
        raise ValidationError({"status": ["Resolve as corrected or declined."]})
    if not note.strip():
        raise ValidationError({"resolution_note": ["Tell the member what was done and why."]})
    request.status, request.resolution_note = status, note.strip()
    request.resolved_at, request.resolved_by = timezone.now(), resolver
    request.save(update_fields=["status", "resolution_note", "resolved_at", "resolved_by"])
    audit_record(
        actor=actor,
        action="member.correction_resolved",
        obj=request,
        fields=["status", "resolution_note"],
        detail={"member_id": request.member_id, "status": status},
    )
    notice_enqueue(
        actor=actor,
        kind="correction_resolved",
        member=request.member,
        context={
            "topic": request.get_topic_display().lower(),
            "outcome": "corrected your record as you asked"
            if status == CorrectionRequest.Status.CORRECTED
            else "declined your request",
            "note": request.resolution_note,
        },
        letter=not request.member.email,
    )
    return request
