"""Scoring events and keeping the results: openings, registry changes, the program's own events.

An opening is scored synchronously inside the registry's opening transaction (its outcome is set on
the account instance the registry saves); a registry change after commit by a Celery task whose
payload key makes a re-delivery a no-op. Each assessment, its flags, its review item and its audit row
are written in one transaction; a queued change warns the account through the registry's services.
"""

from __future__ import annotations

import datetime
import logging
import re
import uuid

from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Bill
from members import crypto
from members.actors import Actor, actor_id_of, signed_in_user
from members.audit import audit_record
from members.signals import RegistryChange
from redflags import engine, registry
from redflags.context import Context
from redflags.events import OPENING, PAYMENT_SWEEP, Event
from redflags.models import (
    Flag,
    ObservedEvent,
    Outcome,
    ReviewItem,
    RiskAssessment,
    UnscoredChange,
    VerificationChecklist,
)

CHECKLIST_FIELDS = [
    field.name
    for field in VerificationChecklist._meta.concrete_fields
    if field.name not in {"id", "account", "recorded_by", "recorded_at"}
]

logger = logging.getLogger(__name__)


# The registry's account_open docstring spells two items its own way.
CHECKLIST_ALIASES = {"id_document": "identity_document_type", "id_document_checked": "identity_document_reviewed"}


def checklist_fields(checklist: VerificationChecklist | dict | None) -> dict:
    """The checklist as plain data (from a VerificationChecklist or the registry's dict)."""
    if checklist is None:
        return {}
    if isinstance(checklist, VerificationChecklist):
        return {name: getattr(checklist, name) for name in CHECKLIST_FIELDS}
    data = {CHECKLIST_ALIASES.get(name, name): value for name, value in checklist.items()}
    return {name: data[name] for name in CHECKLIST_FIELDS if name in data}


def event_record(event: Event, *, key: uuid.UUID | None = None) -> tuple[ObservedEvent, bool]:
    """Remember an event. With a caller's key (a task re-delivery) an existing row is returned."""
    fields = {
        "event": event.name,
        "member_id": event.member_id,
        "account_id": event.account_id,
        "fields": list(event.fields),
        "old_indexes": dict(event.old_indexes),
        "new_indexes": dict(event.new_indexes),
        "payload": dict(event.payload),
        "actor_id": event.actor_id,
        "occurred_at": event.occurred_at,
    }
    if key is None:  # a fresh event (an opening, a notice): one INSERT, nothing to look up
        return ObservedEvent.objects.create(key=uuid.uuid4(), **fields), True
    return ObservedEvent.objects.get_or_create(key=key, defaults=fields)


def _review_account(ctx: Context) -> Account | None:
    """The account a member-level flag is about when the member has exactly one live account."""
    if ctx.account is not None:
        return ctx.account
    if ctx.member is None:
        return None
    live = list(Account.objects.filter(member_id=ctx.member.pk, status__in=registry.LIVE_STATUSES)[:2])
    return live[0] if len(live) == 1 else None


def assessment_create(
    *, result: engine.Result, observed: ObservedEvent, ctx: Context, apply: bool = True
) -> RiskAssessment:
    """Persist a result: the assessment, one Flag per fired rule, a review item when queued.

    For an opening, the outcome is applied by setting attributes on the account instance the
    registry's opening service is holding (it saves them). For a change the warning is placed
    through the registry's service.
    """
    member = ctx.member
    account = _review_account(ctx)
    assessment = RiskAssessment.objects.create(
        event=observed,
        event_name=result.event.name,
        member=member,
        account=account,
        score=result.score,
        outcome=result.outcome,
        fired=[item.as_dict() for item in result.fired],
        program_version=result.program_version,
        warn_threshold=result.warn_threshold,
        hold_threshold=result.hold_threshold,
    )
    Flag.objects.bulk_create(
        [
            Flag(
                assessment=assessment,
                rule_version=item.version,
                code=item.version.rule.code,
                category=item.version.rule.category,
                weight=item.version.weight,
                evidence="; ".join(item.evidence),
            )
            for item in result.fired
        ]
    )
    queued = result.outcome != Outcome.RECORD
    if queued:
        # redflags.cases.services imports this package's program module: imported here, not at the top.
        from redflags.cases.services import case_for_alert

        item = ReviewItem.objects.create(assessment=assessment, member=member, account=account, outcome=result.outcome)
        case_for_alert(item=item)
    audit_record(
        actor=None,
        actor_label="system:redflags",
        action="redflags.assessed",
        obj=assessment,
        detail={
            "event": result.event.name,
            "score": result.score,
            "outcome": result.outcome,
            "rules": [f"{item.version.rule.code}@v{item.version.number}" for item in result.fired],
            "account_id": account.pk if account else None,
            "member_id": member.pk if member else None,
        },
    )
    if apply and queued and result.event.name != OPENING:
        _warn_accounts([account] if account is not None else registry.live_accounts(member), assessment)
    return assessment


