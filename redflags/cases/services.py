"""Writes of Red Flags case work: grouping alerts, assignment, status, notes, attachments, escalation,
resolution with a label, acknowledgements of the "Red Flag Exists" warning, snoozes and second approvals.

Each function is keyword-only, runs in one transaction and leaves an audit row in it. Who may act:
the ``redflags_cases.work_case`` permission and a current training acknowledgement (like the review
queue); snoozes need ``redflags_cases.snooze_rule`` (the Program Administrator) and a *different*
holder of it to approve; a hold's release needs a request by one trained person and the response by
another (``redflags.services.review``'s precondition reads ``HoldReleaseRequest``).
"""

from __future__ import annotations

import datetime
import hashlib

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from members import crypto
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import Member, User
from redflags import engine
from redflags.cases.models import Case, CaseAlert, CaseAttachment, CaseNote, HoldReleaseRequest, RuleSnooze
from redflags.models import ReviewItem, Rule
from redflags.services.program import require_current_training, require_permission

WORK = "redflags_cases.work_case"
# Rules that may never be snoozed: an opening without identity verification is always held.
UNSNOOZABLE = frozenset({"V1_IDENTITY_NOT_VERIFIED"})
SNOOZE = "redflags_cases.snooze_rule"

# Attachments: what a case needs (scans and photos of documents, letters, police reports), nothing
# executable or active. The type is checked against the file's first bytes, not only the name.
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
ATTACHMENT_TYPES = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "text/plain": (),
}


def _worker(actor: Actor) -> User:
    user = require_permission(actor, WORK, "only Red Flags staff work cases")
    require_current_training(user)
    return user


def _note(case: Case, *, kind: str, author: User | None, text: str, action: str = "") -> CaseNote:
    return CaseNote.objects.create(case=case, kind=kind, author=author, text=text, action=action)


# --- alerts join the member's open case ---------------------------------------------------------------


def case_for_alert(*, item: ReviewItem) -> Case | None:
    """Put a new review item (an alert) on its member's open case, opening one if there is none.

    Called in the assessment's transaction. Due dates come from ``ProgramSettings.case_due_days``.
    """
    if item.member_id is None:
        return None
    case = (
        Case.objects.select_for_update(no_key=True).filter(member_id=item.member_id).exclude(status="resolved").first()
    )
    if case is None:
        settings = engine.program_settings()
        now = timezone.now()
        try:
            with transaction.atomic():
                case = Case.objects.create(
                    member_id=item.member_id,
                    opened_at=now,
                    due_at=now + datetime.timedelta(days=settings.case_due_days),
                    program_version=settings.program_version,
                )
        except IntegrityError:  # a concurrent alert opened it first (one open case per member)
            case = Case.objects.select_for_update(no_key=True).get(member_id=item.member_id, status__in=_OPEN_STATUSES)
        audit_record(
            actor=None, actor_label="system:redflags", action="redflags.case_opened", obj=case, detail=_ids(case)
        )
    CaseAlert.objects.create(case=case, review_item=item)
    return case


_OPEN_STATUSES = (Case.Status.OPEN, Case.Status.IN_REVIEW, Case.Status.ESCALATED)


def _ids(case: Case) -> dict:
    return {"member_id": case.member_id, "case_id": case.pk, "status": case.status}


# --- working a case ------------------------------------------------------------------------------------


def case_assign(*, actor: Actor, case: Case, assignee: User | None) -> Case:
    user = _worker(actor)
    if assignee is not None and not assignee.has_perm(WORK):
        raise ValidationError({"assignee": ["Assign the case to someone who works Red Flags cases."]})
    with transaction.atomic():
        case = Case.objects.select_for_update(no_key=True).get(pk=case.pk)
        _require_open(case)
        case.assignee = assignee
        case.save(update_fields=["assignee"])
        who = assignee.get_username() if assignee is not None else "nobody"
        _note(case, kind=CaseNote.Kind.ASSIGNMENT, author=user, text=f"assigned to {who}")
        audit_record(actor=user, action="redflags.case_assigned", obj=case, fields=["assignee"], detail=_ids(case))
    return case


