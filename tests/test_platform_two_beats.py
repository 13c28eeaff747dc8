"""Two beat processes started by mistake (issue 18 item 3): real ``celery beat`` processes with the
production scheduler (config/beat.py::SingleDatabaseScheduler) on the real Redis and the test database.
The first holds the lock and schedules; the second says so in its log and schedules nothing; when the
first stops, the second takes over. tests/test_platform_celery.py covers the same lock in-process.
Run alone by .ci/run (its own processes), beside the worker-kill tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import redis
from django.apps import apps
from django.conf import settings
from django.db import connection

from config.beat import LOCK_KEY
from tests import real_worker

pytestmark = [
    pytest.mark.django_db(transaction=True, available_apps=[config.name for config in apps.get_app_configs()]),
    pytest.mark.skipif(
        bool(os.environ.get("PYTEST_XDIST_WORKER")),
        reason="run alone by .ci/run (it starts beat processes of its own)",
    ),
]


def _beat(log_path) -> subprocess.Popen:
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "true",
        "BEAT_LOCK_TTL_SECONDS": "6",
        "BEAT_LOCK_RETRY_SECONDS": "1",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"]
    command += ["--scheduler", settings.CELERY_BEAT_SCHEDULER, "--pidfile=", f"--schedule={log_path}.db"]
    with open(log_path, "w") as log:  # the child keeps its own descriptor
        return subprocess.Popen(  # noqa: S603 - our own command line
            command, cwd=real_worker.ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )


def test_a_second_beat_process_says_so_and_takes_over_only_when_the_first_stops(tmp_path):
    lock = redis.Redis.from_url(settings.REDIS_URL)
    lock.delete(LOCK_KEY)
    first_log, second_log = tmp_path / "beat-1.log", tmp_path / "beat-2.log"
    first = _beat(first_log)
    second = None
    try:
        assert real_worker.wait_for(lambda: lock.get(LOCK_KEY) is not None, 60), first_log.read_text()[-2000:]
        holder = lock.get(LOCK_KEY).decode()
        assert f":{first.pid}:" in holder  # the first beat holds it
        second = _beat(second_log)
        said = real_worker.wait_for(lambda: "another beat" in second_log.read_text(), 60)
        assert said, second_log.read_text()[-2000:]
        line = next(line for line in second_log.read_text().splitlines() if "another beat" in line)
        assert holder in line and "does not schedule" in line
        assert "another beat" not in first_log.read_text()
        assert lock.get(LOCK_KEY).decode() == holder  # still the first's

        os.killpg(first.pid, signal.SIGTERM)  # the first stops (releases its lock on close)
        first.wait(30)
        assert real_worker.wait_for(lambda: f":{second.pid}:" in (lock.get(LOCK_KEY) or b"").decode(), 30)
        assert "taken by" in second_log.read_text()
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
        lock.delete(LOCK_KEY)
