from __future__ import annotations

from celery import shared_task

from members.models import User
from retention.services import retention_fail_interrupted_runs, retention_purge_category, retention_run_due


@shared_task(name="retention.run_due_purges")
def run_due_purges() -> dict[str, int]:
    """Nightly: every enabled retention policy, each category in audited batches."""
    return {run.category: run.records_destroyed for run in retention_run_due()}


@shared_task(name="retention.purge_category")
def purge_category(category: str, actor_id: int | None = None) -> int:
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    return retention_purge_category(category=category, actor=actor).records_destroyed


@shared_task(name="retention.fail_interrupted_runs")
def fail_interrupted_runs() -> list[int]:
    """Every 10 minutes and at worker start: purge runs left running by a dead worker become failed."""
    return [run.pk for run in retention_fail_interrupted_runs()]
