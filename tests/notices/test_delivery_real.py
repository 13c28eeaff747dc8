"""Delivery with real components: a real SMTP server (aiosmtpd on a loopback port), real Celery workers
on the real Redis broker, and committed rows (workers see only what is committed).

The second test kills a worker process (SIGKILL) while it is in the middle of the SMTP conversation,
after its claim, and shows that recovery delivers the notice exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from celery.contrib.testing.worker import start_worker
from django.apps import apps
from django.conf import settings as django_settings
from django.db import connection
from kombu import pools as kombu_pools

from config.celery import app as celery_app
from members import services as member_services
from members.notices.models import Notice
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db(transaction=True, available_apps=[config.name for config in apps.get_app_configs()])

ROOT = Path(__file__).resolve().parents[2]


class Inbox:
    """An aiosmtpd handler that keeps what it accepted; ``hold_first`` makes the first DATA wait until
    released, so a test can kill the sending worker mid-conversation."""

    def __init__(self, hold_first: bool = False):
        self.accepted: list[tuple[str, str]] = []  # (Message-ID, recipient)
        self.data_started = threading.Event()
        self.release = threading.Event()
        self.hold_first = hold_first

    async def handle_DATA(self, server, session, envelope):
        if self.hold_first and not self.data_started.is_set():
            self.data_started.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 Requested action aborted: the sender went away"
        self.data_started.set()
        message_id = next(
            (
                line.split(":", 1)[1].strip()
                for line in envelope.content.decode().splitlines()
                if line.lower().startswith("message-id:")
            ),
            "",
        )
        for recipient in envelope.rcpt_tos:
            self.accepted.append((message_id, recipient))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp(request):
    inbox = Inbox(hold_first=getattr(request, "param", False))
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield inbox, controller.port
    inbox.release.set()
    controller.stop()


@pytest.fixture
def smtp_settings(smtp, settings):
    _, port = smtp
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    return settings


@pytest.fixture
def real_broker():
    """The project's broker as configured, over fresh connections and an empty queue: pools another test
    left behind (kombu keeps them per process) and messages nobody consumed cannot stand between this
    test's notice and the worker it starts."""
    _fresh_broker_connections()
    celery_app.conf.broker_url = django_settings.CELERY_BROKER_URL
    celery_app.conf.task_always_eager = False
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(celery_app.conf.task_default_queue)
    yield
    celery_app.conf.task_always_eager = True
    _fresh_broker_connections()


def _fresh_broker_connections() -> None:
    kombu_pools.reset()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_changed_email_reaches_the_old_and_new_address_through_smtp_from_a_real_worker(
    smtp, smtp_settings, real_broker
):
    inbox, _ = smtp
    member = MemberFactory(email="owner@example.test")
    with start_worker(celery_app, perform_ping_check=False, shutdown_timeout=30):
        member_services.member_change_email(actor=None, member=member, email="new-owner@example.test")
        assert _wait(lambda: len(inbox.accepted) >= 2, 60), inbox.accepted
    assert sorted(rcpt for _, rcpt in inbox.accepted) == ["new-owner@example.test", "owner@example.test"]
    sent = Notice.objects.filter(member=member, channel="email")
    assert {n.state for n in sent} == {"sent"}
    assert sorted(mid for mid, _ in inbox.accepted) == sorted(n.message_id for n in sent)


def _worker_process(port: int) -> subprocess.Popen:
    database = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "DEBUG": "true",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_USE_TLS": "false",
        "NOTICE_LEASE_SECONDS": "2",
    }
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=WARNING"]
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603


@pytest.mark.skipif(
    bool(os.environ.get("PYTEST_XDIST_WORKER")),
    reason="run alone by .ci/run's 'real worker killed mid-delivery' step: inside the parallel suite another "
    "test's worker processes and broker state could stand between this test's notice and its own worker",
)
@pytest.mark.parametrize("smtp", [True], indirect=True)
def test_a_worker_killed_mid_delivery_leads_to_exactly_one_delivered_message(smtp, smtp_settings, real_broker):
    inbox, port = smtp
    smtp_settings.NOTICE_LEASE_SECONDS = 2
    member = MemberFactory(email="owner@example.test")
    worker = _worker_process(port)
    try:
        member_services.member_change_phone(actor=None, member=member, phone="+12175550111")
        assert inbox.data_started.wait(300), "the worker never reached the SMTP server"
        notice = Notice.objects.get(member=member, channel="email")
        assert notice.state == "sending" and notice.attempts == 1  # claimed, mid-send
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    inbox.release.set()
    assert inbox.accepted == []
    time.sleep(2.5)  # the dead worker's lease runs out
    with start_worker(celery_app, perform_ping_check=False, shutdown_timeout=30):
        from members.notices.tasks import notices_sweep

        assert notices_sweep.delay().get(timeout=60) == {"recovered": 1, "sent": 1}
        assert notices_sweep.delay().get(timeout=60) == {"recovered": 0, "sent": 0}
    assert [rcpt for _, rcpt in inbox.accepted] == ["owner@example.test"]
    notice.refresh_from_db()
    assert notice.state == "sent" and notice.attempts == 2
    outcomes = list(notice.delivery_log.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["claimed", "recovered", "claimed", "sent"]
