"""Benchmarks of the outbox and of sign-in (docs/benchmarks.md).

* ``notices.outbox_delivered_per_s``: queued e-mail notices claimed, sent over SMTP to a local aiosmtpd
  server (started in its own process on a free loopback port) and marked sent: one worker, batches
  claimed by one statement, sent over ``NOTICE_SMTP_CONNECTIONS`` connections at once.
* ``auth.login_ms_p95``: one client signing in through allauth's form with a password hashed by Argon2
  and a TOTP code (two POSTs), 95th percentile; the Argon2 parameters are recorded beside it.
"""

from __future__ import annotations

import os
import secrets
import socket
import statistics
import subprocess
import sys
import time

from django.contrib.auth.hashers import get_hasher
from django.core.cache import cache
from django.test import Client, override_settings

from members.bench import percentile
from members.models import User
from members.notices.delivery import notices_send_queued
from members.notices.models import Notice


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# The local SMTP server runs in its own process, as a real relay would: in this process it took the
# GIL from the outbox's sending threads and its CPU was counted as the outbox's. It counts what it
# accepted and prints the count and its CPU seconds when its standard input closes.
_SERVER = """
import logging, sys, time
from aiosmtpd.controller import Controller
logging.getLogger("mail.log").setLevel(logging.WARNING)
class Sink:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Sink.count += 1
        return "250 OK"
controller = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
started = time.process_time()
sys.stdin.read()
controller.stop()
print(Sink.count, time.process_time() - started, flush=True)
"""


def bench_outbox(quick: bool = False) -> dict[str, float]:
    count = 300 if quick else 3000
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - this interpreter running the fixed script above
        [sys.executable, "-c", _SERVER, str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        if server.stdout is None or server.stdout.readline().strip() != "ready":
            raise RuntimeError("the benchmark's SMTP server did not start")
        stamp = time.time_ns()
        Notice.objects.bulk_create(
            Notice(
                kind="bench",
                channel=Notice.Channel.EMAIL,
                to_email=f"bench{index}@example.test",
                subject="Benchmark notice",
                body="A benchmark notice.\n",
                message_id=f"<bench-{stamp}-{index}@memberguard.invalid>",
            )
            for index in range(count)
        )
        with override_settings(
            EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=port,
            EMAIL_USE_TLS=False,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
        ):
            load = os.getloadavg()[0]
            started, cpu = time.perf_counter(), time.process_time()
            sent = notices_send_queued(limit=count)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        output, _ = server.communicate(timeout=60)
        received, server_cpu = output.split()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return {
        "notices.outbox_delivered_per_s": sent / elapsed,
        "notices.outbox_smtp_received": float(received),
        # CPU of the outbox's process per notice (claiming, rendering the MIME message, SMTP client,
        # marking sent); the server's CPU is its own process's. Load average beside it.
        "notices.outbox_cpu_ms_per_notice": cpu * 1000 / max(sent, 1),
        # The SMTP server's own CPU per message (its process, from start to the end of the run).
        "notices.outbox_server_cpu_ms_per_notice": float(server_cpu) * 1000 / max(sent, 1),
        "notices.outbox_load_average_at_start": load,
    }


def bench_login(quick: bool = False) -> dict[str, float]:
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    rounds = 10 if quick else 40
    password = secrets.token_urlsafe(24)
    user, _ = User.objects.get_or_create(username="bench-login")
    user.set_password(password)  # hashed with the configured (Argon2) hasher
    user.save()
    user.authenticator_set.all().delete()
    secret = generate_totp_secret()
    totp = TOTP.activate(user, secret)
    timings = []
    _CPU_MS.clear()
    # One client signing in again and again would trip the per-address request limit; measured is the work.
    with override_settings(ACCOUNT_RATE_LIMITS={"login_failed": None, "login": None}):
        for _ in range(rounds):
            timings.append(_timed_login(totp, secret, password))
    hasher = get_hasher("argon2")  # the configured Argon2 hasher (members/signin/hashers.py)
    cpu = time.process_time()
    for _ in range(5):
        hasher.encode(password, hasher.salt())
    hash_cpu_ms = (time.process_time() - cpu) * 1000 / 5
    return {
        "auth.login_ms_p50": statistics.median(timings),
        "auth.login_ms_p95": percentile(timings, 95),
        "auth.login_cpu_ms_p95": percentile(_CPU_MS, 95),
        "auth.argon2_time_cost": float(hasher.time_cost),
        "auth.argon2_memory_cost_kib": float(hasher.memory_cost),
        "auth.argon2_parallelism": float(hasher.parallelism),
        # CPU time of one hash in this process (every thread of it), which load does not inflate.
        "auth.argon2_hash_cpu_ms": hash_cpu_ms,
        "auth.login_load_average_at_end": os.getloadavg()[0],
    }


_CPU_MS: list[float] = []  # this process's CPU per sign-in (Argon2, forms, sessions), beside the wall time


def _timed_login(totp, secret: str, password: str) -> float:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    client = Client(REMOTE_ADDR="127.0.0.1")
    if time.time() % 30 > 22:  # not across a TOTP period: wait for the next one (not timed)
        time.sleep(30.5 - time.time() % 30)
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    cache.delete(totp._get_used_cache_key(code))  # the benchmark reuses a code the real flow would refuse
    started, cpu = time.perf_counter(), time.process_time()
    first = client.post("/auth/login/", {"login": "bench-login", "password": password})
    response = client.post("/auth/2fa/authenticate/", {"code": code})
    elapsed = (time.perf_counter() - started) * 1000
    _CPU_MS.append((time.process_time() - cpu) * 1000)
    if response.status_code != 302 or "_auth_user_id" not in client.session:
        raise RuntimeError(f"the benchmark login did not complete ({first.status_code}, {response.status_code})")
    return elapsed


# Run from members/bench.py, so ``manage.py bench --only members`` includes them (this app's label is
# notices).
BENCHMARKS: list = []
