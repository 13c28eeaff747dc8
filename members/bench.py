"""Platform benchmarks: audit-trail write throughput; the outbox and sign-in (members/notices/bench.py).
(/healthz latency: config/bench.py; the registry's import, rotation and member list: accounts/bench.py,
which can load accounts as well as members.)"""

from __future__ import annotations

import time

from django.db import transaction
from django.test import Client

from members.audit import audit_record
from members.signin.records import both_factors_records


def staff_client(user) -> Client:
    """A test client signed in as ``user`` with both factors, as allauth records a password and TOTP sign-in
    (members/signin/middleware.py turns staff without a second factor away, with a redirect)."""
    client = Client()
    client.force_login(user)
    session = client.session
    session.update(both_factors_records(user))
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


# The outbox and sign-in benchmarks live beside the outbox (members/notices/bench.py) and run with this
# app's (``manage.py bench --only members``); imported last, as they use ``percentile`` from here.
from members.notices.bench import bench_login, bench_outbox  # noqa: E402

BENCHMARKS = [bench_audit_writes, bench_outbox, bench_login]
