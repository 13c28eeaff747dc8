"""Benchmarks of the outbox and of sign-in (docs/benchmarks.md).

* ``notices.outbox_delivered_per_s``: queued e-mail notices claimed, sent over SMTP to a local aiosmtpd
  server (started here on a free loopback port) and marked sent, one worker, one SMTP connection.
* ``auth.login_ms_p95``: one client signing in through allauth's form with a password hashed by Argon2
  and a TOTP code (two POSTs), 95th percentile; the Argon2 parameters are recorded beside it.
"""

from __future__ import annotations

import secrets
import socket
import statistics
import time

from django.contrib.auth.hashers import Argon2PasswordHasher
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


class _Sink:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def bench_outbox(quick: bool = False) -> dict[str, float]:
    from aiosmtpd.controller import Controller  # a dev dependency: only the benchmark and tests start a server

    count = 300 if quick else 3000
    sink = _Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
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
            EMAIL_PORT=controller.port,
            EMAIL_USE_TLS=False,
            EMAIL_HOST_USER="",
            EMAIL_HOST_PASSWORD="",
        ):
            started = time.perf_counter()
            sent = notices_send_queued(limit=count)
            elapsed = time.perf_counter() - started
    finally:
        controller.stop()
    return {"notices.outbox_delivered_per_s": sent / elapsed, "notices.outbox_smtp_received": float(sink.count)}


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
    # One client signing in again and again would trip the per-address request limit; measured is the work.
    with override_settings(ACCOUNT_RATE_LIMITS={"login_failed": None, "login": None}):
        for _ in range(rounds):
            timings.append(_timed_login(totp, secret, password))
    hasher = Argon2PasswordHasher
    return {
        "auth.login_ms_p50": statistics.median(timings),
        "auth.login_ms_p95": percentile(timings, 95),
        "auth.argon2_time_cost": float(hasher.time_cost),
        "auth.argon2_memory_cost_kib": float(hasher.memory_cost),
        "auth.argon2_parallelism": float(hasher.parallelism),
    }


def _timed_login(totp, secret: str, password: str) -> float:
    from allauth.mfa.totp.internal.auth import format_hotp_value, hotp_value

    client = Client(REMOTE_ADDR="127.0.0.1")
    if time.time() % 30 > 22:  # not across a TOTP period: wait for the next one (not timed)
        time.sleep(30.5 - time.time() % 30)
    code = format_hotp_value(hotp_value(secret, int(time.time()) // 30))
    cache.delete(totp._get_used_cache_key(code))  # the benchmark reuses a code the real flow would refuse
    started = time.perf_counter()
    first = client.post("/auth/login/", {"login": "bench-login", "password": password})
    response = client.post("/auth/2fa/authenticate/", {"code": code})
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 302 or "_auth_user_id" not in client.session:
        raise RuntimeError(f"the benchmark login did not complete ({first.status_code}, {response.status_code})")
    return elapsed


BENCHMARKS = [bench_outbox, bench_login]