def _require_open(case: Case) -> None:
    if not case.is_open:
        raise ValidationError({"status": ["This case is resolved."]})


_MOVES = {
    Case.Status.OPEN: {Case.Status.IN_REVIEW, Case.Status.ESCALATED},
    Case.Status.IN_REVIEW: {Case.Status.OPEN, Case.Status.ESCALATED},
    Case.Status.ESCALATED: {Case.Status.IN_REVIEW},
}


def case_set_status(*, actor: Actor, case: Case, status: str, note: str = "") -> Case:
    """Open / in review / escalated (resolving is ``case_resolve``, with its label)."""
    user = _worker(actor)
    with transaction.atomic():
        case = Case.objects.select_for_update(no_key=True).get(pk=case.pk)
        _require_open(case)
        if status not in _MOVES.get(case.status, set()):
            raise ValidationError({"status": [f"A case cannot move from {case.get_status_display()} to {status}."]})
        case.status = status
        fields = ["status"]
        if status == Case.Status.ESCALATED:
            case.inbox, case.escalated_at = Case.Inbox.PROGRAM_ADMINISTRATOR, timezone.now()
            fields += ["inbox", "escalated_at"]
        case.save(update_fields=fields)
        _note(case, kind=CaseNote.Kind.STATUS, author=user, text=f"{case.get_status_display()}. {note}".strip())
        audit_record(actor=user, action="redflags.case_status", obj=case, fields=fields, reason=note, detail=_ids(case))
    return case


def case_note_add(*, actor: Actor, case: Case, text: str) -> CaseNote:
    user = _worker(actor)
    text = text.strip()
    if not text:
        raise ValidationError({"text": ["Write the note."]})
    with transaction.atomic():
        note = _note(case, kind=CaseNote.Kind.NOTE, author=user, text=text)
        audit_record(actor=user, action="redflags.case_note_added", obj=note, fields=["text"], detail=_ids(case))
    return note


def _checked_type(content_type: str, content: bytes) -> str:
    magics = ATTACHMENT_TYPES.get(content_type)
    if magics is None:
        raise ValidationError({"file": [f"Attach a PDF, PNG, JPEG or plain-text file, not {content_type or 'this'}."]})
    if magics and not content.startswith(magics):
        raise ValidationError({"file": [f"The file's content is not a {content_type} file."]})
    if not magics:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError({"file": ["A text attachment must be UTF-8 text."]}) from None
    return content_type


def case_attachment_add(
    *, actor: Actor, case: Case, filename: str, content_type: str, content: bytes
) -> CaseAttachment:
    """Attach a document: size and type checked, stored as Fernet ciphertext under the project's keys."""
    user = _worker(actor)
    if not content:
        raise ValidationError({"file": ["The file is empty."]})
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise ValidationError({"file": [f"Attachments are limited to {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB."]})
    content_type = _checked_type(content_type, content)
    name = "".join(ch for ch in filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] if ch.isprintable())[:200] or "file"
    with transaction.atomic():
        attachment = CaseAttachment.objects.create(
            case=case,
            filename=name,
            content_type=content_type,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            ciphertext=crypto.fernet().encrypt(content),
            uploaded_by=user,
        )
        audit_record(
            actor=user,
            action="redflags.case_attachment_added",
            obj=attachment,
            fields=["filename", "content_type", "size"],
            detail={**_ids(case), "size": len(content), "content_type": content_type},
        )
    return attachment


def case_attachment_open(*, actor: Actor, attachment: CaseAttachment) -> bytes:
    """The plaintext of an attachment for a person who works cases; every opening is on the access log."""
    user = _worker(actor)
    content = crypto.fernet().decrypt(bytes(attachment.ciphertext))
    audit_record(
        actor=user,
        action="redflags.case_attachment_opened",
        obj=attachment,
        detail={"case_id": attachment.case_id, "member_id": attachment.case.member_id},
    )
    return content


