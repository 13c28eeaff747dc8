"""Re-apply the destruction ledger to a database restored from a backup taken before a purge.

For each category on the ledger: recompute the blind digest of every record that still holds
something to destroy, destroy those whose digest is on the ledger (no cutoff, no holds: their
destruction was approved and done once already), and document it as a run with its own certificate.
Usage months on the ledger whose partitions came back are dropped again (held meters' rows copied out
first, as in the purge). Idempotent: a second re-application finds nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from django.utils import timezone

from accounts.usage.services import usage_partitions
from retention.models import Category, PurgeRun
from retention.registry import PURGEABLES
from retention.services.ledger import ledger_digest, read_ledger
from retention.services.purge import USAGE_METHOD, execute_run
from retention.services.usage import month_number, purge_usage

REAPPLIED = "re-applied from the destruction ledger after a restore: "


def _matching(category: str, digests: set[str]) -> list[int]:
    pks = PURGEABLES[category].pending(None).order_by("pk").values_list("pk", flat=True).distinct()
    return [pk for pk in pks.iterator(chunk_size=20000) if ledger_digest(category, pk) in digests]


def _reapply_usage(digests: set[str], today: dt.date) -> PurgeRun | None:
    months = [
        p.month for p in usage_partitions() if ledger_digest(Category.USAGE_INTERVALS, month_number(p.month)) in digests
    ]
    if not months:
        return None
    following = max(months) + dt.timedelta(days=32)
    return execute_run(
        category=Category.USAGE_INTERVALS,
        cutoff=following.replace(day=1),
        retain_days=0,
        method=REAPPLIED + USAGE_METHOD,
        step=lambda: purge_usage(month=following.replace(day=1)),
        actor=None,
        object_type="usage.partition",
        single_pass=True,
        to_file=False,
    )


def retention_ledger_reapply(*, directory: Path | None = None, batch_size: int = 10000) -> list[PurgeRun]:
    today = timezone.localdate()
    runs = []
    for category, digests in sorted(read_ledger(directory).items()):
        if category == Category.USAGE_INTERVALS:
            run = _reapply_usage(digests, today)
            runs += [run] if run else []
            continue
        purgeable = PURGEABLES.get(category)
        if purgeable is None:
            continue
        ids = _matching(category, digests)
        if not ids:
            continue
        batches = iter([ids[start : start + batch_size] for start in range(0, len(ids), batch_size)] + [[]])

        def step(batches=batches, purgeable=purgeable) -> tuple[list[int], dict]:
            batch = next(batches)
            if batch:
                purgeable.destroy(batch)
            return batch, {"reapplied": True}

        runs.append(
            execute_run(
                category=category,
                cutoff=today,
                retain_days=0,
                method=REAPPLIED + purgeable.method,
                step=step,
                actor=None,
                object_type=purgeable.object_type,
                fields=purgeable.fields,
                batch_size=batch_size,
                to_file=False,
            )
        )
    return runs
