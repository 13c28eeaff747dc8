"""Platform benchmark: /healthz latency, as a load balancer sees it with a worker running."""

from __future__ import annotations

import statistics
import time

from django.test import Client

from config.health import heartbeat
from members.bench import percentile


def bench_healthz(quick: bool = False) -> dict[str, float]:
    heartbeat()  # measure the healthy path, as a load balancer sees it with a worker running
    client = Client()
    timings = []
    for _ in range(50 if quick else 300):
        started = time.perf_counter()
        client.get("/healthz")
        timings.append((time.perf_counter() - started) * 1000)
    return {"platform.healthz_ms_p50": statistics.median(timings), "platform.healthz_ms_p95": percentile(timings, 95)}


def bench_load(quick: bool = False) -> dict[str, float]:
    from config.loadtest import bench_load as run  # here: it needs locust (a dev dependency) only when run

    return run(quick=quick)


BENCHMARKS = [bench_healthz, bench_load]
