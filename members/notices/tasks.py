"""Celery tasks of the outbox: thin, take ids, safe to run twice (the claim makes a second run a no-op)."""

from __future__ import annotations

from celery import shared_task

from members.notices import delivery


@shared_task(bind=True, max_retries=8, acks_late=True, reject_on_worker_lost=True)
def notice_deliver(self, notice_id: int) -> str:
    outcome = delivery.notice_send(notice_id=notice_id)
    if outcome == "retry":
        # Back off 30 s, 1 min, 2 min ... capped at 30 min; the claim keeps a late duplicate harmless.
        raise self.retry(countdown=min(30 * 2**self.request.retries, 1800))
    return outcome


@shared_task
def notices_sweep() -> dict[str, int]:
    """The after-commit safety net: recover notices of dead workers, then send whatever is queued
    (a task lost because the broker was down at commit, or one whose retries ran out of time)."""
    recovered = delivery.notices_recover()
    return {"recovered": recovered, "sent": delivery.notices_send_queued()}


@shared_task
def letters_print() -> int | None:
    from members.notices.services import letter_batch_print  # services import this module for delivery

    batch = letter_batch_print(actor=None)
    return batch.pk if batch else None
