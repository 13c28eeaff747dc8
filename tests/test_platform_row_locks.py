"""Row locks that do not deadlock against the audit chain (found by the ten-minute soak, issue 18).

A clerk's change locks the member's row and then appends to the audit chain. Another transaction that
inserts a row referring to the same member (a reveal grant, a Red Flags item, a consent) appends to the
chain first and checks its foreign key at COMMIT, because Django's foreign keys are deferred. With a full
``FOR UPDATE`` lock that check waits for the clerk while the clerk waits for the chain: PostgreSQL kills
one of them ("deadlock detected", a 503 in the soak). ``FOR NO KEY UPDATE`` does not block a foreign-key
check, and writers still exclude each other.
"""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from members.models import RevealGrant
from members.services import member_lock
from tests.factories import MemberFactory, UserFactory

# Committed rows (the other thread has its own connection), flushed with TRUNCATE ... CASCADE over every
# app afterwards, as the browser tests do (tests/browser/conftest.py).
COMMITTED = pytest.mark.django_db(transaction=True, available_apps=[c.name for c in apps.get_app_configs()])
APPS = ("accounts", "config", "connect", "disclosures", "members", "portal", "redflags", "retention")


def _hold_member(member_id: int, locked: threading.Event, release: threading.Event, errors: list) -> None:
    try:
        with transaction.atomic():
            member_lock(member_id)
            locked.set()
            release.wait(15)
    except BaseException as exc:  # noqa: BLE001 - reported to the test's thread
        errors.append(exc)
    finally:
        connection.close()


@COMMITTED
def test_a_row_referring_to_a_locked_member_commits_without_waiting():
    member, user = MemberFactory(), UserFactory()
    locked, release, errors = threading.Event(), threading.Event(), []
    clerk = threading.Thread(target=_hold_member, args=(member.pk, locked, release, errors))
    clerk.start()
    try:
        assert locked.wait(10), "the clerk's transaction never locked the member"
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '2s'")
                RevealGrant.objects.create(
                    user=user,
                    member_id=member.pk,
                    field_name="phone",
                    reason="a reference inserted while a clerk holds the member",
                    expires_at=timezone.now() + timedelta(minutes=5),
                )
        except OperationalError as exc:  # the deferred foreign-key check waited on the clerk's lock
            pytest.fail(f"the referring row could not commit while the member was locked: {exc}")
    finally:
        release.set()
        clerk.join(20)
    assert not errors
    assert RevealGrant.objects.filter(member_id=member.pk).count() == 1


@COMMITTED
def test_two_writers_still_exclude_each_other():
    member = MemberFactory()
    locked, release, errors = threading.Event(), threading.Event(), []
    clerk = threading.Thread(target=_hold_member, args=(member.pk, locked, release, errors))
    clerk.start()
    try:
        assert locked.wait(10)
        with pytest.raises(OperationalError, match="lock timeout"):
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '500ms'")
                member_lock(member.pk)
    finally:
        release.set()
        clerk.join(20)
    assert not errors


def test_no_service_takes_a_full_row_lock():
    """Every row lock in the application is FOR NO KEY UPDATE (the ORM's ``no_key=True``); a full lock
    would bring the deadlock back for any table other rows refer to."""
    offenders = []
    for app in APPS:
        for path in Path(settings.BASE_DIR, app).rglob("*.py"):
            text = path.read_text()
            for match in re.finditer(r"select_for_update\((.*)", text):  # the rest of the line: its arguments
                if "no_key=True" not in match.group(1):
                    offenders.append(f"{path.relative_to(settings.BASE_DIR)}: {match.group(0)}")
            for match in re.finditer(r"(?<!KEY )FOR UPDATE\b", text):
                line = text[: match.start()].count("\n") + 1
                if "``" not in text.splitlines()[line - 1]:  # docstrings that name the SQL
                    offenders.append(f"{path.relative_to(settings.BASE_DIR)}:{line}: FOR UPDATE")
    assert not offenders, offenders
