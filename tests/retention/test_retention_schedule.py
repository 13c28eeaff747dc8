"""Issue 12, items 1 (migration of old dates) and 7 (schedules staff edit, one beat, local time)."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.conf import settings
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import ModelEntry

from config.celery import app as celery_app
from members import roles

pytestmark = pytest.mark.django_db

migration = importlib.import_module("retention.migrations.0003_retention_migrate_retain_until")
TODAY = dt.date(2026, 11, 30)


@pytest.mark.parametrize(
    ("left_on", "retain_until", "hold"),
    [
        (dt.date(2024, 3, 1), dt.date(2031, 3, 1), False),  # set automatically at leaving: seven years
        (dt.date(2024, 2, 29), dt.date(2031, 2, 28), False),  # the service's 29 February rule
        (dt.date(2024, 3, 1), dt.date(2035, 1, 1), True),  # set on purpose: a hold "migrated retention date"
        (None, dt.date(2030, 1, 1), True),  # a date on someone who never left: on purpose
        (dt.date(2010, 3, 1), dt.date(2020, 1, 1), False),  # already past: it protected nothing
    ],
)
def test_old_retention_dates_become_nothing_or_a_hold(left_on, retain_until, hold):
    assert migration.becomes_hold(left_on, retain_until, TODAY) is hold


def test_the_nightly_purge_is_a_database_schedule_in_the_coops_time_zone():
    task = PeriodicTask.objects.get(name="retention-nightly")
    assert task.task == "retention.run_due_purges" and task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("2", "30")
    assert str(task.crontab.timezone) == settings.TIME_ZONE != "UTC"
    from django.utils.module_loading import import_string
    from django_celery_beat.schedulers import DatabaseScheduler

    from config.beat import SingleBeat

    # The database scheduler, behind the single-beat lock (config/beat.py).
    scheduler = import_string(settings.CELERY_BEAT_SCHEDULER.replace(":", "."))
    assert issubclass(scheduler, DatabaseScheduler) and issubclass(scheduler, SingleBeat)


def test_a_time_staff_edited_survives_the_beat_restarting():
    task = PeriodicTask.objects.get(name="retention-nightly")
    task.crontab.hour = "4"
    task.crontab.save()
    # What DatabaseScheduler.setup_schedule does at every beat start: settings' entries into the database.
    for name, entry in celery_app.conf.beat_schedule.items():
        ModelEntry.from_entry(name, app=celery_app, **entry)
    task.refresh_from_db()
    assert task.crontab.hour == "4"
    assert "retention-nightly" not in settings.CELERY_BEAT_SCHEDULE


def test_the_privacy_officer_edits_the_schedule_in_the_admin_and_a_csr_cannot(client, make_user):
    task = PeriodicTask.objects.get(name="retention-nightly")
    client.force_login(make_user("po", role=roles.PRIVACY_OFFICER))
    assert client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/").status_code == 200
    client.force_login(make_user("csr", role=roles.CSR))
    assert client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/").status_code == 403
    client.logout()
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 302
