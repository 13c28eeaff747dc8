"""Holds: placed at once by a Privacy Officer (keeping longer never needs a second pair of eyes);
released only with a second Privacy Officer's approval (services/approvals.py). Automatic holds are
placed and released by the software as their condition starts and ends (``retention_holds_sync``)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import Member
from retention.models import Category, Hold, PendingChange
from retention.registry import HOLD_SOURCES
from retention.selectors import preview_all
from retention.services.policies import requester, require_reason

AUTOMATIC_REASONS: dict[str, str] = {
    Hold.Kind.OPEN_BALANCE: "Open balance on the account: bills and the member's identity are needed to collect it.",
    Hold.Kind.REDFLAGS_REVIEW: "Open Red Flags review item: the evidence is needed until the review is resolved.",
    Hold.Kind.CAPITAL_CREDITS: (
        "Unretired capital credits: paying them needs the member's TIN for tax reporting (Form 1099-PATR)."
    ),
    Hold.Kind.LEGAL_PROCESS: "Member information disclosed under legal process: kept while the process is open.",
}


def _check_scope(scope: str, member: Member | None, account: Account | None, category: str, date_from) -> None:
    errors = {}
    if scope not in Hold.Scope.values:
        errors["scope"] = ["Choose a member, an account or a category."]
    elif scope == Hold.Scope.MEMBER and member is None:
        errors["member"] = ["A member hold names the member."]
    elif scope == Hold.Scope.ACCOUNT and account is None:
        errors["account"] = ["An account hold names the account."]
    elif scope == Hold.Scope.CATEGORY:
        if category not in Category.values:
            errors["category"] = ["A category hold names the category."]
        if date_from is None:
            errors["date_from"] = ["A category hold gives the first date it covers."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def retention_hold_place(
    *,
    actor: Actor,
    scope: str,
    reason: str,
    legal_reference: str = "",
    member: Member | None = None,
    account: Account | None = None,
    category: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> Hold:
    require_reason(reason)
    _check_scope(scope, member, account, category, date_from)
    if date_from and date_to and date_to < date_from:
        raise ValidationError({"date_to": ["The last date covered comes after the first."]})
    hold = Hold.objects.create(
        scope=scope,
        member=member if scope == Hold.Scope.MEMBER else None,
        account=account if scope == Hold.Scope.ACCOUNT else None,
        category=category if scope == Hold.Scope.CATEGORY else "",
        date_from=date_from if scope == Hold.Scope.CATEGORY else None,
        date_to=date_to if scope == Hold.Scope.CATEGORY else None,
        reason=reason.strip(),
        legal_reference=legal_reference,
        placed_by=signed_in_user(actor),
    )
    audit_record(
        actor=actor,
        action="retention.hold_placed",
        obj=hold,
        reason=hold.reason,
        detail={"scope": scope, "member": hold.member_id, "account": hold.account_id, "category": hold.category},
    )
    return hold


@transaction.atomic
def retention_hold_request_release(*, actor: Actor, hold: Hold, reason: str) -> PendingChange:
    """Ask to release a hold; a second Privacy Officer approves after seeing what it would let go."""
    require_reason(reason)
    if not hold.is_active:
        raise ValidationError({"hold": ["This hold is already released."]})
    if hold.kind not in (Hold.Kind.MANUAL, Hold.Kind.MIGRATED):
        raise ValidationError({"hold": ["An automatic hold ends by itself when its condition ends."]})
    change = PendingChange.objects.create(
        kind=PendingChange.Kind.RELEASE_HOLD,
        hold=hold,
        reason=reason,
        preview=preview_all(hold=hold),
        requested_by=requester(actor),
    )
    audit_record(actor=actor, action="retention.change_requested", obj=change, reason=reason, detail={"hold": hold.pk})
    return change


def release_hold(*, hold: Hold, actor: Actor, approver: Actor, reason: str) -> Hold:
    hold.released_at, hold.released_by, hold.release_approved_by = (
        timezone.now(),
        signed_in_user(actor),
        signed_in_user(approver),
    )
    hold.save(update_fields=["released_at", "released_by", "release_approved_by"])
    audit_record(actor=approver, action="retention.hold_released", obj=hold, reason=reason, detail={"hold": hold.pk})
    return hold


def _sync_kind(kind: str, scope: str, wanted: set[int]) -> tuple[int, int]:
    field = "member_id" if scope == Hold.Scope.MEMBER else "account_id"
    current = dict(Hold.objects.filter(kind=kind, scope=scope, released_at=None).values_list(field, "pk"))
    new = sorted(wanted - current.keys())
    gone = [pk for target, pk in current.items() if target not in wanted]
    Hold.objects.bulk_create(
        [Hold(scope=scope, kind=kind, reason=AUTOMATIC_REASONS[kind], **{field: target}) for target in new],
        batch_size=2000,
    )
    Hold.objects.filter(pk__in=gone).update(released_at=timezone.now())
    return len(new), len(gone)


@transaction.atomic
def retention_holds_sync() -> dict[str, list[int]]:
    """Place the automatic holds whose condition holds today, release those whose condition ended.

    Idempotent; run before every purge. One audit row per kind that changed (counts, not ids)."""
    summary = {}
    for kind, source in HOLD_SOURCES.items():
        placed = released = 0
        for scope, query in ((Hold.Scope.MEMBER, source.members), (Hold.Scope.ACCOUNT, source.accounts)):
            if query is not None:
                counts = _sync_kind(kind, scope, set(query()))
                placed, released = placed + counts[0], released + counts[1]
        if placed or released:
            audit_record(
                actor=None,
                actor_label="retention",
                action="retention.automatic_holds_synced",
                object_type="retention.hold",
                object_id=kind,
                detail={"kind": kind, "placed": placed, "released": released},
            )
        summary[kind] = [placed, released]
    return summary
