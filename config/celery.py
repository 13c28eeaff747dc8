"""The Celery app. Tasks live in each app's tasks.py and are thin: they take ids and call services."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("memberguard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["config"], related_name="health")


@worker_init.connect
def _refuse_bad_keys(**kwargs):
    # Imported when a worker starts: config/__init__ imports this module before the settings exist.
    from config.checks import fail_fast

    fail_fast()


@worker_ready.connect
def _first_heartbeat(sender=None, **kwargs):
    # /healthz turns green as soon as a worker consumes, not only after beat's first 30 s tick.
    from config.health import heartbeat  # at worker start, as above: it needs the settings

    heartbeat.delay()


@worker_ready.connect
def _sweep_interrupted_purges(sender=None, **kwargs):
    # A purge this worker's predecessor left "running" when it died is marked failed (retention/services.py).
    from retention.tasks import fail_interrupted_runs  # at worker start, as above

    fail_interrupted_runs.delay()
