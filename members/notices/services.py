"""Writes of the outbox: queue notices (inside the caller's transaction), members' alert choices, and
printing queued letters as one PDF batch for the mail room.

``notice_enqueue`` must run inside the transaction of the change that causes the notice (it refuses
otherwise, as ``audit_record`` does): the change and its notices commit together or not at all. The
delivery task is enqueued after commit; if the broker is down at that moment the notice stays queued
and the periodic sweep (``members.notices.tasks.notices_sweep``) sends it.
"""

from __future__ import annotations

import functools
import io
import logging
import uuid
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.bulk_load import copy_text
from members.models import Member
from members.notices import tasks
from members.notices.kinds import KINDS, kind_of
from members.notices.letters import letters_pdf
from members.notices.models import AlertPreference, LetterBatch, Notice, NoticeAttempt
from members.notices.rendering import postal_address, render_many, render_notice

logger = logging.getLogger(__name__)


class NoticeOutsideTransaction(RuntimeError):
    pass


def _wants(member: Member, kind: str) -> bool:
    if not kind_of(kind).optional:
        return True
    preference = AlertPreference.objects.filter(member=member, kind=kind).first()
    return preference is None or preference.enabled


def _send_after_commit(notice_id: int) -> None:
    try:
        tasks.notice_deliver.delay(notice_id)
    except Exception:  # the broker is down: the notice stays queued and the sweep sends it
        logger.warning("notice %s: delivery task not enqueued; the sweep will send it", notice_id, exc_info=True)


def _message_id(key: uuid.UUID) -> str:
    """A notice's own Message-ID, from its uuid: the outbox's idempotency key at the SMTP server."""
    return f"<{key}@{settings.NOTICE_MESSAGE_ID_DOMAIN}>"


def _notice(kind: str, channel: str, member: Member, subject: str, body: str, *, email="", address="") -> Notice:
    """An unsaved notice with its own Message-ID (the outbox's idempotency key at the SMTP server)."""
    notice = Notice(
        kind=kind,
        channel=channel,
        member=member,
        to_email=email,
        to_name=member.legal_name,
        to_address=address,
        subject=subject,
        body=body,
    )
    notice.message_id = _message_id(notice.uuid)
    return notice


def notice_enqueue(
    *,
    actor: Actor,
    kind: str,
    member: Member,
    context: dict | None = None,
    emails: Iterable[str] | None = None,
    letter: bool = False,
    letter_to: str = "",
) -> list[Notice]:
    """Queue a notice of ``kind`` about ``member``: one e-mail per address in ``emails`` (default: the
    member's e-mail on file) and, with ``letter``, a printed letter to ``letter_to`` (default: the
    mailing address on file). Optional alerts the member turned off are not queued."""
    if not connection.in_atomic_block:
        raise NoticeOutsideTransaction(f"notice_enqueue({kind!r}) must run inside the change's transaction")
    if not _wants(member, kind):
        return []
    subject, body = render_notice(kind=kind, member=member, context=context or {})
    addresses = list(dict.fromkeys(e.strip().lower() for e in (emails if emails is not None else [member.email]) if e))
    destinations = [(Notice.Channel.EMAIL, email, "") for email in addresses]
    if letter and (letter_to or postal_address(member)):
        destinations.append((Notice.Channel.LETTER, "", letter_to or postal_address(member)))
    notices = []
    for channel, email, address in destinations:
        notice = _notice(kind, channel, member, subject, body, email=email, address=address)
        notice.save(force_insert=True)
        notices.append(notice)
        if channel == Notice.Channel.EMAIL:
            transaction.on_commit(functools.partial(_send_after_commit, notice.pk))
    audit_record(
        actor=actor,
        action="notice.queued",
        obj=member,
        detail={"kind": kind, "notices": [n.pk for n in notices], "channels": sorted({n.channel for n in notices})},
    )
    return notices


_RELEASE_CHUNK = 1000


# The namespace of release notices' uuids: one notice per (release, member), whoever writes it.
_RELEASE_NOTICE_NAMESPACE = uuid.UUID("5b0f8f7e-6a43-4d1e-9a56-2f7c1d0e7a31")


def release_notice_uuid(release_key: str, member_id: int) -> uuid.UUID:
    return uuid.uuid5(_RELEASE_NOTICE_NAMESPACE, f"{release_key}:{member_id}")


