"""Retention purges: destroy what the schedule no longer lets the co-op keep, and prove it.

Design (after Zulip's retention module and pretix's shredders):
- A purge works in batches; each batch is one transaction that destroys up to ``batch_size`` records
  and writes an ``AuditEvent`` listing the ids it destroyed and the fields it cleared (never values).
  A crash loses at most the batch in flight, and re-running continues where it stopped, because each
  category's selection only matches records that still hold something to destroy.
- Identifiers are *redacted* (set to NULL, blind indexes cleared) rather than rows deleted where the
  row itself must stay: a former member's name, mailing address and capital credits are kept (Privacy
  Policy A.4) while the SSN, date of birth, licence and the rest go.
- The audit trail and the disclosure log are never purged: they are the evidence.
- ``Member.retain_until`` in the future is a hold (litigation, an open balance): such members are
  skipped until it passes.

Redaction uses ``QuerySet.update`` on purpose: it is not a change of a member's identity that the
Red Flags program should score, and it must not pass through validators that require the values.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, Premise
from accounts.usage.services import usage_drop_partitions_before
from members import identifiers
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import FinancialAccount, Member
from retention.models import DEFAULT_RETENTION_DAYS, Category, PurgeRun, RetentionPolicy

# What each purge destroys is declared with the fields (members/identifiers.py, ``retention``).
# A former member's or denied applicant's identifiers: encrypted ones set to NULL, the rest (blind
# indexes, SSN last four, licence state) emptied; the same fields for both categories.
IDENTIFIER_FIELDS, IDENTIFIER_INDEX_FIELDS = identifiers.redaction(Category.FORMER_MEMBER_IDENTIFIERS)
_FINANCIAL_ACCOUNT_FIELDS = identifiers.encrypted_names("members.FinancialAccount")
# Gate codes and meter-reading notes (encrypted) go with the dog warning, which is a field note too.
_PREMISE_NOTES = tuple(
    field.name
    for field in identifiers.fields_in_retention_category(Category.VACANT_PREMISE_FIELD_NOTES, "accounts.Premise")
)


class PurgeError(RuntimeError):
    pass


def _holds_identifiers() -> Q:
    q = Q()
    for name in IDENTIFIER_FIELDS:
        q |= Q(**{f"{name}__isnull": False})
    for name in IDENTIFIER_INDEX_FIELDS:
        q |= ~Q(**{name: ""})
    return q


def _redact_members(queryset, batch_size: int) -> list[int]:
    ids = list(queryset.filter(_holds_identifiers()).order_by("pk").values_list("pk", flat=True)[:batch_size])
    if ids:
        Member.objects.filter(pk__in=ids).update(
            **dict.fromkeys(IDENTIFIER_FIELDS), **dict.fromkeys(IDENTIFIER_INDEX_FIELDS, ""), updated_at=timezone.now()
        )
        FinancialAccount.objects.filter(member_id__in=ids).delete()
    return ids


def _former_members(cutoff: dt.date, today: dt.date, batch_size: int) -> list[int]:
    candidates = Member.objects.filter(status=Member.Status.FORMER, left_on__lt=cutoff).exclude(retain_until__gte=today)
    return _redact_members(candidates, batch_size)


def _denied_applicants(cutoff: dt.date, today: dt.date, batch_size: int) -> list[int]:
    still_served = Account.objects.exclude(status=Account.Status.DENIED).values("member_id")
    candidates = (
        Member.objects.filter(
            status=Member.Status.APPLICANT,
            accounts__status=Account.Status.DENIED,
            accounts__updated_at__date__lt=cutoff,
        )
        .exclude(pk__in=still_served)
        .exclude(retain_until__gte=today)
        .distinct()
    )
    return _redact_members(Member.objects.filter(pk__in=candidates.values("pk")), batch_size)


def _inactive_financial_accounts(cutoff: dt.date, today: dt.date, batch_size: int) -> list[int]:
    ids = list(
        FinancialAccount.objects.filter(is_active=False, removed_at__date__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    FinancialAccount.objects.filter(pk__in=ids).delete()
    return ids


def _vacant_premise_field_notes(cutoff: dt.date, today: dt.date, batch_size: int) -> list[int]:
    served = Account.objects.filter(
        Q(status__in=[Account.Status.PENDING, Account.Status.OPEN, Account.Status.SUSPENDED])
        | Q(closed_at__date__gte=cutoff)
    ).values("premise_id")
    holds_notes = Q(dog_warning=True)
    for name in _PREMISE_NOTES:
        holds_notes |= Q(**{f"{name}__isnull": False})
    ids = list(
        Premise.objects.filter(holds_notes, updated_at__date__lt=cutoff)
        .exclude(pk__in=served)
        .order_by("pk")
        .values_list("pk", flat=True)[:batch_size]
    )
    Premise.objects.filter(pk__in=ids).update(
        **dict.fromkeys(_PREMISE_NOTES), dog_warning=False, updated_at=timezone.now()
    )
    return ids


def _delete_older(model_path: str, date_field: str) -> Callable[[dt.date, dt.date, int], list[int]]:
    def destroy(cutoff: dt.date, today: dt.date, batch_size: int) -> list[int]:
        model = apps.get_model(model_path)
        ids = list(
            model.objects.filter(**{f"{date_field}__lt": cutoff})
            .order_by("pk")
            .values_list("pk", flat=True)[:batch_size]
        )
        model.objects.filter(pk__in=ids).delete()
        return ids

    return destroy


def _usage_partitions(cutoff: dt.date, today: dt.date, batch_size: int) -> list[int]:
    """Whole months of interval data go by dropping their partition (constant time, docs/usage.md)."""
    dropped = usage_drop_partitions_before(
        month=cutoff.replace(day=1), actor_label="retention", reason="retention schedule"
    )
    # The audit row of the batch lists the months as yyyymm numbers.
    return [partition.month.year * 100 + partition.month.month for partition in dropped]


@dataclass(frozen=True)
class Handler:
    destroy: Callable[[dt.date, dt.date, int], list[int]]
    method: str
    object_type: str
    fields: tuple[str, ...] = ()
    # A handler that does all its work in one call (dropping partitions) runs once, not in a loop.
    single_pass: bool = False


HANDLERS: dict[str, Handler] = {
    Category.FORMER_MEMBER_IDENTIFIERS: Handler(
        _former_members,
        "identifiers set to NULL, blind indexes cleared, bank accounts deleted",
        "members.member",
        IDENTIFIER_FIELDS + IDENTIFIER_INDEX_FIELDS,
    ),
    Category.DENIED_APPLICANT_IDENTIFIERS: Handler(
        _denied_applicants,
        "identifiers set to NULL, blind indexes cleared, bank accounts deleted",
        "members.member",
        IDENTIFIER_FIELDS + IDENTIFIER_INDEX_FIELDS,
    ),
    Category.INACTIVE_FINANCIAL_ACCOUNTS: Handler(
        _inactive_financial_accounts,
        "rows deleted",
        "members.financialaccount",
        _FINANCIAL_ACCOUNT_FIELDS,
    ),
    Category.VACANT_PREMISE_FIELD_NOTES: Handler(
        _vacant_premise_field_notes,
        "gate code and notes set to NULL",
        "accounts.premise",
        (*_PREMISE_NOTES, "dog_warning"),
    ),
    Category.RETURNED_MAIL: Handler(
        _delete_older("accounts.ReturnedMail", "returned_on"), "rows deleted", "accounts.returnedmail"
    ),
    Category.STATEMENT_NOTICES: Handler(
        _delete_older("accounts.StatementNotice", "reported_on"), "rows deleted", "accounts.statementnotice"
    ),
    Category.USAGE_INTERVALS: Handler(
        _usage_partitions, "monthly partitions dropped", "usage.partition", single_pass=True
    ),
}


def retention_policy_ensure_defaults() -> None:
    """Create a policy row for every category that has none (idempotent; keeps edited rows)."""
    for category, days in DEFAULT_RETENTION_DAYS.items():
        RetentionPolicy.objects.get_or_create(
            category=category,
            defaults={
                "retain_days": days,
                "basis": "Default schedule; set by the Privacy Officer per Records Retention policy.",
            },
        )


@transaction.atomic
def retention_policy_update(
    *, policy: RetentionPolicy, retain_days: int, enabled: bool, basis: str, actor: Actor, reason: str
) -> RetentionPolicy:
    if retain_days < 1:
        raise ValueError("retain_days must be at least 1")
    if not reason.strip():
        raise ValueError("a reason is required to change a retention schedule")
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
    policy.save(update_fields=[*changed, "updated_by", "updated_at"])
    audit_record(
        actor=actor,
        action="retention.policy_changed",
        obj=policy,
        fields=changed,
        reason=reason,
        detail={"category": policy.category, "retain_days": retain_days, "enabled": enabled},
    )
    return policy


def retention_purge_category(
    *, category: str, actor: Actor = None, now: dt.datetime | None = None, batch_size: int = 500
) -> PurgeRun:
    """Destroy what is past its period in one category, in audited batches. Safe to re-run."""
    if category not in HANDLERS:
        raise ValueError(f"unknown retention category {category!r}")
    now = now or timezone.now()
    today = timezone.localdate(now)
    policy = RetentionPolicy.objects.filter(category=category).first()
    if policy is None:
        raise PurgeError(f"no retention policy for {category}; run retention_policy_ensure_defaults()")
    handler = HANDLERS[category]
    cutoff = today - dt.timedelta(days=policy.retain_days)
    with transaction.atomic():
        run = PurgeRun.objects.create(
            category=category,
            cutoff=cutoff,
            retain_days=policy.retain_days,
            method=handler.method,
            triggered_by=signed_in_user(actor),
        )
        audit_record(
            actor=actor,
            action="retention.purge_started",
            obj=run,
            detail={"category": category, "cutoff": cutoff.isoformat()},
        )
    try:
        while True:
            _purge_heartbeat(run)
            with transaction.atomic():
                ids = handler.destroy(cutoff, today, batch_size)
                if ids:
                    run.records_destroyed += len(ids)
                    run.batches += 1
                    run.save(update_fields=["records_destroyed", "batches"])
                    audit_record(
                        actor=actor,
                        action="retention.purge_batch",
                        object_type=handler.object_type,
                        object_id=run.pk,
                        fields=handler.fields,
                        detail={"category": category, "purge_run": run.pk, "ids": ids, "method": handler.method},
                    )
            if handler.single_pass or len(ids) < batch_size:
                break
    except Exception as exc:
        with transaction.atomic():
            run.status, run.finished_at, run.error = PurgeRun.Status.FAILED, timezone.now(), type(exc).__name__
            run.save(update_fields=["status", "finished_at", "error"])
            audit_record(
                actor=actor,
                action="retention.purge_failed",
                obj=run,
                detail={"category": category, "error": type(exc).__name__},
            )
        raise
    with transaction.atomic():
        run.status, run.finished_at = PurgeRun.Status.DONE, timezone.now()
        run.save(update_fields=["status", "finished_at"])
        cache.delete(_heartbeat_key(run.pk))
        audit_record(
            actor=actor,
            action="retention.purge_finished",
            obj=run,
            detail={"category": category, "records_destroyed": run.records_destroyed, "batches": run.batches},
        )
    return run


def retention_run_due(*, now: dt.datetime | None = None) -> list[PurgeRun]:
    """Run every enabled policy; a failing category does not stop the others (it is recorded)."""
    retention_policy_ensure_defaults()
    runs = []
    for policy in RetentionPolicy.objects.filter(enabled=True):
        try:
            runs.append(retention_purge_category(category=policy.category, now=now))
        except Exception:  # noqa: BLE001, S112 - recorded as a failed PurgeRun and audited; the other categories still run
            continue
    return runs


# --- Purge runs interrupted by a dead worker ------------------------------------------------------------


def _heartbeat_key(run_id: int) -> str:
    return f"memberguard:purge-run-heartbeat:{run_id}"


def _purge_heartbeat(run: PurgeRun) -> None:
    """A running purge stamps Redis before each batch; the stamp outlives the beat only this long."""
    cache.set(_heartbeat_key(run.pk), timezone.now().isoformat(), timeout=settings.PURGE_RUN_HEARTBEAT_SECONDS)


def retention_fail_interrupted_runs(*, now: dt.datetime | None = None) -> list[PurgeRun]:
    """Mark failed, with an audit row, every purge run left ``running`` by a worker that died.

    A run is interrupted when it started more than ``PURGE_RUN_HEARTBEAT_SECONDS`` ago and its heartbeat
    has expired (a live purge renews it before every batch). Run at worker start and periodically; safe
    to run twice and beside a live purge (rows another sweep holds are skipped).
    """
    now = now or timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.PURGE_RUN_HEARTBEAT_SECONDS)
    failed = []
    with transaction.atomic():
        candidates = PurgeRun.objects.select_for_update(skip_locked=True).filter(
            status=PurgeRun.Status.RUNNING, started_at__lt=stale_before
        )
        for run in candidates.order_by("pk"):
            if cache.get(_heartbeat_key(run.pk)) is not None:
                continue
            run.status, run.finished_at, run.error = PurgeRun.Status.FAILED, now, "interrupted: worker lost"
            run.save(update_fields=["status", "finished_at", "error"])
            audit_record(
                actor=None,
                actor_label="system:retention_sweep",
                action="retention.purge_interrupted",
                obj=run,
                reason="the worker running this purge stopped before it finished; the next run resumes it",
                detail={
                    "category": run.category,
                    "records_destroyed": run.records_destroyed,
                    "batches": run.batches,
                    "started_at": run.started_at.isoformat(),
                },
            )
            failed.append(run)
    return failed
