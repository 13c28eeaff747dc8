"""Delivering queued e-mail notices exactly once in the normal case, and at most "once per Message-ID"
when a worker dies at the worst moment.

A worker *claims* a notice with one conditional UPDATE (queued, or sending with an expired lease ->
sending, attempts + 1, a lease): two workers given the same notice (a redelivered task, the sweep)
cannot both win. After the SMTP server accepts the message, a second conditional UPDATE marks it
sent, only if this worker's claim still holds. A worker that dies after claiming leaves a lease that
runs out; ``notices_recover`` puts the notice back in the queue and it is sent by the next worker.
The one window left (the SMTP server accepted the message, the worker died before marking it) resends
the same message with the same Message-ID, which receiving systems treat as one message.
"""

from __future__ import annotations

import datetime
import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from members.notices.models import Notice, NoticeAttempt

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _log(notice: Notice, outcome: str, error: str = "") -> None:
    NoticeAttempt.objects.create(
        notice=notice, attempt=notice.attempts, outcome=outcome, worker=worker_name(), error=error[:300]
    )


def notice_claim(*, notice_id: int) -> Notice | None:
    """Claim one e-mail notice for sending; ``None`` if it is sent, failed or another worker holds it."""
    now = timezone.now()
    lease = datetime.timedelta(seconds=settings.NOTICE_LEASE_SECONDS)
    with transaction.atomic():
        claimed = (
            Notice.objects.filter(pk=notice_id, channel=Notice.Channel.EMAIL)
            .filter(Q(state=Notice.State.QUEUED) | Q(state=Notice.State.SENDING, lease_until__lt=now))
            .update(state=Notice.State.SENDING, lease_until=now + lease, attempts=F("attempts") + 1)
        )
        if claimed != 1:
            return None
        notice = Notice.objects.get(pk=notice_id)
        _log(notice, NoticeAttempt.Outcome.CLAIMED)
    return notice


def _message(notice: Notice, connection=None) -> EmailMessage:
    return EmailMessage(
        subject=notice.subject,
        body=notice.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[notice.to_email],
        headers={"Message-ID": notice.message_id, "Auto-Submitted": "auto-generated"},
        connection=connection,
    )


def notice_mark_sent(*, notice: Notice) -> bool:
    """Mark sent if this worker's claim still holds (same attempt, still sending)."""
    with transaction.atomic():
        marked = Notice.objects.filter(pk=notice.pk, state=Notice.State.SENDING, attempts=notice.attempts).update(
            state=Notice.State.SENT, sent_at=timezone.now(), lease_until=None, last_error=""
        )
        if marked:
            _log(notice, NoticeAttempt.Outcome.SENT)
    return bool(marked)


def notice_mark_failed(*, notice: Notice, error: Exception) -> bool:
    """Release a failed attempt: back to the queue, or failed for good after the last attempt.
    Returns whether another attempt will be made."""
    retry = notice.attempts < settings.NOTICE_MAX_ATTEMPTS
    text = f"{type(error).__name__}: {error}"[:300]
    with transaction.atomic():
        Notice.objects.filter(pk=notice.pk, state=Notice.State.SENDING, attempts=notice.attempts).update(
            state=Notice.State.QUEUED if retry else Notice.State.FAILED, lease_until=None, last_error=text
        )
        _log(notice, NoticeAttempt.Outcome.RETRY if retry else NoticeAttempt.Outcome.FAILED, text)
    return retry


def notice_send(*, notice_id: int, connection=None) -> str:
    """Claim, send and mark one notice: ``"sent"``, ``"skipped"`` (not ours to send) or ``"retry"`` /
    ``"failed"`` after an SMTP error."""
    notice = notice_claim(notice_id=notice_id)
    if notice is None:
        return "skipped"
    try:
        _message(notice, connection).send()
    except Exception as error:  # any SMTP or network error: the attempt is logged and released
        logger.warning("notice %s attempt %s failed: %s", notice.pk, notice.attempts, type(error).__name__)
        return "retry" if notice_mark_failed(notice=notice, error=error) else "failed"
    notice_mark_sent(notice=notice)
    return "sent"


# One statement claims a batch and writes its "claimed" log rows; the notices' fields come back with it.
_CLAIM_BATCH_SQL = """
    WITH claimed AS (
        UPDATE notices_notice SET state = 'sending', lease_until = %(lease)s, attempts = attempts + 1
        WHERE id IN (
            SELECT id FROM notices_notice WHERE channel = 'email' AND state = 'queued'
            ORDER BY created_at, id LIMIT %(size)s FOR NO KEY UPDATE SKIP LOCKED
        )
        RETURNING id, to_email, subject, body, message_id, attempts, lease_until, created_at
    ), logged AS (
        INSERT INTO notices_noticeattempt (notice_id, at, attempt, outcome, worker, error)
        SELECT id, %(now)s, attempts, 'claimed', %(worker)s, '' FROM claimed
    )
    SELECT id, to_email, subject, body, message_id, attempts, lease_until FROM claimed ORDER BY created_at, id
"""

