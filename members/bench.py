"""Platform benchmark: audit-trail write throughput. (/healthz latency: config/bench.py; the registry's
import, rotation and member list: accounts/bench.py, which can load accounts as well as members.)"""

from __future__ import annotations

import time

from django.db import transaction
from django.test import Client

from members.audit import audit_record


def staff_client(user) -> Client:
    """A test client signed in as ``user`` with both factors, as allauth records a password and TOTP sign-in
    (members/signin/middleware.py turns staff without a second factor away, with a redirect)."""
    client = Client()
    client.force_login(user)
    session = client.session
    now = time.time()
    session["account_authentication_methods"] = [
        {"method": "password", "at": now, "username": user.get_username()},
        {"method": "mfa", "at": now, "type": "totp"},
    ]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()
    return client


def percentile(values: list[float], pct: float) -> float:
    """The ``pct``-th percentile of ``values`` (nearest rank), for the latency benchmarks."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def bench_audit_writes(quick: bool = False) -> dict[str, float]:
    count = 2_000 if quick else 20_000
    started = time.perf_counter()
    # One transaction per 100 changes, as a busy service layer would commit them.
    for batch in range(count // 100):
        with transaction.atomic():
            for index in range(100):
                audit_record(
                    actor=None,
                    actor_label="bench",
                    action="bench.write",
                    object_type="bench",
                    object_id=batch * 100 + index,
                    fields=["x"],
                )
    elapsed = time.perf_counter() - started
    return {"platform.audit_writes_per_s": count / elapsed}


BENCHMARKS = [bench_audit_writes]
