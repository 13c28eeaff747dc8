"""Four eyes: a change that destroys more is applied only when a second Privacy Officer approves it.

Requests (a shorter period, a hold's release, a purge by hand) are ``PendingChange`` rows with a
preview (counts per category and the oldest affected date), recomputed when the approver decides so
both see what it would destroy now. The requester can never approve their own request.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from members.actors import Actor, signed_in_user
from members.audit import audit_record
from retention.models import PendingChange, PurgeRun, RetentionPolicy
from retention.selectors import preview_all, preview_policy
from retention.services.holds import release_hold
from retention.services.policies import apply_policy, check_period, requester, require_reason
from retention.services.purge import check_category, retention_purge_category


def _decider(actor: Actor, change: PendingChange) -> None:
    user = signed_in_user(actor)
    if user is None or not user.has_perm("retention.approve_retention_change"):
        raise PermissionDenied("Only a Privacy Officer approves retention changes.")
    if change.status != PendingChange.Status.PENDING:
        raise ValidationError({"status": [f"This change is already {change.get_status_display().lower()}."]})
    if user.pk == change.requested_by_id:
        raise ValidationError({"decided_by": ["A second Privacy Officer must approve: you asked for this change."]})


@transaction.atomic
def retention_purge_request(*, actor: Actor, category: str, reason: str) -> PendingChange:
    """Ask to run a category's purge now (outside the nightly schedule): waits for a second approver."""
    require_reason(reason)
    check_category(category)
    change = PendingChange.objects.create(
        kind=PendingChange.Kind.MANUAL_PURGE,
        category=category,
        reason=reason,
        preview=preview_all(only=category),
        requested_by=requester(actor),
    )
    audit_record(
        actor=actor, action="retention.change_requested", obj=change, reason=reason, detail={"kind": change.kind}
    )
    return change


def retention_change_preview(*, change: PendingChange) -> dict:
    """What the change would destroy if approved now."""
    if change.kind == PendingChange.Kind.SHORTEN_PERIOD:
        return preview_policy(change.category, change.retain_days or 0)
    if change.kind == PendingChange.Kind.RELEASE_HOLD:
        return preview_all(hold=change.hold)
    return preview_all(only=change.category)


def retention_change_approve(*, actor: Actor, change: PendingChange, note: str = "") -> PendingChange:
    """Apply the change as the second Privacy Officer. A purge by hand runs after the approval commits."""
    with transaction.atomic():
        change = PendingChange.objects.select_for_update(no_key=True).get(pk=change.pk)
        _decider(actor, change)
        preview = retention_change_preview(change=change)
        change.status, change.decided_by, change.decided_at = (
            PendingChange.Status.APPROVED,
            signed_in_user(actor),
            timezone.now(),
        )
        change.decision_note, change.preview = note, preview
        change.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "preview"])
        audit_record(
            actor=actor, action="retention.change_approved", obj=change, reason=note, detail={"kind": change.kind}
        )
        if change.kind == PendingChange.Kind.SHORTEN_PERIOD:
            check_period(change.category, change.retain_days or 0)
            apply_policy(
                policy=RetentionPolicy.objects.get(category=change.category),
                retain_days=change.retain_days or 0,
                enabled=bool(change.enabled),
                basis=change.basis,
                actor=change.requested_by,
                reason=change.reason,
                approver=actor,
            )
        elif change.kind == PendingChange.Kind.RELEASE_HOLD and change.hold is not None:
            if not change.hold.is_active:
                raise ValidationError({"hold": ["This hold was released meanwhile; nothing was changed."]})
            release_hold(hold=change.hold, actor=change.requested_by, approver=actor, reason=change.reason)
    return change


def retention_change_run(*, change: PendingChange) -> PurgeRun:
    """The approved purge by hand (a task calls it after the approval committed)."""
    if change.kind != PendingChange.Kind.MANUAL_PURGE or change.status != PendingChange.Status.APPROVED:
        raise ValidationError({"change": ["Only an approved purge request runs."]})
    return retention_purge_category(category=change.category, actor=change.requested_by, change=change)


@transaction.atomic
def retention_change_reject(*, actor: Actor, change: PendingChange, note: str) -> PendingChange:
    require_reason(note, "decision_note")
    change = PendingChange.objects.select_for_update(no_key=True).get(pk=change.pk)
    _decider(actor, change)
    change.status, change.decided_by, change.decided_at, change.decision_note = (
        PendingChange.Status.REJECTED,
        signed_in_user(actor),
        timezone.now(),
        note,
    )
    change.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_record(actor=actor, action="retention.change_rejected", obj=change, reason=note, detail={"kind": change.kind})
    return change
