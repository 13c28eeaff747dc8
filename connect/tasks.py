"""Celery tasks of Connect My Data's push notifications: thin, take ids, safe to run twice (the claim
makes a second run a no-op)."""

from __future__ import annotations

from celery import shared_task

from connect import notifications


@shared_task(bind=True, max_retries=notifications.MAX_ATTEMPTS, acks_late=True, reject_on_worker_lost=True)
def notification_deliver(self, notification_id: int) -> str:
    outcome = notifications.notification_send(notification_id=notification_id)
    if outcome == "retry":
        # Back off 30 s, 1 min, 2 min ... capped at 30 min; the sweep re-sends anything a lost task left.
        raise self.retry(countdown=min(30 * 2**self.request.retries, 1800))
    return outcome


@shared_task
def notifications_sweep() -> dict[str, int]:
    return notifications.notifications_sweep()
