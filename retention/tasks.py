from __future__ import annotations

from celery import shared_task

from retention.models import PendingChange
from retention.services import retention_change_run, retention_fail_interrupted_runs, retention_run_due


@shared_task(name="retention.run_due_purges")
def run_due_purges() -> dict[str, int]:
    """Nightly: every enabled retention policy at its approved period, each category in audited batches."""
    return {run.category: run.records_destroyed for run in retention_run_due()}


@shared_task(name="retention.run_approved_purge")
def run_approved_purge(change_id: int) -> int:
    """A purge by hand, once a second Privacy Officer approved it."""
    return retention_change_run(change=PendingChange.objects.get(pk=change_id)).records_destroyed


@shared_task(name="retention.fail_interrupted_runs")
def fail_interrupted_runs() -> list[int]:
    """Every 10 minutes and at worker start: purge runs left running by a dead worker become failed."""
    return [run.pk for run in retention_fail_interrupted_runs()]