def case_resolve(*, actor: Actor, case: Case, label: str, resolution: str) -> Case:
    """Resolve with a label (confirmed / false positive) once every alert on the case has a decision."""
    user = _worker(actor)
    if label not in Case.Label.values:
        raise ValidationError({"label": ["Label the case: confirmed or false positive."]})
    if not resolution.strip():
        raise ValidationError({"resolution": ["Say what was found and decided."]})
    with transaction.atomic():
        case = Case.objects.select_for_update(no_key=True).get(pk=case.pk)
        _require_open(case)
        pending = ReviewItem.objects.filter(case_alert__case=case, status=ReviewItem.Status.OPEN).count()
        if pending:
            raise ValidationError(
                {"status": [f"{pending} alert(s) on this case still need a response in the review queue."]}
            )
        case.status, case.label, case.resolution = Case.Status.RESOLVED, label, resolution.strip()
        case.resolved_at, case.resolved_by = timezone.now(), user
        case.save(update_fields=["status", "label", "resolution", "resolved_at", "resolved_by"])
        _note(case, kind=CaseNote.Kind.STATUS, author=user, text=f"Resolved: {case.get_label_display()}")
        audit_record(
            actor=user,
            action="redflags.case_resolved",
            obj=case,
            fields=["status", "label", "resolution"],
            detail={**_ids(case), "label": label},
        )
    return case


def cases_escalate_overdue(*, now: datetime.datetime | None = None) -> int:
    """Periodic: open cases past their due date go to the Program Administrator's inbox. Idempotent."""
    now = now or timezone.now()
    done = 0
    overdue = Case.objects.filter(status__in=(Case.Status.OPEN, Case.Status.IN_REVIEW), due_at__lt=now)
    for case_id in overdue.values_list("pk", flat=True).order_by("pk"):
        with transaction.atomic():
            case = Case.objects.select_for_update(no_key=True).get(pk=case_id)
            if case.status not in (Case.Status.OPEN, Case.Status.IN_REVIEW) or case.due_at >= now:
                continue
            case.status, case.inbox, case.escalated_at = Case.Status.ESCALATED, Case.Inbox.PROGRAM_ADMINISTRATOR, now
            case.save(update_fields=["status", "inbox", "escalated_at"])
            days = (now - case.due_at).days
            _note(case, kind=CaseNote.Kind.ESCALATION, author=None, text=f"overdue by {days} day(s): escalated")
            audit_record(
                actor=None,
                actor_label="system:redflags.escalation",
                action="redflags.case_escalated",
                obj=case,
                fields=["status", "inbox"],
                detail=_ids(case),
            )
            done += 1
    return done


# --- the "Red Flag Exists" warning binds the next sensitive action -----------------------------------


def warning_acknowledge(*, actor: Actor, member: Member, action: str, note: str, items: list[ReviewItem]) -> CaseNote:
    """Record, on the member's case, that a staff member acted despite the open warning (and why)."""
    user = signed_in_user(actor)
    case = Case.objects.filter(member_id=member.pk).exclude(status="resolved").first()
    if case is None:  # an open item from before cases existed: its case is opened now
        case = case_for_alert(item=items[0]) if items and items[0].member_id else None
    if case is None:
        raise ValidationError({"acknowledgement": ["No case found for this member's warning."]})
    text = f"{note} (open alerts: {', '.join(f'#{item.pk}' for item in items)})"
    ack = _note(case, kind=CaseNote.Kind.ACKNOWLEDGEMENT, author=user, text=text, action=action)
    audit_record(
        actor=actor,
        action="redflags.warning_acknowledged",
        obj=ack,
        fields=["text"],
        reason=note,
        detail={**_ids(case), "guarded_action": action, "review_items": [item.pk for item in items]},
    )
    return ack


# --- snoozes and second approvals -------------------------------------------------------------------


