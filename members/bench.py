"""Platform benchmarks: audit-trail write throughput and /healthz latency."""

from __future__ import annotations

import statistics
import time

from django.db import transaction
from django.test import Client

from members.audit import audit_record


def _p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def bench_audit_writes(quick: bool = False) -> dict[str, float]:
    count = 2_000 if quick else 20_000
    started = time.perf_counter()
    # One transaction per 100 changes, as a busy service layer would commit them.
    for batch in range(count // 100):
        with transaction.atomic():
            for index in range(100):
                audit_record(actor=None, actor_label="bench", action="bench.write", object_type="bench", object_id=batch * 100 + index, fields=["x"])
    elapsed = time.perf_counter() - started
    return {"platform.audit_writes_per_s": count / elapsed}


def bench_healthz(quick: bool = False) -> dict[str, float]:
    client = Client()
    timings = []
    for _ in range(50 if quick else 300):
        started = time.perf_counter()
        client.get("/healthz")
        timings.append((time.perf_counter() - started) * 1000)
    return {"platform.healthz_ms_p50": statistics.median(timings), "platform.healthz_ms_p95": _p(timings, 95)}


BENCHMARKS = [bench_audit_writes, bench_healthz]
