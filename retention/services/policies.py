"""Retention periods: the only place a period is set. Shorter periods wait for a second Privacy Officer."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import User
from retention.models import DEFAULT_BASIS, DEFAULT_RETENTION_DAYS, LEGAL_MINIMUM_DAYS, PendingChange, RetentionPolicy
from retention.selectors import preview_policy


def retention_policy_ensure_defaults() -> None:
    """Create a policy row for every category that has none (idempotent; keeps edited rows)."""
    for category, days in DEFAULT_RETENTION_DAYS.items():
        RetentionPolicy.objects.get_or_create(category=category, defaults={"retain_days": days, "basis": DEFAULT_BASIS})


def check_period(category: str, retain_days: int) -> None:
    minimum = max(LEGAL_MINIMUM_DAYS.get(category, 0), 1)
    if retain_days < minimum:
        raise ValidationError(
            {
                "retain_days": [
                    f"{retain_days} days is below the legal minimum of {minimum} days for this category "
                    "(docs/retention.md)."
                ]
            }
        )


def requester(actor: Actor) -> User:
    """Who asks for a change that needs approval: a signed-in Privacy Officer, never the system."""
    user = signed_in_user(actor)
    if user is None or not user.has_perm("retention.approve_retention_change"):
        raise PermissionDenied("Only a Privacy Officer asks for a retention change.")
    return user


def require_reason(reason: str, field: str = "reason") -> None:
    if not reason.strip():
        raise ValidationError({field: ["Give a reason: it is kept in the audit trail."]})


def _destroys_more(policy: RetentionPolicy, retain_days: int, enabled: bool) -> bool:
    return (enabled and not policy.enabled) or (enabled and retain_days < policy.retain_days)


@transaction.atomic
def retention_policy_update(
    *, policy: RetentionPolicy, retain_days: int, enabled: bool, basis: str, actor: Actor, reason: str
) -> RetentionPolicy | PendingChange:
    """Lengthen or disable a period at once; shorten or enable one only through a second Privacy Officer
    (returns the ``PendingChange`` with its preview; the policy is unchanged until approved)."""
    require_reason(reason)
    check_period(policy.category, retain_days)
    if _destroys_more(policy, retain_days, enabled):
        change = PendingChange.objects.create(
            kind=PendingChange.Kind.SHORTEN_PERIOD,
            category=policy.category,
            retain_days=retain_days,
            enabled=enabled,
            basis=basis,
            reason=reason,
            preview=preview_policy(policy.category, retain_days),
            requested_by=requester(actor),
        )
        audit_record(
            actor=actor,
            action="retention.change_requested",
            obj=change,
            reason=reason,
            detail={"kind": change.kind, "category": policy.category, "retain_days": retain_days, "enabled": enabled},
        )
        return change
    return apply_policy(
        policy=policy, retain_days=retain_days, enabled=enabled, basis=basis, actor=actor, reason=reason
    )


def apply_policy(
    *,
    policy: RetentionPolicy,
    retain_days: int,
    enabled: bool,
    basis: str,
    actor: Actor,
    reason: str,
    approver: Actor = None,
) -> RetentionPolicy:
    changed = [
        name
        for name, value in (("retain_days", retain_days), ("enabled", enabled), ("basis", basis))
        if getattr(policy, name) != value
    ]
    policy.retain_days, policy.enabled, policy.basis, policy.updated_by = (
        retain_days,
        enabled,
        basis,
        signed_in_user(actor),
    )
    fields = [*changed, "updated_by", "updated_at"]
    if approver is not None:
        policy.approved_by, policy.approved_at = signed_in_user(approver), timezone.now()
        fields += ["approved_by", "approved_at"]
    policy.save(update_fields=fields)
    audit_record(
        actor=actor,
        action="retention.policy_changed",
        obj=policy,
        fields=changed,
        reason=reason,
        detail={"category": policy.category, "retain_days": retain_days, "enabled": enabled},
    )
    return policy