def _warn_accounts(accounts: list[Account], assessment: RiskAssessment) -> None:
    """A queued change places the "Red Flag Exists" warning (an open account cannot be held)."""
    for target in accounts:
        if not target.red_flag_warning:
            registry.set_warning(account=target, warning=True, reason=f"Red Flags assessment #{assessment.pk}")


def opening_assess(
    *, account: Account, actor: Actor = None, checklist: VerificationChecklist | dict | None = None
) -> RiskAssessment:
    """Score an opening synchronously, inside the registry's opening transaction.

    Sets ``red_flag_warning`` / ``on_hold`` / ``status_reason`` on the instance; the registry saves.
    """
    fields = checklist_fields(checklist)
    if isinstance(checklist, dict):
        fields.update(document_comparisons(account.member, checklist))
    recorder = signed_in_user(actor)
    if fields and account.pk and recorder is not None:
        # The account was created a moment ago in this transaction: it has no checklist yet.
        VerificationChecklist.objects.create(account_id=account.pk, recorded_by=recorder, **fields)
    event = Event(
        name=OPENING,
        member_id=account.member_id,
        account_id=account.pk,
        actor_id=actor_id_of(actor),
        payload={"checklist": _json_safe(fields)} if fields else {},
    )
    ctx = Context(event, account=account, checklist=VerificationChecklist(**fields) if fields else None)
    ctx.prefetch_opening()
    result = engine.evaluate(event, context=ctx)
    observed, _ = event_record(event)
    assessment = assessment_create(result=result, observed=observed, ctx=ctx)
    # What the clerk who opened the account is told (accounts/admin.py reads these from the instance the
    # registry hands back): the score, the thresholds and each fired rule's title and evidence.
    # (transient attributes, not columns: setattr keeps the model's type honest)
    feedback = {
        "red_flags_outcome": result.outcome,
        "red_flags_score": result.score,
        "red_flags_hold_threshold": result.hold_threshold,
        "red_flags_reasons": [
            f"{item.version.rule.title}: {'; '.join(item.evidence)}" if item.evidence else item.version.rule.title
            for item in result.fired
            if not item.snoozed
        ],
    }
    for name, value in feedback.items():
        setattr(account, name, value)
    if result.outcome in (Outcome.WARN, Outcome.HOLD):
        account.red_flag_warning = True
    if result.outcome == Outcome.HOLD:
        account.on_hold = True
        if hasattr(account, "status_reason"):
            account.status_reason = (
                f"Held pending identity verification: the Red Flags program scored the opening {result.score} "
                f"(it holds at {result.hold_threshold}); see the review queue"
            )[:200]
    return assessment


def _name_words(name: str) -> set[str]:
    return {word for word in re.split(r"[^0-9A-Z]+", crypto.nfkc(name).upper()) if len(word) > 1}


def document_comparisons(member, checklist: dict) -> dict:
    """B1/B2 as comparisons the software makes: what the clerk read off the identity document
    (``document_name``, ``document_date_of_birth``) against the registry. Only the results are kept;
    the values read are dropped here (they are never stored, logged or put in evidence)."""
    results: dict = {}
    name = str(checklist.get("document_name") or "").strip()
    if name:
        # A middle name or initial may be on one and not the other; every word of the shorter must be
        # in the longer (initials ignored), so "JANE Q DOE" matches "Jane Doe" but not "John Doe".
        on_document, on_record = _name_words(name), _name_words(member.legal_name)
        shorter, longer = sorted((on_document, on_record), key=len)
        results["document_name_matches"] = bool(shorter) and shorter <= longer
    born = checklist.get("document_date_of_birth")
    if born and member.date_of_birth:
        if isinstance(born, str):
            try:
                born = datetime.date.fromisoformat(born)
            except ValueError:
                born = None
        results["document_date_of_birth_matches"] = born == member.date_of_birth if born else False
    return results


def _json_safe(data: dict) -> dict:
    return {
        key: (value.isoformat() if isinstance(value, datetime.date | datetime.datetime) else value)
        for key, value in data.items()
    }


