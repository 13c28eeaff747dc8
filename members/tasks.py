"""Celery tasks of the registry. Thin: they call a service and are safe to run twice."""

from __future__ import annotations

from celery import shared_task

from members.rotation import RotationError, keys_rotate


@shared_task(name="members.rotate_keys")
def rotate_keys_task(batch_size: int = 2000, workers: int | None = None) -> dict:
    """Rotate keys in the background. A second copy finds the advisory lock taken and stops; an
    interrupted run resumes from its cursors the next time. ``workers`` as for ``keys_rotate`` (a
    daemonic pool process cannot fork, and then does the batches itself)."""
    try:
        report = keys_rotate(batch_size=batch_size, workers=workers, actor_label="system:rotate_keys_task")
    except RotationError as exc:
        return {"status": "not run", "reason": str(exc)}
    return {
        "status": "done",
        "run_id": report.run_id,
        "values": report.values_reencrypted,
        "workers": report.workers,
        "indexes": report.indexes_recomputed,
        "seconds": round(report.seconds, 2),
    }