# One statement marks the batch sent, only where this claim still holds (same lease token, still
# sending), and logs each notice it marked.
_MARK_SENT_SQL = """
    WITH marked AS (
        UPDATE notices_notice SET state = 'sent', sent_at = %(now)s, lease_until = NULL, last_error = ''
        WHERE id = ANY(%(ids)s) AND state = 'sending' AND lease_until = %(lease)s
        RETURNING id, attempts
    )
    INSERT INTO notices_noticeattempt (notice_id, at, attempt, outcome, worker, error)
    SELECT id, %(now)s, attempts, 'sent', %(worker)s, '' FROM marked
"""


def _claim_batch(size: int) -> list[Notice]:
    """Claim up to ``size`` queued e-mail notices at once. The lease's timestamp is this claim's token:
    marking them sent later requires it unchanged, as a single claim requires its attempt number."""
    now = timezone.now()
    lease = now + datetime.timedelta(seconds=settings.NOTICE_LEASE_SECONDS)
    params: dict[str, Any] = {"lease": lease, "size": size, "now": now, "worker": worker_name()}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_CLAIM_BATCH_SQL, params)
        rows = cursor.fetchall()
    return [
        Notice(
            pk=pk,
            channel=Notice.Channel.EMAIL,
            state=Notice.State.SENDING,
            to_email=to_email,
            subject=subject,
            body=body,
            message_id=message_id,
            attempts=attempts,
            lease_until=lease_until,
        )
        for pk, to_email, subject, body, message_id, attempts, lease_until in rows
    ]


def _mark_batch_sent(notices: list[Notice]) -> None:
    if not notices:
        return
    params: dict[str, Any] = {
        "now": timezone.now(),
        "ids": [n.pk for n in notices],
        "lease": notices[0].lease_until,
        "worker": worker_name(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_MARK_SENT_SQL, params)


def _send_over(smtp, notices: list[Notice]) -> tuple[list[Notice], list[tuple[Notice, Exception]]]:
    """Send ``notices`` in order over one open SMTP connection: those accepted, and those refused."""
    delivered: list[Notice] = []
    refused: list[tuple[Notice, Exception]] = []
    for notice in notices:
        try:
            _message(notice, smtp).send()
        except Exception as error:  # any SMTP or network error: this notice is released for a retry  # noqa: BLE001
            refused.append((notice, error))
        else:
            delivered.append(notice)
    return delivered, refused


def notices_send_queued(*, limit: int = 1000, batch: int = 200, connections: int | None = None) -> int:
    """Send up to ``limit`` queued e-mail notices, claimed ``batch`` at a time and marked sent per batch:
    a worker lost mid-batch leaves at most one batch whose accepted messages are resent, each with its
    own Message-ID.

    Each batch is spread over ``connections`` SMTP connections (``NOTICE_SMTP_CONNECTIONS``) sending at
    once: a message costs four round trips to the server (MAIL, RCPT, DATA, the message), so one
    connection spends most of its time waiting for replies. Only SMTP runs in the threads; every
    database statement stays on this thread's connection."""
    count = max(1, connections or settings.NOTICE_SMTP_CONNECTIONS)
    smtps = [get_connection() for _ in range(count)]
    sent = 0
    with ThreadPoolExecutor(max_workers=count) as pool:
        try:
            for smtp in smtps:
                smtp.open()
            while sent < limit:
                notices = _claim_batch(min(batch, limit - sent))
                if not notices:
                    break
                slices = [notices[index::count] for index in range(count)]
                results = list(pool.map(_send_over, smtps, slices))
                delivered = [notice for done, _ in results for notice in done]
                failed = [pair for _, errors in results for pair in errors]
                _mark_batch_sent(delivered)
                sent += len(delivered)
                for notice, error in failed:
                    logger.warning("notice %s attempt %s failed: %s", notice.pk, notice.attempts, type(error).__name__)
                    notice_mark_failed(notice=notice, error=error)
                if failed:
                    break  # the server is refusing: leave the rest to the next sweep
        finally:
            for smtp in smtps:
                smtp.close()
    return sent


def notices_recover() -> int:
    """Queue again the notices whose worker died holding them (lease run out). Logged per notice."""
    now = timezone.now()
    recovered = 0
    with transaction.atomic():
        stale = list(
            Notice.objects.select_for_update(skip_locked=True, no_key=True).filter(
                state=Notice.State.SENDING, lease_until__lt=now
            )
        )
        for notice in stale:
            if notice.attempts >= settings.NOTICE_MAX_ATTEMPTS:
                notice.state = Notice.State.FAILED
                notice.last_error = "worker lost on the last attempt"
            else:
                notice.state = Notice.State.QUEUED
            notice.lease_until = None
            notice.save(update_fields=["state", "lease_until", "last_error"])
            _log(notice, NoticeAttempt.Outcome.RECOVERED)
            recovered += 1
    return recovered