def rule_snooze_request(*, actor: Actor, rule: Rule, reason: str, expires_at: datetime.datetime) -> RuleSnooze:
    """The Program Administrator asks to snooze a noisy rule; nothing changes until another approves."""
    user = require_permission(actor, SNOOZE, "only the Program Administrator snoozes a rule")
    require_current_training(user)
    errors: dict[str, list[str]] = {}
    if rule.code in UNSNOOZABLE:
        errors["rule"] = [f"{rule.code} cannot be snoozed: an opening without identity verification is always held."]
    if not reason.strip():
        errors["reason"] = ["Say why the rule is snoozed."]
    now = timezone.now()
    if expires_at <= now or expires_at > now + datetime.timedelta(days=90):
        errors["expires_at"] = ["A snooze expires within 90 days from now."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        snooze = RuleSnooze.objects.create(rule=rule, reason=reason.strip(), expires_at=expires_at, requested_by=user)
        audit_record(
            actor=user,
            action="redflags.rule_snooze_requested",
            obj=snooze,
            fields=["rule", "reason", "expires_at"],
            reason=reason,
            detail={"rule": rule.code, "expires_at": expires_at.isoformat()},
        )
    return snooze


def rule_snooze_approve(*, actor: Actor, snooze: RuleSnooze) -> RuleSnooze:
    """A second Program Administrator, not the one who asked, approves: the snooze takes effect."""
    user = require_permission(actor, SNOOZE, "only the Program Administrator approves a rule snooze")
    require_current_training(user)
    with transaction.atomic():
        snooze = RuleSnooze.objects.select_for_update(no_key=True).get(pk=snooze.pk)
        if snooze.status != RuleSnooze.Status.PENDING:
            raise ValidationError({"status": ["This snooze is not awaiting approval."]})
        if snooze.requested_by_id == user.pk:
            raise PermissionDenied("a second approver is needed: the person who asked cannot approve")
        snooze.status, snooze.approved_by, snooze.approved_at = RuleSnooze.Status.ACTIVE, user, timezone.now()
        snooze.save(update_fields=["status", "approved_by", "approved_at"])
        audit_record(
            actor=user,
            action="redflags.rule_snooze_approved",
            obj=snooze,
            fields=["status", "approved_by"],
            detail={"rule_id": snooze.rule_id, "requested_by": snooze.requested_by_id},
        )
    return snooze


def hold_release_request(*, actor: Actor, item: ReviewItem, notes: str) -> HoldReleaseRequest:
    """First half of releasing a held opening: one trained person asks (how identity was verified)."""
    user = require_permission(actor, "redflags.work_queue", "only a Red Flag Analyst works the review queue")
    require_current_training(user)
    if not notes.strip():
        raise ValidationError({"notes": ["Note how the identity was verified."]})
    if item.account is None or not item.account.on_hold or item.status != ReviewItem.Status.OPEN:
        raise ValidationError({"status": ["Only an open review item of a held opening can be released."]})
    if item.account.opened_by_id == user.pk:
        raise PermissionDenied("dual control: the person who opened the account cannot ask for its release")
    with transaction.atomic():
        try:
            with transaction.atomic():
                request = HoldReleaseRequest.objects.create(review_item=item, requested_by=user, notes=notes.strip())
        except IntegrityError:
            raise ValidationError({"status": ["A release is already awaiting a second approver."]}) from None
        audit_record(
            actor=user,
            action="redflags.hold_release_requested",
            obj=request,
            fields=["notes"],
            reason=notes,
            detail={"review_item": item.pk, "account_id": item.account_id},
        )
    return request


def release_awaits_approval(item: ReviewItem) -> bool:
    return HoldReleaseRequest.objects.filter(review_item=item, approved_by__isnull=True).exists()


def hold_release_approval(*, item: ReviewItem, approver: User) -> HoldReleaseRequest:
    """The pending request a release response approves; refuses the requester (called by review)."""
    request = (
        HoldReleaseRequest.objects.select_for_update(no_key=True)
        .filter(review_item=item, approved_by__isnull=True)
        .first()
    )
    if request is None:
        raise ValidationError(
            "a second approver is needed: one person asks for the release (with how identity was verified), "
            "another approves it"
        )
    if request.requested_by_id == approver.pk:
        raise PermissionDenied("a second approver is needed: the person who asked for the release cannot approve it")
    request.approved_by, request.approved_at = approver, timezone.now()
    request.save(update_fields=["approved_by", "approved_at"])
    case = Case.objects.filter(alerts__review_item=item).first()
    if case is not None:
        _note(case, kind=CaseNote.Kind.APPROVAL, author=approver, text=f"hold release of alert #{item.pk} approved")
    return request
