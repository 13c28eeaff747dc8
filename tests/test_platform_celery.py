"""Issue 11 item 9: Celery loses no task to a dead worker, redelivers within minutes not an hour, marks
purge runs a dead worker left running as failed (audited), and lets one beat schedule at a time.
Real Redis throughout (the lock, the heartbeats, the beat's tasks)."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest
from celery.signals import worker_ready
from django.core.cache import cache
from django.utils import timezone

from config.beat import LOCK_KEY, SingleBeatScheduler
from config.celery import app as celery_app
from config.health import HEARTBEAT_KEY
from members.models import AuditEvent
from retention.models import PurgeRun
from retention.services import retention_fail_interrupted_runs
from retention.services.purge import _purge_heartbeat


def test_a_task_of_a_dead_worker_is_redelivered_within_minutes_not_lost():
    conf = celery_app.conf
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    visibility = conf.broker_transport_options["visibility_timeout"]
    assert conf.task_soft_time_limit < conf.task_time_limit < visibility < 60 * 60


def _scheduler(tmp_path, name: str) -> SingleBeatScheduler:
    scheduler = SingleBeatScheduler(app=celery_app, schedule_filename=str(tmp_path / name))
    # The heartbeat is due now (it last ran an hour ago), so a beat that schedules sends it at once.
    scheduler.schedule["platform-heartbeat"].last_run_at = timezone.now() - dt.timedelta(hours=1)
    return scheduler


def test_a_second_beat_says_so_and_does_not_schedule(tmp_path, caplog):
    first, second = _scheduler(tmp_path, "first"), _scheduler(tmp_path, "second")
    try:
        with caplog.at_level(logging.INFO, logger="config.beat"):
            first.tick()
            assert cache.get(HEARTBEAT_KEY) is not None  # the holder scheduled the due heartbeat (eager here)
            cache.delete(HEARTBEAT_KEY)

            wait = second.tick()

        assert cache.get(HEARTBEAT_KEY) is None  # the second beat scheduled nothing
        assert wait == 15.0
        assert f"another beat ({first.lock.token}) holds {LOCK_KEY}" in caplog.text
        assert "does not schedule" in caplog.text
    finally:
        first.close()
        second.close()


def test_the_next_beat_takes_over_when_the_holder_stops(tmp_path, settings):
    settings.BEAT_LOCK_TTL_SECONDS = 1
    first, second = _scheduler(tmp_path, "first"), _scheduler(tmp_path, "second")
    try:
        assert first.lock.hold() and not second.lock.hold()
        time.sleep(1.3)  # the holder died: nobody renews, the lock expires
        assert second.lock.hold()
        first.close()  # a closing beat releases only its own lock
        assert second.lock.holder() == second.lock.token
        second.close()
        assert second.lock.holder() == "nobody"
    finally:
        first.close()
        second.close()


@pytest.mark.django_db
def test_a_purge_run_a_dead_worker_left_running_is_marked_failed_with_an_audit_row(settings):
    settings.PURGE_RUN_HEARTBEAT_SECONDS = 600
    long_ago = timezone.now() - dt.timedelta(hours=2)
    dead = PurgeRun.objects.create(category="dead", cutoff="2020-01-01", retain_days=1, method="delete")
    alive = PurgeRun.objects.create(category="alive", cutoff="2020-01-01", retain_days=1, method="delete")
    fresh = PurgeRun.objects.create(category="fresh", cutoff="2020-01-01", retain_days=1, method="delete")
    PurgeRun.objects.filter(pk__in=[dead.pk, alive.pk]).update(started_at=long_ago)
    _purge_heartbeat(alive)  # a live worker renews its heartbeat before each batch

    failed = retention_fail_interrupted_runs()

    assert [run.pk for run in failed] == [dead.pk]
    statuses = dict(PurgeRun.objects.values_list("category", "status"))
    assert statuses == {"dead": "failed", "alive": "running", "fresh": "running"}
    dead.refresh_from_db()
    assert dead.error.startswith("interrupted") and dead.finished_at is not None
    event = AuditEvent.objects.get(action="retention.purge_interrupted")
    assert event.object_id == str(dead.pk) and event.actor_label == "system:retention_sweep"
    assert retention_fail_interrupted_runs() == []  # idempotent
    del fresh


@pytest.mark.django_db
def test_a_starting_worker_sweeps_interrupted_purge_runs(settings):
    settings.PURGE_RUN_HEARTBEAT_SECONDS = 60
    run = PurgeRun.objects.create(category="dead", cutoff="2020-01-01", retain_days=1, method="delete")
    PurgeRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - dt.timedelta(hours=1))
    worker_ready.send(sender=None)
    run.refresh_from_db()
    assert run.status == "failed"
    assert "retention-interrupted-runs" in settings.CELERY_BEAT_SCHEDULE
