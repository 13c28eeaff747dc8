"""Nothing lost when the broker is down as a release commits (issue 18.3): the release and its
``ReleaseNoticeDue`` row commit together; the task after commit is the fast path, the sweep the safety net,
and each member gets one notice.

The broker is a real Redis server of the test's own (redis-server on a free loopback port, the fixture of
tests/redflags/test_unscored_outbox.py), stopped before the release commits and started again afterwards.
"""

from __future__ import annotations

import pytest

from disclosures import services, tasks
from disclosures.models import DataCategory as C
from disclosures.models import Purpose, ReleaseNoticeDue
from members.models import AuditEvent
from members.notices.models import Notice
from tests.disclosures.conftest import written_consent
from tests.redflags import test_unscored_outbox as outbox_faults

broker = outbox_faults.broker  # the private Redis server, as a fixture of this module too
commit = outbox_faults.commit

pytestmark = pytest.mark.django_db


def _export(privacy_officer, partner):
    export = services.disclosure_export(
        actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
    )
    export.read_all()


def test_a_release_committed_while_the_broker_is_down_still_tells_every_member_once_it_is_back(
    csr, privacy_officer, members, partner, broker, commit, caplog
):
    for member in members:
        written_consent(csr, member, partner)
    broker.stop()
    commit(lambda: _export(privacy_officer, partner))
    (due,) = ReleaseNoticeDue.objects.all()
    assert due.done_at is None and sorted(due.entry.member_ids) == sorted(m.pk for m in members)
    assert not Notice.objects.filter(kind="data_released").exists()
    assert "left to the sweep" in caplog.text
    for member in members:  # the log line names the row, never a member
        assert member.legal_name not in caplog.text and member.email not in caplog.text

    broker.start()
    assert services.release_notices_sweep(grace_seconds=0) == 1
    notices = Notice.objects.filter(kind="data_released")
    assert sorted(n.member_id for n in notices) == sorted(m.pk for m in members)
    assert all(n.state == Notice.State.QUEUED for n in notices)  # the outbox's own sweep delivers them
    due.refresh_from_db()
    assert due.done_at is not None and due.notices == len(members)

    # A re-run of the sweep, and the lost task arriving late, write no duplicates.
    assert services.release_notices_sweep(grace_seconds=0) == 0
    assert tasks.release_notices_sweep.apply().get() == 0
    assert tasks.release_notices_write.apply(args=[due.pk]).get() is None
    assert Notice.objects.filter(kind="data_released").count() == len(members)
    assert AuditEvent.objects.filter(action="notice.queued").count() == 1


def test_with_the_broker_up_the_task_writes_the_notices_and_the_sweep_finds_nothing(
    csr, privacy_officer, members, partner, broker, commit
):
    from config.celery import app as celery_app

    celery_app.conf.task_always_eager = True  # the worker takes it at once
    for member in members:
        written_consent(csr, member, partner)
    commit(lambda: _export(privacy_officer, partner))
    assert Notice.objects.filter(kind="data_released").count() == len(members)
    assert ReleaseNoticeDue.objects.get().done_at is not None
    assert services.release_notices_sweep(grace_seconds=0) == 0
