"""Soak (issue 18 item 4): ``manage.py bench --soak SECONDS`` (``make bench BENCH_ARGS="--soak 600"``).

Mixed traffic for SECONDS against gunicorn with the production settings (config/loadtest.py's
``serve``) and a real Celery worker: member portal pages, the staff member search and API, the usage
API, usage ingest (CSV uploads through the API), changes to members that Red Flags scores in the worker
(the outbox, after commit), and usage exports (CSV and Green Button), driven by locust at a fixed rate
(``SOAK_RATE_RPS``, default 20 requests/s) by config/soak_locustfile.py.

Every 5 s it samples the resident memory (RSS) of each gunicorn worker and of the Celery worker
(with its pool processes). Growth is measured from the end of the warm-up (a fifth of the run, 10 to
60 s) to the end: a leak grows steadily, a warm cache does not. Reported in results.json as ``soak.*``:
``soak.<process>_rss_growth_pct`` for each process, ``soak.max_rss_growth_pct`` (target <= 10),
``soak.<process>_rss_growth_last_half_pct`` (a leak keeps growing, a warming cache levels off),
``soak.errors`` (target 0), requests and rate, and ``soak.scoring_backlog`` (changes still unscored
30 s after the traffic stopped: the worker kept up).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import psutil
from django.conf import settings
from rest_framework.authtoken.models import Token

from config import loadtest
from members import roles

BASE_DIR = Path(settings.BASE_DIR)
SAMPLE_SECONDS = 5.0


def _worker(env: dict[str, str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", "2", "--loglevel=WARNING"]
    return subprocess.Popen(command, cwd=BASE_DIR, env=env, start_new_session=True)  # noqa: S603


def _rss_mb(process: psutil.Process, *, with_children: bool) -> float:
    try:
        members = [process, *(process.children(recursive=True) if with_children else [])]
        return sum(member.memory_info().rss for member in members) / 1e6
    except psutil.NoSuchProcess:
        return 0.0


class Sampler(threading.Thread):
    """RSS of each watched process every SAMPLE_SECONDS: ``{name: [(t, MB), ...]}``."""

    def __init__(self, gunicorn: subprocess.Popen, worker: subprocess.Popen):
        super().__init__(daemon=True)
        self.gunicorn, self.worker = psutil.Process(gunicorn.pid), psutil.Process(worker.pid)
        self.samples: dict[str, list[tuple[float, float]]] = {}
        self.stop = threading.Event()
        self.started = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_SECONDS):
            now = time.monotonic() - self.started
            watched = {f"gunicorn_worker_{n}": (p, False) for n, p in enumerate(self.gunicorn.children(), 1)}
            watched["celery_worker"] = (self.worker, True)
            for name, (process, with_children) in watched.items():
                self.samples.setdefault(name, []).append((now, _rss_mb(process, with_children=with_children)))


def _mean_before(samples: list[tuple[float, float]], moment: float) -> float:
    """Mean RSS of the last three samples taken by ``moment`` (the first sample if none was)."""
    taken = [mb for t, mb in samples if t <= moment][-3:] or [samples[0][1]]
    return sum(taken) / len(taken)


def _growth(samples: list[tuple[float, float]], warm_up: float) -> tuple[float, float, float, float]:
    """(RSS after warm-up, RSS at the end, growth % since warm-up, growth % over the last half).

    The last half tells a leak (still growing) from caches and lazily imported code filling after a
    short warm-up (flat by then)."""
    end_time = samples[-1][0]
    start, end = _mean_before(samples, warm_up), _mean_before(samples, end_time)
    middle = _mean_before(samples, max(warm_up, end_time / 2))
    return start, end, _percent(start, end), _percent(middle, end)


def _percent(before: float, after: float) -> float:
    return (after - before) / before * 100 if before else 0.0


def _plan(folder: Path) -> Path:
    from accounts.models import Account
    from accounts.usage.bench import FIRST_DAY, _day_file
    from members.models import Member

    sessions = loadtest._usage_fixture()  # 50 members, four accounts each, a month of 15-minute data
    csr = loadtest._staff("load-csr", roles.CSR)
    billing = loadtest._staff("load-billing", roles.BILLING)  # usage.ingest_readings (docs/usage.md)
    members = []
    for session in sessions:
        ids = [int(path.split("/")[4]) for path in session["paths"]]
        numbers = list(Account.objects.filter(pk__in=ids).values_list("account_number", flat=True))
        members.append({"cookie": session["cookie"], "accounts": ids, "account_numbers": numbers})
    meters = [(f"LOAD-{i:04d}-0", False) for i in range(4)]
    import random

    day_file = _day_file(FIRST_DAY + timedelta(days=9), meters, random.Random(1)).decode()  # noqa: S311
    header, *rows = day_file.splitlines()
    template = [header] + [",".join([*row.split(",")[:3], "{v}", *row.split(",")[4:]]) for row in rows if row]
    plan = {
        "members": members,
        "member_ids": list(Member.objects.filter(member_number__startswith="LOADM").values_list("pk", flat=True)),
        "csr_cookie": loadtest.session_cookie(csr),
        "csr_token": Token.objects.get_or_create(user=csr)[0].key,
        "ingest_token": Token.objects.get_or_create(user=billing)[0].key,
        "ingest_template": template,
        "first_day": FIRST_DAY.isoformat(),
        "export_last_day": (FIRST_DAY + timedelta(days=6)).isoformat(),
        "month_day": (FIRST_DAY + timedelta(days=14)).isoformat(),
    }
    path = folder / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def _locust(plan: Path, port: int, rate: float, seconds: int, prefix: str) -> dict[str, float]:
    users = max(1, int(rate))
    env = {**loadtest.locust_environment(rate, users), "SOAK_PLAN": str(plan)}
    command = [sys.executable, "-m", "locust", "-f", str(BASE_DIR / "config" / "soak_locustfile.py"), "--headless"]
    command += ["--host", f"http://127.0.0.1:{port}", "-u", str(users), "-r", str(users), "-t", f"{seconds}s"]
    command += ["--csv", prefix, "--only-summary", "--loglevel", "ERROR", "--stop-timeout", "10"]
    subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=seconds + 180)  # noqa: S603
    results: dict[str, float] = {}
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            name = "all" if row["Name"] == "Aggregated" else row["Name"]
            results[f"soak.{name}_requests"] = float(row["Request Count"])
            results[f"soak.{name}_errors"] = float(row["Failure Count"])
            if name == "all":
                results["soak.p95_ms"] = float(row["95%"]) if row["95%"] != "N/A" else 0.0
                results["soak.achieved_rps"] = float(row["Requests/s"])
    return results


def _scoring_backlog(wait_seconds: int = 30) -> int:
    from redflags.models import UnscoredChange

    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline and UnscoredChange.objects.exists():
        time.sleep(1)
    return UnscoredChange.objects.count()


def bench_soak(seconds: int) -> dict[str, float]:
    rate = float(os.environ.get("SOAK_RATE_RPS", "20"))
    warm_up = min(60.0, max(10.0, seconds / 5))
    workers = int(os.environ.get("LOAD_GUNICORN_WORKERS", "2"))
    with tempfile.TemporaryDirectory() as folder:
        plan = _plan(Path(folder))
        gunicorn, port = loadtest.serve(workers)
        worker_env = {
            **os.environ,
            "DEBUG": "false",
            "SECRET_KEY": settings.SECRET_KEY,
            "FERNET_KEYS": ",".join(settings.FERNET_KEYS),
            "BLIND_INDEX_KEY": settings.BLIND_INDEX_KEY,
            "DISCLOSURE_CHAIN_KEY": settings.DISCLOSURE_CHAIN_KEY,
            "ALLOWED_HOSTS": "127.0.0.1",
            "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        }
        worker = _worker(worker_env)
        sampler = Sampler(gunicorn, worker)
        try:
            sampler.start()
            results = _locust(plan, port, rate, seconds, str(Path(folder) / "soak"))
            sampler.stop.set()
            results["soak.scoring_backlog"] = float(_scoring_backlog())
        finally:
            sampler.stop.set()
            gunicorn.terminate()
            gunicorn.wait(timeout=30)
            if worker.poll() is None:
                os.killpg(worker.pid, 15)
                worker.wait(timeout=60)
    growth = []
    for name, samples in sorted(sampler.samples.items()):
        if len(samples) < 4:
            continue
        start, end, percent, last_half = _growth(samples, warm_up)
        results[f"soak.{name}_rss_mb_after_warmup"] = round(start, 1)
        results[f"soak.{name}_rss_mb_end"] = round(end, 1)
        results[f"soak.{name}_rss_growth_pct"] = round(percent, 2)
        results[f"soak.{name}_rss_growth_last_half_pct"] = round(last_half, 2)
        growth.append(percent)
    results["soak.max_rss_growth_pct"] = round(max(growth, default=0.0), 2)
    results["soak.errors"] = results.get("soak.all_errors", 0.0)
    results.update({"soak.seconds": float(seconds), "soak.rate_rps": rate, "soak.warmup_s": warm_up})
    results["soak.gunicorn_workers"] = float(workers)
    return results
