"""Writes of the portal's own records: members' correction requests and complaints (Privacy Policy B.2).

A request is tracked from arrival to answer: received (due ``CORRECTION_DUE_DAYS`` later), in review,
then corrected or declined with a reason; a declined request may be disputed by the member, whose
statement of disagreement the registry keeps with their record (``members.services.
disagreement_statement_file``). The correction itself is made by staff through the registry's services;
"corrected" names the audit row of that change, so every corrected request points at the change that
settled it. Each step writes an audit row and queues a notice to the member in the same transaction.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from members import services as member_services
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import AuditEvent, Member, User
from members.notices.services import notice_enqueue
from portal.models import CorrectionRequest

MAX_TEXT = 2000
Status = CorrectionRequest.Status


def _person(actor: Actor) -> User:
    user = signed_in_user(actor)
    if user is None:
        raise PermissionDenied("Correction requests are submitted and resolved by a signed-in person.")
    return user


def _what(request: CorrectionRequest) -> str:
    """How a notice names the request: "correction request about your legal name"."""
    return f"{request.get_kind_display().lower()} about {request.get_topic_display().lower()}"


def _notify(*, actor: Actor, request: CorrectionRequest, kind: str, outcome: str, note: str = "") -> None:
    notice_enqueue(
        actor=actor,
        kind=kind,
        member=request.member,
        context={
            "what": _what(request),
            "topic": request.get_topic_display().lower(),
            "outcome": outcome,
            "note": note,
            "due_on": request.due_on,
            "declined": request.status == Status.DECLINED,
        },
        letter=not request.member.email,
    )


@transaction.atomic
def correction_request_submit(
    *,
    actor: Actor,
    member: Member,
    topic: str,
    requested_correction: str,
    explanation: str = "",
    kind: str = CorrectionRequest.Kind.CORRECTION,
) -> CorrectionRequest:
    submitter = _person(actor)
    errors: dict[str, list[str]] = {}
    if kind not in CorrectionRequest.Kind.values:
        errors["kind"] = ["Choose a correction request or a complaint."]
    if topic not in CorrectionRequest.Topic.values:
        errors["topic"] = ["Choose what the request is about."]
    if not requested_correction.strip():
        errors["requested_correction"] = [
            "Say what the record should say." if kind == CorrectionRequest.Kind.CORRECTION else "Say what happened."
        ]
    elif len(requested_correction) > MAX_TEXT:
        errors["requested_correction"] = [f"Keep it under {MAX_TEXT} characters."]
    if len(explanation) > MAX_TEXT:
        errors["explanation"] = [f"Keep it under {MAX_TEXT} characters."]
    if errors:
        raise ValidationError(errors)
    request = CorrectionRequest.objects.create(
        member=member,
        kind=kind,
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
        detail={"member_id": member.pk, "topic": topic, "kind": kind},
    )
    _notify(actor=actor, request=request, kind="request_update", outcome="received your request")
    return request


def _locked(request: CorrectionRequest) -> CorrectionRequest:
    return CorrectionRequest.objects.select_for_update(no_key=True).select_related("member").get(pk=request.pk)


@transaction.atomic
def correction_request_review_start(*, actor: Actor, request: CorrectionRequest) -> CorrectionRequest:
    """Staff take a received request into review (the member is told someone is working on it)."""
    _person(actor)
    request = _locked(request)
    if request.status != Status.RECEIVED:
        raise ValidationError({"status": ["Only a received request can be taken into review."]})
    request.status, request.review_started_at = Status.IN_REVIEW, timezone.now()
    request.save(update_fields=["status", "review_started_at"])
    audit_record(
        actor=actor,
        action="member.correction_in_review",
        obj=request,
        fields=["status"],
        detail={"member_id": request.member_id},
    )
    _notify(actor=actor, request=request, kind="request_update", outcome="started reviewing your request")
    return request


def settling_changes(request: CorrectionRequest) -> QuerySet[AuditEvent]:
    """Registry changes that may settle ``request``: audit rows of changes (not views) to this member's
    record or accounts, made since the request arrived, newest first."""
    member_id = request.member_id
    account_ids = [str(pk) for pk in request.member.accounts.values_list("pk", flat=True)]
    about_member = (
        Q(object_type="members.member", object_id=str(member_id))
        | Q(detail__member_id=member_id)
        | Q(object_type="accounts.account", object_id__in=account_ids)
    )
    return (
        AuditEvent.objects.filter(about_member, at__gte=request.submitted_at)
        .exclude(action__startswith="access.")
        .exclude(action__startswith="member.correction_")
        .exclude(action="member.disagreement_filed")
        .exclude(object_type="portal.correctionrequest")
        .order_by("-at")
    )


@transaction.atomic
def correction_request_resolve(
    *, actor: Actor, request: CorrectionRequest, status: str, note: str, settled_by: AuditEvent | None = None
) -> CorrectionRequest:
    """Staff answer a request: corrected (a correction names the registry change that made it) or
    declined with the reason, which the member reads."""
    resolver = _person(actor)
    request = _locked(request)
    if not request.is_open:
        raise ValidationError({"status": ["This request is already answered."]})
    if status not in (Status.CORRECTED, Status.DECLINED):
        raise ValidationError({"status": ["Answer as corrected or declined."]})
    if not note.strip():
        raise ValidationError(
            {"resolution_note": ["Tell the member what was done and why." if status == Status.CORRECTED
                                 else "Tell the member why the request is declined."]}
        )  # fmt: skip
    if status == Status.CORRECTED and request.kind == CorrectionRequest.Kind.CORRECTION:
        if settled_by is None:
            raise ValidationError(
                {"settled_by": ["Choose the change to the record that made this correction (make it first)."]}
            )
        if not settling_changes(request).filter(pk=settled_by.pk).exists():
            raise ValidationError(
                {"settled_by": ["That change is not a change to this member's record since the request."]}
            )
    elif status == Status.DECLINED and settled_by is not None:
        raise ValidationError({"settled_by": ["A declined request is not settled by a change."]})
    request.status, request.resolution_note = status, note.strip()
    request.resolved_at, request.resolved_by, request.settled_by = timezone.now(), resolver, settled_by
    request.save(update_fields=["status", "resolution_note", "resolved_at", "resolved_by", "settled_by"])
    audit_record(
        actor=actor,
        action="member.correction_resolved",
        obj=request,
        fields=["status", "resolution_note"] + (["settled_by"] if settled_by else []),
        detail={
            "member_id": request.member_id,
            "status": status,
            "settled_by_seq": settled_by.seq if settled_by else None,
            "overdue": timezone.localdate() > request.due_on,
        },
    )
    outcomes: dict[tuple[str, str], str] = {
        (CorrectionRequest.Kind.CORRECTION, Status.CORRECTED): "corrected your record as you asked",
        (CorrectionRequest.Kind.COMPLAINT, Status.CORRECTED): "resolved your complaint",
    }
    outcome = outcomes.get((request.kind, status), "declined your request")
    _notify(actor=actor, request=request, kind="correction_resolved", outcome=outcome, note=request.resolution_note)
    return request


STATEMENT_CHANNELS = {
    "phone": "by phone",
    "letter": "by letter",
    "in_person": "in person",
    "email": "by e-mail",
}


@transaction.atomic
def correction_request_dispute(
    *, actor: Actor, request: CorrectionRequest, statement: str, channel: str = ""
) -> CorrectionRequest:
    """The member disagrees with a declined request: their statement is kept with their record (by the
    registry) and the request is marked disputed. Filed by the member's own login, or on the member's
    behalf by staff holding ``portal.file_statement_for_member``, who say how the member gave it
    (``channel``: one of STATEMENT_CHANNELS). Either way the member gets a notice."""
    filer = _person(actor)
    request = _locked(request)
    on_behalf = request.member.user_id != filer.pk
    if on_behalf and not (filer.is_staff and filer.has_perm("portal.file_statement_for_member")):
        raise PermissionDenied("Only the member, or Member Services for them, may dispute this request.")
    if on_behalf and channel not in STATEMENT_CHANNELS:
        raise ValidationError({"channel": ["Say how the member gave the statement."]})
    if request.status != Status.DECLINED:
        raise ValidationError({"statement": ["A statement of disagreement is filed after a request is declined."]})
    about = f"{request.get_kind_display()} about {request.get_topic_display().lower()}, declined"
    if request.resolved_at:
        about += f" on {timezone.localdate(request.resolved_at):%B %d, %Y}"
    if on_behalf:
        about += f"; given {STATEMENT_CHANNELS[channel]}"
    filed = member_services.disagreement_statement_file(
        actor=actor, member=request.member, about=about, statement=statement
    )
    request.status, request.statement = Status.DISPUTED, filed
    request.save(update_fields=["status", "statement"])
    detail: dict = {"member_id": request.member_id, "statement_id": filed.pk}
    if on_behalf:
        detail |= {"on_behalf": True, "channel": channel}
    audit_record(
        actor=actor,
        action="member.correction_disputed",
        obj=request,
        fields=["status", "statement"],
        detail=detail,
    )
    given = (
        f"the statement of disagreement you gave us {STATEMENT_CHANNELS[channel]}"
        if on_behalf
        else ("your statement of disagreement")
    )
    _notify(
        actor=actor,
        request=request,
        kind="request_update",
        outcome=f"kept {given} with your record; anyone who reads that record reads it too",
    )
    return request
