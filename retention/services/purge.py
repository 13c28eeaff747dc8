"""Purges: destroy what the approved schedule no longer lets the co-op keep, and prove it.

Design (after Zulip's retention module and pretix's shredders):
- A purge works in batches; each batch is one transaction that destroys up to ``batch_size`` records,
  writes their ledger entries and an ``AuditEvent`` listing the ids it destroyed and the fields it
  cleared (never values). A crash loses at most the batch in flight, and re-running continues where it
  stopped, because each category's selection only matches records that still hold something to destroy.
- Holds (retention/models.py ``Hold``) exclude their records from every category; automatic holds are
  brought up to date before each run.
- Only one run per category at a time: a PostgreSQL advisory lock, and a unique index on running runs.
- The run ends with a ``DestructionCertificate`` (category, cutoff, count, SHA-256 of the destroyed ids,
  method, approver); runs, certificates and ledger entries are append-only in the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from members.actors import Actor, actor_name, signed_in_user
from members.audit import audit_record
from members.faults import pause_point
from retention.models import Category, DestructionCertificate, PendingChange, PurgeRun, RetentionPolicy
from retention.registry import PURGEABLES
from retention.selectors import candidates, cutoff_for
from retention.services.holds import retention_holds_sync
from retention.services.ledger import ledger_record
from retention.services.policies import retention_policy_ensure_defaults
from retention.services.usage import purge_usage

USAGE_METHOD = "monthly partitions dropped (held meters' rows copied out first)"


class PurgeError(RuntimeError):
    pass


def check_category(category: str) -> None:
    if category != Category.USAGE_INTERVALS and category not in PURGEABLES:
        raise ValueError(f"unknown retention category {category!r}")


@contextmanager
def _exclusive(category: str) -> Iterator[None]:
    key = zlib.crc32(f"retention:{category}".encode())
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if not cursor.fetchone()[0]:
            running = PurgeRun.objects.filter(category=category, status=PurgeRun.Status.RUNNING).first()
            since = f" (run #{running.pk}, started {running.started_at:%Y-%m-%d %H:%M})" if running else ""
            raise ValidationError({"category": [f"A purge of {category} is already running{since}; nothing was done."]})
    try:
        # Holding the lock, a run still marked running is one a crash interrupted: it ends as failed.
        for stale in PurgeRun.objects.filter(category=category, status=PurgeRun.Status.RUNNING):
            _mark_interrupted(stale, timezone.now(), "interrupted")
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])


class _Recorder:
    """One run: its row, its batches (ledger + audit), its end (certificate) or its failure."""

    def __init__(self, run: PurgeRun, actor: Actor, object_type: str, fields: tuple[str, ...], to_file: bool):
        self.run, self.actor, self.object_type, self.fields, self.to_file = run, actor, object_type, fields, to_file
        self.sha = hashlib.sha256()

    def batch(self, ids: list[int], detail: dict | None = None) -> None:
        run = self.run
        run.records_destroyed += len(ids)
        run.batches += 1
        run.save(update_fields=["records_destroyed", "batches"])
        for pk in ids:
            self.sha.update(f"{self.object_type}:{pk}\n".encode())
        ledger_record(run=run, category=run.category, ids=ids, to_file=self.to_file)
        audit_record(
            actor=self.actor,
            action="retention.purge_batch",
            object_type=self.object_type,
            object_id=run.pk,
            fields=self.fields,
            detail={"category": run.category, "purge_run": run.pk, "ids": ids, "method": run.method, **(detail or {})},
        )

    @transaction.atomic
    def fail(self, exc: Exception) -> None:
        run = self.run
        run.status, run.finished_at, run.error = PurgeRun.Status.FAILED, timezone.now(), type(exc).__name__
        run.digest = self.sha.hexdigest()
        run.save(update_fields=["status", "finished_at", "error", "digest"])
        audit_record(
            actor=self.actor,
            action="retention.purge_failed",
            obj=run,
            detail={"category": run.category, "error": type(exc).__name__},
        )

    @transaction.atomic
    def finish(self) -> None:
        run = self.run
        run.status, run.finished_at, run.digest = PurgeRun.Status.DONE, timezone.now(), self.sha.hexdigest()
        run.save(update_fields=["status", "finished_at", "digest"])
        cache.delete(_heartbeat_key(run.pk))
        DestructionCertificate.objects.create(
            run=run,
            number=f"RC-{run.started_at:%Y}-{run.pk:06d}",
            category=run.category,
            cutoff=run.cutoff,
            records_destroyed=run.records_destroyed,
            digest=run.digest,
            method=run.method,
            approved_by_label=actor_name(run.approved_by) if run.approved_by else "documented default schedule",
            approved_at=run.approved_at,
            triggered_by_label=actor_name(run.triggered_by) if run.triggered_by else "nightly schedule",
            started_at=run.started_at,
            finished_at=run.finished_at,
        )
        audit_record(
            actor=self.actor,
            action="retention.purge_finished",
            obj=run,
            detail={"category": run.category, "records_destroyed": run.records_destroyed, "batches": run.batches},
        )


def execute_run(
    *,
    category: str,
    cutoff: dt.date,
    retain_days: int,
    method: str,
    step: Callable[[], tuple[list[int], dict]],
    actor: Actor,
    approver=None,
    approved_at: dt.datetime | None = None,
    change: PendingChange | None = None,
    object_type: str,
    fields: tuple[str, ...] = (),
    single_pass: bool = False,
    batch_size: int = 500,
    to_file: bool = True,
) -> PurgeRun:
    """Run ``step`` (destroys one batch, returns its ids) until it returns fewer than ``batch_size``."""
    with _exclusive(category):
        with transaction.atomic():
            run = PurgeRun.objects.create(
                category=category,
                cutoff=cutoff,
                retain_days=retain_days,
                method=method,
                triggered_by=signed_in_user(actor),
                approved_by=approver,
                approved_at=approved_at,
                change=change,
            )
            audit_record(
                actor=actor,
                action="retention.purge_started",
                obj=run,
                detail={"category": category, "cutoff": cutoff.isoformat()},
            )
        recorder = _Recorder(run, actor, object_type, fields, to_file)
        try:
            while True:
                _purge_heartbeat(run)  # a live run says so before each batch (retention_fail_interrupted_runs)
                with transaction.atomic():
                    ids, detail = step()
                    if ids or detail.get("held_rows_destroyed"):
                        recorder.batch(ids, detail)
                        pause_point(f"retention.purge_batch.{category}")  # the kill tests stop a worker here
                if single_pass or len(ids) < batch_size:
                    break
        except Exception as exc:
            recorder.fail(exc)
            raise
        recorder.finish()
    return run


def _step_for(category: str, cutoff: dt.date, batch_size: int) -> Callable[[], tuple[list[int], dict]]:
    if category == Category.USAGE_INTERVALS:
        return lambda: purge_usage(month=cutoff.replace(day=1))
    purgeable = PURGEABLES[category]
    last = [0]  # keyset: each batch starts after the previous one (no re-scan of held or dead rows)

    def step() -> tuple[list[int], dict]:
        pending = candidates(purgeable, cutoff).filter(pk__gt=last[0]).order_by("pk")
        ids = list(pending.values_list("pk", flat=True).distinct()[:batch_size])
        if ids:
            purgeable.destroy(ids)
            last[0] = ids[-1]
        return ids, {}

    return step


def retention_purge_category(
    *,
    category: str,
    actor: Actor = None,
    change: PendingChange | None = None,
    now: dt.datetime | None = None,
    batch_size: int | None = None,
    sync_holds: bool = True,
) -> PurgeRun:
    """Destroy what is past its approved period in one category, in audited batches. Safe to re-run.

    The nightly schedule calls it with no actor; a purge by hand runs only from an approved
    ``PendingChange`` (services/approvals.py), whose approver the certificate names."""
    check_category(category)
    batch_size = batch_size or settings.RETENTION_PURGE_BATCH_SIZE
    policy = RetentionPolicy.objects.filter(category=category).first()
    if policy is None:
        raise PurgeError(f"no retention policy for {category}; run retention_policy_ensure_defaults()")
    if sync_holds:
        retention_holds_sync()
    usage = category == Category.USAGE_INTERVALS
    purgeable = None if usage else PURGEABLES[category]
    return execute_run(
        category=category,
        cutoff=cutoff_for(policy.retain_days, now=now),
        retain_days=policy.retain_days,
        method=USAGE_METHOD if purgeable is None else purgeable.method,
        step=_step_for(category, cutoff_for(policy.retain_days, now=now), batch_size),
        actor=actor,
        approver=change.decided_by if change else policy.approved_by,
        approved_at=change.decided_at if change else policy.approved_at,
        change=change,
        object_type="usage.partition" if purgeable is None else purgeable.object_type,
        fields=() if purgeable is None else purgeable.fields,
        single_pass=usage,
        batch_size=batch_size,
    )


# Records that point at another category's records are purged first: payments before the bills they
# name, so the bills' purge does not detach (``UPDATE accounts_payment SET bill_id = NULL``) payments the
# same run deletes a moment later. Otherwise by category (identifiers before the logins of purged members).
_PURGED_FIRST = (Category.PAYMENTS,)


def run_order(policy: RetentionPolicy) -> tuple[bool, str]:
    return policy.category not in _PURGED_FIRST, policy.category


def retention_run_due(*, now: dt.datetime | None = None) -> list[PurgeRun]:
    """Nightly: every enabled policy at its approved period; a failing category does not stop the others."""
    retention_policy_ensure_defaults()
    retention_holds_sync()
    runs = []
    for policy in sorted(RetentionPolicy.objects.filter(enabled=True), key=run_order):
        try:
            runs.append(retention_purge_category(category=policy.category, now=now, sync_holds=False))
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
    to run twice and beside a live purge (rows another sweep holds are skipped). The next run of the
    category resumes where the dead one stopped: destruction is idempotent by batch.
    """
    now = now or timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.PURGE_RUN_HEARTBEAT_SECONDS)
    failed = []
    with transaction.atomic():
        candidates = PurgeRun.objects.select_for_update(skip_locked=True, no_key=True).filter(
            status=PurgeRun.Status.RUNNING, started_at__lt=stale_before
        )
        for run in candidates.order_by("pk"):
            if cache.get(_heartbeat_key(run.pk)) is not None:
                continue
            _mark_interrupted(run, now, "interrupted: worker lost")
            failed.append(run)
    return failed


@transaction.atomic
def _mark_interrupted(run: PurgeRun, now: dt.datetime, error: str) -> None:
    """A run a dead worker left ``running`` ends as failed, with its audit row: by the sweep, or by the
    next run of its category (which holds the category's lock, so the old run cannot be alive)."""
    run.status, run.finished_at, run.error = PurgeRun.Status.FAILED, now, error
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
