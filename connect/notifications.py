"""ESPI push notification (issue 17): when new usage arrives, each third party with a notify URI and a
live authorization covering the meters' accounts is sent one BatchList of the Batch/Subscription URIs
that have new data, and pulls them (through the export gate, logged, as any pull).

The outbox pattern the project uses for notices: ``usage_loaded`` (sent in the load's transaction) queues,
after that commit, one ``Notification`` row per third party in a transaction of its own (with its audit
row), and each row's delivery task is enqueued after *that* commit; the task claims the row, POSTs, and
marks it delivered or puts it back for a retry with back-off (``tasks.notification_deliver``); the sweep
re-sends what a dead worker or a broker outage left behind. A BatchList holds URIs only.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from xml.sax.saxutils import escape

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import Account
from accounts.usage.espi import ESPI_NS
from connect.models import Authorization, Notification, ThirdParty
from disclosures.models import DataCategory
from members.audit import audit_record

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_LEASE = timedelta(minutes=5)
TIMEOUT_SECONDS = 10


def batch_list(resources: list[str]) -> bytes:
    """The ESPI BatchList document (valid against usage.xsd)."""
    items = "".join(f"<resources>{escape(uri)}</resources>" for uri in resources)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<BatchList xmlns="{ESPI_NS}">{items}</BatchList>\n'.encode()


def on_usage_loaded(sender, *, batch_id: int, meter_ids: list[int], **kwargs) -> None:
    """``usage_loaded`` receiver: queue the notifications once the load has committed."""
    transaction.on_commit(lambda: notifications_queue(meter_ids=meter_ids, batch_id=batch_id))


def notifications_queue(*, meter_ids: list[int], batch_id: int | None = None) -> list[Notification]:
    """One notification per third party whose live usage authorizations cover an account at these meters'
    premises, naming each such subscription's Batch/Subscription URI."""
    # From the few authorizations that want notifications, never from the (perhaps 100,000) meters loaded.
    now = timezone.now()
    live = list(
        Authorization.objects.filter(
            ended_at__isnull=True,
            expires_at__gt=now,
            categories__contains=[DataCategory.USAGE],
            third_party__status=ThirdParty.Status.APPROVED,
        )
        .exclude(third_party__notify_uri="")
        .order_by("third_party_id", "pk")
        .values_list("third_party_id", "pk", "account_ids")
    )
    if not live:
        return []
    loaded = set(meter_ids)
    wanted = {account_id for *_, account_ids in live for account_id in account_ids}
    touched = {
        account_id
        for account_id, meter_id in Account.objects.filter(pk__in=wanted).values_list("pk", "premise__meters__id")
        if meter_id in loaded
    }
    by_third_party: dict[int, list[str]] = {}
    base = f"{settings.SITE_URL}/espi/1_1/resource/Batch/Subscription"
    for third_party_id, authorization_id, account_ids in live:
        if touched.intersection(account_ids):
            by_third_party.setdefault(third_party_id, []).append(f"{base}/{authorization_id}")
    if not by_third_party:
        return []
    with transaction.atomic():
        notifications = Notification.objects.bulk_create(
            Notification(third_party_id=third_party_id, resources=uris)
            for third_party_id, uris in by_third_party.items()
        )
        audit_record(
            actor=None,
            actor_label="system:connect_notify",
            action="connect.notifications_queued",
            object_type="connect.notification",
            detail={
                "notifications": [n.pk for n in notifications],
                "third_parties": sorted(by_third_party),
                "batch_id": batch_id,
            },
        )
        for notification in notifications:
            transaction.on_commit(lambda pk=notification.pk: _enqueue(pk))
    return notifications


def _enqueue(notification_id: int) -> None:
    from connect.tasks import notification_deliver  # the tasks module imports this one

    notification_deliver.delay(notification_id)


def _claim(notification_id: int) -> Notification | None:
    now = timezone.now()
    claimed = Notification.objects.filter(pk=notification_id, state=Notification.State.QUEUED).update(
        state=Notification.State.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    return Notification.objects.select_related("third_party").get(pk=notification_id)


@transaction.atomic
def _mark(notification: Notification, *, state: str, error: str = "") -> None:
    notification.state, notification.last_error = state, error[:200]
    notification.sent_at = timezone.now() if state == Notification.State.SENT else None
    notification.save(update_fields=["state", "last_error", "sent_at"])
    audit_record(
        actor=None,
        actor_label="system:connect_notify",
        action=f"connect.notification_{state}",
        obj=notification,
        fields=["state"],
        detail={"attempt": notification.attempts, "third_party_id": notification.third_party_id, "error": error[:80]},
    )


def notification_send(*, notification_id: int) -> str:
    """Claim, POST and mark one notification: ``"sent"``, ``"skipped"`` (not queued: already sent or being
    sent), ``"retry"`` (put back) or ``"failed"`` (gave up after ``MAX_ATTEMPTS``, or the third party is no
    longer approved or has no notify URI)."""
    notification = _claim(notification_id)
    if notification is None:
        return "skipped"
    third_party = notification.third_party
    if third_party.status != ThirdParty.Status.APPROVED or not third_party.notify_uri:
        _mark(notification, state=Notification.State.FAILED, error="third party not approved or without notify URI")
        return "failed"
    try:
        response = requests.post(
            third_party.notify_uri,
            data=batch_list(list(notification.resources)),
            headers={"Content-Type": "application/xml"},
            timeout=TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        ok = 200 <= response.status_code < 300
        error = "" if ok else f"HTTP {response.status_code}"
    except requests.RequestException as exc:
        ok, error = False, type(exc).__name__
    if ok:
        _mark(notification, state=Notification.State.SENT)
        return "sent"
    logger.warning("notification %s attempt %s failed: %s", notification.pk, notification.attempts, error)
    if notification.attempts >= MAX_ATTEMPTS:
        _mark(notification, state=Notification.State.FAILED, error=error)
        return "failed"
    _mark(notification, state=Notification.State.QUEUED, error=error)
    return "retry"


def notifications_sweep() -> dict[str, int]:
    """Put back notifications a dead worker left claimed, and (re)enqueue every queued one older than a
    minute: a task lost with the broker, or one whose retry is due."""
    now = timezone.now()
    recovered = Notification.objects.filter(state=Notification.State.SENDING, claimed_at__lt=now - CLAIM_LEASE).update(
        state=Notification.State.QUEUED
    )
    queued = list(
        Notification.objects.filter(
            state=Notification.State.QUEUED, created_at__lt=now - timedelta(minutes=1)
        ).values_list("pk", flat=True)[:1000]
    )
    for notification_id in queued:
        _enqueue(notification_id)
    return {"recovered": recovered, "enqueued": len(queued)}