def change_payload(change: RegistryChange) -> dict:
    """A RegistryChange as JSON for the Celery task, with a key that makes the task idempotent."""
    return {
        "key": str(uuid.uuid4()),
        "event": change.event,
        "member_id": change.member_id,
        "account_id": change.account_id,
        "fields": list(change.fields),
        "old_indexes": dict(change.old_indexes),
        "new_indexes": dict(change.new_indexes),
        "actor_id": change.actor_id,
        "occurred_at": change.occurred_at.isoformat(),
    }


def unscored_change_record(*, change: RegistryChange) -> dict:
    """Write the change to the outbox, in the change's own transaction; returns the task's payload."""
    payload = change_payload(change)
    UnscoredChange.objects.create(key=uuid.UUID(payload["key"]), payload=payload)
    return payload


def unscored_change_enqueue(*, payload: dict, send) -> bool:
    """After commit: hand the change to the worker. A broker that cannot take it is no error here (the
    change is safe in the outbox and the sweep scores it); the log says so, naming only the event."""
    try:
        send(payload)
    except Exception as exc:  # noqa: BLE001 - any broker failure: kombu, redis and socket errors alike
        logger.warning(
            "scoring of %s left to the sweep: the broker refused it (%s)", payload["event"], type(exc).__name__
        )
        return False
    return True


UNSCORED_GRACE_SECONDS = 60  # the fast path's head start before the sweep takes a change


def unscored_changes_sweep(*, grace_seconds: int = UNSCORED_GRACE_SECONDS, limit: int = 500) -> int:
    """Score changes still in the outbox after ``grace_seconds``, oldest first; returns how many."""
    cutoff = timezone.now() - datetime.timedelta(seconds=grace_seconds)
    done = 0
    for waiting in UnscoredChange.objects.filter(created_at__lt=cutoff).order_by("created_at")[:limit]:
        change_assess(payload=waiting.payload)
        done += 1
    return done


def change_assess(*, payload: dict) -> RiskAssessment | None:
    """Score one registry change after commit and take it out of the outbox, in one transaction.
    Safe to run twice (a re-delivery, or the task and the sweep together): the event key is unique."""
    event = Event(
        name=payload["event"],
        member_id=payload.get("member_id"),
        account_id=payload.get("account_id"),
        actor_id=payload.get("actor_id"),
        occurred_at=datetime.datetime.fromisoformat(payload["occurred_at"]),
        fields=tuple(payload.get("fields", ())),
        old_indexes=payload.get("old_indexes", {}),
        new_indexes=payload.get("new_indexes", {}),
        payload=payload.get("payload", {}),
    )
    key = uuid.UUID(payload["key"])
    with transaction.atomic():
        assessment = event_assess(event=event, key=key)
        UnscoredChange.objects.filter(key=key).delete()
    return assessment


def event_assess(*, event: Event, key: uuid.UUID | None = None) -> RiskAssessment | None:
    """Score one event and keep the result; ``None`` when an event with this key was already scored."""
    with transaction.atomic():
        observed, created = event_record(event, key=key)
        if not created and observed.assessments.exists():
            return None
        ctx = Context(event)
        if ctx.member is None and event.member_id is None and ctx.account is not None:
            event = Event(**{**event.__dict__, "member_id": ctx.account.member_id})
            ctx = Context(event)
        result = engine.evaluate(event, context=ctx)
        return assessment_create(result=result, observed=observed, ctx=ctx)


def program_event_assess(
    name: str, *, member_id: int, account_id: int | None, actor: Actor, payload: dict
) -> RiskAssessment | None:
    """Score an event the program's own services raise (a notice, an incident, caller verification)."""
    return event_assess(
        event=Event(name=name, member_id=member_id, account_id=account_id, actor_id=actor_id_of(actor), payload=payload)
    )


def payment_sweep(*, today: datetime.date | None = None) -> int:
    """Daily: score accounts whose bill became overdue yesterday (C2/C3 need the *absence* of a payment)."""
    today = today or timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    account_ids = set(Bill.objects.filter(status="open", due_on=yesterday).values_list("account_id", flat=True))
    done = 0
    for account_id in sorted(account_ids):
        key = uuid.uuid5(uuid.NAMESPACE_URL, f"memberguard:payment_sweep:{account_id}:{today.isoformat()}")
        if event_assess(event=Event(name=PAYMENT_SWEEP, account_id=account_id), key=key) is not None:
            done += 1
    return done