def notices_data_released(
    *,
    actor: Actor,
    member_ids: Iterable[int],
    recipient: str,
    categories: Iterable[str],
    basis: str,
    when: datetime | None = None,
    release_key: str = "",
    detail: dict | None = None,
) -> int:
    """Tell each member whose data a release carried who received what and why (Privacy Policy: the
    member learns of each release). The disclosure gate's notice task calls this after the release commits
    (disclosures/services/release_notices.py), except for releases a legal order keeps quiet and aggregated
    data (no member's own data leaves).

    A release may carry 100,000 members, so this writes in bulk (``notice_enqueue`` one member at a time
    cost ~30 ms each: an hour for such a release, inside its transaction): the members who turned the
    alert off in one query, the notices a thousand per COPY, one audit row per thousand naming the
    members, and one sweep after commit (the outbox's batch sender) instead of a task per notice.

    ``release_key`` names the release (the disclosure gate passes its log entry): each notice's uuid is
    then derived from it and the member, so the unique uuid refuses a second notice for the same release
    and member, whoever writes it. ``when`` is the moment of the release (default: now); ``detail`` is
    added to each audit row."""
    if not connection.in_atomic_block:
        raise NoticeOutsideTransaction("notices_data_released must run inside a transaction (with its audit rows)")
    kind = "data_released"
    context = {
        "recipient": recipient,
        "categories": ", ".join(categories),
        "basis": basis,
        "when": when or timezone.now(),
    }
    ids = sorted(set(member_ids))
    off: set[int] = set()
    if kind_of(kind).optional:
        off = set(
            AlertPreference.objects.filter(kind=kind, enabled=False, member_id__in=ids).values_list(
                "member_id", flat=True
            )
        )
    count = 0
    render = render_many(kind=kind, context=context)
    for start in range(0, len(ids), _RELEASE_CHUNK):
        chunk = [pk for pk in ids[start : start + _RELEASE_CHUNK] if pk not in off]
        rows: list[tuple] = []
        for member in Member.objects.filter(pk__in=chunk).only("pk", "legal_name", "email").order_by("pk"):
            email = (member.email or "").strip().lower()
            if not email:
                continue
            subject, body = render(member)
            key = release_notice_uuid(release_key, member.pk) if release_key else uuid.uuid4()
            rows.append((key, member.pk, email, member.legal_name, subject, body, _message_id(key)))
        if not rows:
            continue
        _copy_queued_emails(kind, rows)
        count += len(rows)
        audit_record(
            actor=actor,
            action="notice.queued",
            object_type="members.member",
            detail={
                "kind": kind,
                "channels": [Notice.Channel.EMAIL],
                "member_ids": [row[1] for row in rows],
                **(detail or {}),
            },
        )
    if count:
        transaction.on_commit(_sweep_after_commit)
    return count


_QUEUED_EMAIL_COLUMNS = (
    "uuid, kind, channel, member_id, to_email, to_name, to_address, subject, body, message_id, state, attempts, "
    "created_at, last_error"
)


def _copy_queued_emails(kind: str, rows: list[tuple]) -> None:
    """Queued e-mail notices ``(uuid, member_id, email, name, subject, body, message_id)`` in one ``COPY``
    (what ``bulk_create`` of the same rows stores, without building a model instance per row: a release's
    notices spent most of their time there). Same table, constraints and defaults as a saved ``Notice``."""
    now = timezone.now().isoformat()
    fixed = f"{kind}\t{Notice.Channel.EMAIL.value}\t"
    lines = [
        f"{key}\t{fixed}{member_id}\t{copy_text(str(email))}\t{copy_text(str(name))}\t\t"
        f"{copy_text(subject)}\t{copy_text(body)}\t{copy_text(message_id)}\t"
        f"{Notice.State.QUEUED.value}\t0\t{now}\t\n"
        for key, member_id, email, name, subject, body, message_id in rows
    ]
    # Database errors as Django's (IntegrityError on a second notice for the same uuid), as bulk_create raised.
    with connection.cursor() as cursor, connection.wrap_database_errors:
        cursor.copy_expert(
            f"COPY {Notice._meta.db_table} ({_QUEUED_EMAIL_COLUMNS}) FROM STDIN",
            io.StringIO("".join(lines)),
        )


def _sweep_after_commit() -> None:
    try:
        tasks.notices_sweep.delay()
    except Exception:  # the broker is down: the periodic sweep sends them
        logger.warning("release notices: sweep not enqueued; the periodic sweep will send them", exc_info=True)


@transaction.atomic
def alert_preference_set(*, actor: Actor, member: Member, kind: str, enabled: bool) -> AlertPreference:
    """A member turns an optional alert on or off. Security notices cannot be turned off."""
    if kind not in KINDS:
        raise ValidationError({"kind": ["No such alert."]})
    if not KINDS[kind].optional:
        raise ValidationError({"kind": ["Security notices are always sent; they cannot be turned off."]})
    preference, _ = AlertPreference.objects.update_or_create(member=member, kind=kind, defaults={"enabled": enabled})
    audit_record(actor=actor, action="notice.preference_changed", obj=member, detail={"kind": kind, "on": enabled})
    return preference


@transaction.atomic
def letter_batch_print(*, actor: Actor, limit: int = 500) -> LetterBatch | None:
    """Print up to ``limit`` queued letters as one PDF for the mail room and mark them printed.

    Letters are claimed with ``SELECT ... FOR UPDATE SKIP LOCKED``, so two clerks (or the daily task)
    printing at once never put one letter in two batches. ``None`` when nothing is queued."""
    letters = list(
        Notice.objects.select_for_update(skip_locked=True, no_key=True)
        .filter(channel=Notice.Channel.LETTER, state=Notice.State.QUEUED)
        .order_by("created_at", "id")[:limit]
    )
    if not letters:
        return None
    batch = LetterBatch.objects.create(created_by=signed_in_user(actor), letter_count=len(letters), pdf=b"")
    batch.pdf = letters_pdf(letters)
    batch.save(update_fields=["pdf"])
    now = timezone.now()
    Notice.objects.filter(pk__in=[n.pk for n in letters]).update(
        state=Notice.State.SENT, sent_at=now, batch=batch, attempts=1
    )
    NoticeAttempt.objects.bulk_create(
        NoticeAttempt(notice=n, attempt=1, outcome=NoticeAttempt.Outcome.PRINTED, worker=f"batch {batch.pk}")
        for n in letters
    )
    audit_record(actor=actor, action="notice.letters_printed", obj=batch, detail={"letters": len(letters)})
    return batch
