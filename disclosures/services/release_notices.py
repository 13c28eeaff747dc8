"""The members' notices of a release, written after the release commits and never lost.

A release may carry 100,000 members; writing their notices inside the release's transaction cost most of
the export's time (docs/benchmarks.md, "release notices leave the release transaction"). So the release's
transaction writes only one ``ReleaseNoticeDue`` row beside its chained log entry (which names the
members), and after commit a task (``disclosures.release_notices_write``) writes the notices in bulk and
marks the row done, in one transaction. The row is claimed ``FOR NO KEY UPDATE SKIP LOCKED`` and skipped
once done, so the task, a re-delivery and the sweep write the notices once between them; each notice's
uuid is derived from the log entry and the member (unique), so a second notice for the same release and
member cannot be stored whoever writes it. If the broker is down at commit, or a worker dies mid-write
(its transaction rolls back), the periodic sweep (``disclosures.release_notices_sweep``, every minute)
writes them once the row is ``RELEASE_NOTICE_GRACE_SECONDS`` old.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from disclosures.models import DisclosureLogEntry, ReleaseNoticeDue
from members.faults import pause_point
from members.notices.services import notices_data_released

logger = logging.getLogger(__name__)

# The task's head start before the sweep takes a due row (the row is locked while written, so an overlap
# is harmless anyway; the grace only spares the sweep a wasted look).
RELEASE_NOTICE_GRACE_SECONDS = 30


def release_notices_due(
    *, entry: DisclosureLogEntry, recipient: str, categories: list[str], basis: str, send: Callable[[int], object]
) -> ReleaseNoticeDue:
    """In the release's transaction: record that ``entry``'s members are owed their notices, with the
    wording the notice needs, and hand the row to ``send`` (the task's ``delay``) after commit."""
    due = ReleaseNoticeDue.objects.create(
        entry=entry, recipient_words=recipient[:200], category_words=categories, basis_words=basis[:200]
    )
    transaction.on_commit(functools.partial(_send, due.pk, send))
    return due


def _send(due_id: int, send: Callable[[int], object]) -> None:
    try:
        send(due_id)
    except Exception as exc:  # noqa: BLE001 - any broker failure: kombu, redis and socket errors alike
        # The row is committed: the sweep writes the notices once the broker is back. Nothing about the
        # members in the log line, only the row.
        logger.warning(
            "release notices %s left to the sweep: the broker refused the task (%s)", due_id, type(exc).__name__
        )


def release_notices_write(*, due_id: int) -> int | None:
    """Write the notices a due row owes and mark it done, in one transaction. ``None`` when the row is
    done already or another worker holds it (it is being written): safe to run any number of times."""
    with transaction.atomic():
        due = (
            ReleaseNoticeDue.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
            .filter(pk=due_id, done_at__isnull=True)
            .select_related("entry", "entry__actor")
            .first()
        )
        if due is None:
            return None
        entry = due.entry
        count = notices_data_released(
            actor=entry.actor,
            member_ids=entry.member_ids,
            recipient=due.recipient_words,
            categories=due.category_words,
            basis=due.basis_words,
            when=entry.at,
            release_key=f"disclosure:{entry.seq}",
            detail={"disclosure_seq": entry.seq},
        )
        pause_point("disclosures.release_notices_write")  # the kill tests stop a worker here, before it commits
        due.done_at = timezone.now()
        due.notices = count
        due.save(update_fields=["done_at", "notices"])
    return count


def release_notices_sweep(*, grace_seconds: int = RELEASE_NOTICE_GRACE_SECONDS, limit: int = 50) -> int:
    """Write the notices of due rows older than ``grace_seconds`` whose task never ran or died, oldest
    first; returns how many rows it completed (rows another worker holds are skipped, not waited for)."""
    cutoff = timezone.now() - datetime.timedelta(seconds=grace_seconds)
    pending = ReleaseNoticeDue.objects.filter(done_at__isnull=True, created_at__lt=cutoff).order_by("created_at", "id")
    done = 0
    for due_id in list(pending.values_list("pk", flat=True)[:limit]):
        if release_notices_write(due_id=due_id) is not None:
            done += 1
    return done
