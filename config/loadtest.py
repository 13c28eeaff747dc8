"""Load at a fixed arrival rate against gunicorn with the production settings (issue 18.2).

``bench_load`` starts gunicorn on a loopback port (DEBUG off, the configured keys and database, as many
workers as ``LOAD_GUNICORN_WORKERS``, default the production config's count), signs users in by creating their sessions
directly (the sign-in page's cost is measured by its own benchmark), and drives each endpoint with locust
(headless, a maintained load tool) at a fixed rate: 100 requests/s for 60 s (quick: 10 s). Then it raises
the rate step by step to find the highest rate at which p95 stays at or under 100 ms.

Endpoints, each with signed-in users of the role that uses it:
- ``api.usage_daily``: a member's month of daily usage from the usage API (members drawn from 50, four
  accounts each, a month of 15-minute data);
- ``registry.member_search``: the CSR's member search, Find a member (``/staff/find/``, members/find.py),
  over five staff search terms (a surname, "Last, First", a phone, part of a number, two words);
- ``registry.admin_member_search``: the same terms in the admin's member list (not a target: the list for
  browsing the registry, with filters and actions; measured beside the lookup so the difference shows);
- ``registry.admin_member_list``: the admin member list;
- ``audit.disclosure_log``: the auditor's disclosure-log page;
- ``portal.home`` and ``portal.usage_page``: a member's portal home and usage page (members drawn from
  ``PORTAL_BENCH_MEMBERS``, default 10,000, with ``PORTAL_BENCH_DAYS`` of 15-minute data, default 365;
  the fixture is ``portal/bench.py``).

``LOAD_SCENARIOS`` runs only some of them (``LOAD_SCENARIOS=portal.`` for the portal's two; see
``selected_scenarios``), and only their fixtures are built. Each run also reports
``<scenario>_server_cpu_ms_per_request``: the CPU gunicorn's processes spent per request, and beside it
``_database_cpu_ms_per_request`` (the PostgreSQL server's processes) and ``_load_tool_cpu_ms_per_request``
(locust's): the three share the machine's cores, so together they say how near a run was to using them up.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import resource
import runpy
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import Group
from django.contrib.sessions.backends.db import SessionStore
from django.db import transaction

from config.load_pacing import checked_arrivals
from members import roles
from members.bench import percentile
from members.bench_floors import server_cpu_seconds as database_cpu_seconds
from members.models import Member, User
from members.signin.records import both_factors_records
from portal.bench import portal_load_sessions

BASE_DIR = Path(settings.BASE_DIR)
TARGET_MS = 100.0
# Requests/s per locust user, by arrival process: a Poisson user's gaps are often shorter than an answer,
# and a user has one request out at a time, so Poisson arrivals need more, slower users to leave on time.
PER_USER_RPS = {"even": 10.0, "poisson": 2.0}
FLOOR_PATH = "/auth/login/"  # the sign-in page: no session, no query, a template (about 4 ms of server time)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_workers() -> int:
    """As many workers as the production configuration runs (``config/gunicorn.conf.py``, which the
    Dockerfile and compose use: 3), unless ``LOAD_GUNICORN_WORKERS`` says otherwise. The harness used
    2 x cores + 1 (5 here) until 2026-11-30; on two cores shared with PostgreSQL and locust the two extra
    workers only add contention (the portal's pages: p95 54/52 ms with 5, 45/48 ms with 3)."""
    configured = runpy.run_path(str(BASE_DIR / "config" / "gunicorn.conf.py")).get("workers", 3)
    return int(os.environ.get("LOAD_GUNICORN_WORKERS", configured))


def serve(workers: int) -> tuple[subprocess.Popen, int]:
    """gunicorn with the production settings (DEBUG off) over this process's database, Redis and keys."""
    port = _free_port()
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": settings.SECRET_KEY,
        "FERNET_KEYS": ",".join(settings.FERNET_KEYS),
        "BLIND_INDEX_KEY": settings.BLIND_INDEX_KEY,
        "DISCLOSURE_CHAIN_KEY": settings.DISCLOSURE_CHAIN_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback; TLS is the proxy's job in production
        "LOG_LEVEL": "WARNING",
    }
    # As a deployment does: the production static storage serves hashed names from a manifest.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"], cwd=BASE_DIR, env=env, check=True
    )  # noqa: S603
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--log-level", "warning"]
    # --preload: the application is imported (and its start-up checks run) once, before the workers fork,
    # so the first requests do not pay for it.
    command.append("--preload")
    process = subprocess.Popen(command, cwd=BASE_DIR, env=env)  # noqa: S603 - our own command line
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=30):  # noqa: S310
                return process, port
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}") from None
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("gunicorn did not answer within two minutes")


Session = dict  # {"cookie": "sessionid=...", "paths": ["/...", ...]}: one signed-in user and what it reads


def warm(port: int, sessions: list[Session], rounds: int = 3) -> None:
    """A few requests per path before measuring: caches, connections and code paths of every worker."""
    for _ in range(rounds):
        for session in sessions[:20]:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{session['paths'][0]}")
            request.add_header("Cookie", session["cookie"])
            try:
                urllib.request.urlopen(request, timeout=60).read()  # noqa: S310 - loopback
            except OSError:
                pass


def session_cookie(user: User) -> str:
    """A signed-in session for ``user``, as the sign-in view would leave it (plus any second-factor marks
    the configured sign-in needs: ``SESSION_EXTRA`` below)."""
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    for key, value in SESSION_EXTRA(user).items():
        store[key] = value
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"


def SESSION_EXTRA(user: User) -> dict:  # noqa: N802 - what the configured sign-in leaves in the session
    """Staff pages need a second factor (members/signin/middleware.py): a staff session carries the records
    allauth writes after a password and a TOTP check, as a real sign-in would leave them."""
    return both_factors_records(user) if user.is_staff else {}


def run_at(rate: float, seconds: int, port: int, sessions: list[Session]) -> dict[str, float]:
    """Drive the sessions' paths at ``rate`` requests/s for ``seconds`` with locust; p50/p95/p99 (ms), errors, rate."""
    # Ten requests/s per locust user, each on its own slot of the 100 ms period (config/load_pacing.py: the
    # users' phases once coincided, and 100/s arrived as bursts of ten). A user at 10/s holds its pace for
    # answers up to 100 ms, the target; slower answers make requests leave late (``send_lateness_ms_p95``)
    # and lower the achieved rate, which max_rate counts as a miss.
    users = max(1, math.ceil(rate / PER_USER_RPS[arrivals()]))
    with tempfile.TemporaryDirectory() as folder:
        prefix = str(Path(folder) / "load")
        # In a file, not the environment: 10,000 portal sessions are over a megabyte, and one environment
        # string may not exceed 128 kB (the exec would fail with E2BIG).
        sessions_file = Path(folder) / "sessions.json"
        sessions_file.write_text(json.dumps(sessions))
        lateness_file = Path(folder) / "lateness.json"
        env = {
            **locust_environment(rate, users),
            "LOAD_SESSIONS_FILE": str(sessions_file),
            "LOAD_LATENESS_FILE": str(lateness_file),
        }
        command = [sys.executable, "-m", "locust", "-f", str(BASE_DIR / "config" / "locustfile.py"), "--headless"]
        command += ["--host", f"http://127.0.0.1:{port}", "-u", str(users), "-r", str(users), "-t", f"{seconds}s"]
        command += ["--csv", prefix, "--only-summary", "--loglevel", "ERROR", "--stop-timeout", "5"]
        ran = subprocess.run(command, env=env, capture_output=True, text=True, check=False, timeout=seconds + 120)  # noqa: S603
        with open(f"{prefix}_stats.csv", newline="") as handle:
            row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
        lateness = json.loads(lateness_file.read_text()) if lateness_file.exists() else []
    if row["50%"] == "N/A":
        raise RuntimeError(f"locust made no request: {ran.stderr[-2000:]}")
    return {
        "p50_ms": float(row["50%"]),
        "p95_ms": float(row["95%"]),
        "p99_ms": float(row["99%"]),
        "errors": float(row["Failure Count"]),
        "requests": float(row["Request Count"]),
        "achieved_rps": float(row["Requests/s"]),
        # How late requests left against their schedule (config/load_pacing.py): near 0 while the server
        # keeps up; locust's latencies count from when a request left, so this is the part they leave out.
        "send_lateness_ms_p95": percentile(lateness, 95) if lateness else math.nan,
    }


def locust_environment(rate: float, users: int) -> dict[str, str]:
    """What a locustfile's users need to share ``rate`` requests/s between ``users`` (config/load_pacing.py):
    ``LOAD_ARRIVALS`` (even, the default, or poisson) passes through from this process's environment."""
    return {
        **os.environ,
        "LOAD_PER_USER_RPS": str(rate / users),
        "LOAD_USERS": str(users),
        "LOAD_ARRIVALS": arrivals(),
    }


def arrivals() -> str:
    """``LOAD_ARRIVALS``: ``even`` (the default: a fixed rate, one request every 1/rate s) or ``poisson``."""
    return checked_arrivals(os.environ.get("LOAD_ARRIVALS", "even"))


def max_rate(port: int, sessions: list[Session], *, start: float, seconds: int) -> float:
    """The highest of the rates tried at which p95 stayed <= 100 ms with no errors and the rate was served:
    upwards from ``start`` (x1.5 a step) while it holds, or downwards (/1.5 a step, to 5 requests/s) until
    it does, so a machine that cannot hold ``start`` still reports what it can hold (0: not even 5/s)."""

    def holds(rate: float) -> bool:
        measured = run_at(rate, seconds, port, sessions)
        return measured["p95_ms"] <= TARGET_MS and not measured["errors"] and measured["achieved_rps"] >= 0.9 * rate

    if not holds(start):
        rate = start / 1.5
        while rate >= 5:
            if holds(rate):
                return round(rate, 1)
            rate /= 1.5
        return 0.0
    best, rate = start, start * 1.5
    while rate <= 2_000 and holds(rate):
        best, rate = rate, rate * 1.5
    return round(best, 1)


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU of gunicorn (the master and its workers) so far: measured around a run and divided
    by its requests, what one request costs the server's CPU (the figure that matters when the load
    generator and the server share two cores; PostgreSQL's own share is not in it)."""
    import psutil  # here: a dependency of locust (dev), like the rest of this module's tools

    master = psutil.Process(pid)
    total = 0.0
    for process in [master, *master.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def cpu_probe_ms() -> float:
    """CPU milliseconds of a fixed piece of Python (the best of three): how fast this machine's cores are
    at the moment. On these shared virtual machines the same loop took 0.32 s and 0.55 s minutes apart, and a
    run's latencies moved with it, so each scenario is bracketed by the probe; compare runs only beside it."""
    best = math.inf
    for _ in range(3):
        started = time.process_time()
        total = 0
        for number in range(1_000_000):
            total += number * number
        best = min(best, time.process_time() - started)
    return 1000 * best


def _cpu_now(gunicorn_pid: int) -> tuple[float, float, float]:
    """CPU seconds so far of gunicorn, of the PostgreSQL server (every process: members.bench_floors) and of
    the load generator (locust runs as a child process this one waits for)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return server_cpu_seconds(gunicorn_pid), database_cpu_seconds(), children.ru_utime + children.ru_stime


def _staff(username: str, role: str) -> User:
    """The load test's staff login, made once. Its password is set only when the login is created: setting
    it again changes the session hash and signs out every session made before (the member search's session
    was signed out when the admin list's scenario asked for the same CSR, and measured the sign-in page)."""
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    user.groups.add(Group.objects.get(name=role))
    return user


def _usage_fixture() -> list[Session]:
    """50 members with a login and four accounts each, a month of 15-minute data on every meter."""
    from accounts.models import Account, Meter, Premise
    from accounts.usage.bench import FIRST_DAY, _day_file
    from accounts.usage.services import meter_ids_by_number, usage_ingest_file, usage_partitions_ensure
    from members.models import Member

    rng = random.Random(7)  # noqa: S311 - synthetic data
    opened = datetime.combine(FIRST_DAY - timedelta(days=365), datetime.min.time(), tzinfo=UTC)
    with transaction.atomic():
        members = []
        for index in range(50):
            login, _ = User.objects.get_or_create(username=f"load-member-{index}")
            member, _ = Member.objects.get_or_create(
                member_number=f"LOADM{index:04d}", defaults={"legal_name": f"Load Member {index}", "user": login}
            )
            members.append(member)
        for index, member in enumerate(members):
            for slot in range(4):
                number = f"LOAD-{index:04d}-{slot}"
                premise, _ = Premise.objects.get_or_create(
                    premise_number=f"LP{index:04d}{slot}",
                    defaults={
                        "service_line1": f"{index} Load Rd",
                        "service_city": "Loadville",
                        "service_state": "IL",
                        "service_postal_code": "62700",
                    },
                )
                Meter.objects.get_or_create(meter_number=number, defaults={"premise": premise})
                Account.objects.get_or_create(
                    account_number=f"LA{index:04d}{slot}",
                    defaults={"member": member, "premise": premise, "status": "open", "opened_at": opened},
                )
        # Usage is read within the account's tenure: an account without an opening date answered every
        # request with no points (the runs before 2026-12-01 measured that empty answer).
        Account.objects.filter(member__in=members, opened_at__isnull=True).update(opened_at=opened)
    usage_partitions_ensure(months_ahead=0, today=FIRST_DAY)
    from accounts.usage.models import IngestBatch

    already = IngestBatch.objects.filter(source="load").count() >= 30
    meters = [(f"LOAD-{i:04d}-{s}", False) for i in range(50) for s in range(4)]
    lookup = meter_ids_by_number()
    for offset in range(0 if already else 30):
        day = FIRST_DAY + timedelta(days=offset)
        usage_ingest_file(data=_day_file(day, meters, rng), source="load", filename=f"load-{day}.csv", meters=lookup)
    middle = FIRST_DAY + timedelta(days=14)
    sessions = []
    for member in members:
        accounts = Account.objects.filter(member=member).values_list("pk", flat=True)
        paths = [f"/api/usage/accounts/{pk}/?period=month&day={middle}" for pk in accounts]
        sessions.append({"cookie": session_cookie(member.user), "paths": paths})
    return sessions


def selected_scenarios(names: list[str], wanted: str | None = None) -> list[str]:
    """The scenarios to run: all of them, or those ``LOAD_SCENARIOS`` names (comma-separated; a name ending
    in "." picks every scenario it begins, e.g. ``LOAD_SCENARIOS=portal.`` for the portal's two), so one
    area can be measured alone on an idle machine without building the others' fixtures."""
    wanted = os.environ.get("LOAD_SCENARIOS", "") if wanted is None else wanted
    picks = [pick.strip() for pick in wanted.split(",") if pick.strip()]
    if not picks:
        return list(names)
    chosen = [name for name in names if any(name == p or (p.endswith(".") and name.startswith(p)) for p in picks)]
    if not chosen:
        raise ValueError(f"LOAD_SCENARIOS={wanted!r} names none of {', '.join(names)}")
    return chosen


def _portal_summary(results: dict[str, float]) -> dict[str, float]:
    """The issue's names for the portal figures (issue 14): p95 of each page at 100 requests/s, the errors
    of both, and the highest rate at which both pages kept p95 <= 100 ms."""
    if "portal.home_p95_ms" not in results or "portal.usage_page_p95_ms" not in results:
        return {}
    return {
        "portal.home_ms_p95": results["portal.home_p95_ms"],
        "portal.usage_page_ms_p95": results["portal.usage_page_p95_ms"],
        "portal.errors": results["portal.home_errors"] + results["portal.usage_page_errors"],
        "portal.max_rps_p95_under_100ms": min(
            results["portal.home_max_rps_p95_under_100ms"], results["portal.usage_page_max_rps_p95_under_100ms"]
        ),
    }


def bench_load(quick: bool = False) -> dict[str, float]:
    """Every scenario, or those ``LOAD_SCENARIOS`` picks (``selected_scenarios``). ``LOAD_RATE`` and
    ``LOAD_SECONDS`` change the fixed rate (default 100 requests/s) and how long it is held."""
    seconds, step_seconds = (10, 5) if quick else (60, 15)
    seconds = int(os.environ.get("LOAD_SECONDS", seconds))
    rate = float(os.environ.get("LOAD_RATE", 100))
    workers = gunicorn_workers()
    terms = ["Whitfield", "okafor, jordan", "555-0042", "00012", "riley hale"]
    finds = [f"/staff/find/?{urlencode({'q': term})}" for term in terms]
    searches = [f"/admin/members/member/?{urlencode({'q': term})}" for term in terms]
    builders = {
        "api.usage_daily": _usage_fixture,
        "registry.member_search": lambda: [{"cookie": session_cookie(_staff("load-csr", roles.CSR)), "paths": finds}],
        "registry.admin_member_search": lambda: [
            {"cookie": session_cookie(_staff("load-csr", roles.CSR)), "paths": searches}
        ],
        "registry.admin_member_list": lambda: [
            {"cookie": session_cookie(_staff("load-csr", roles.CSR)), "paths": ["/admin/members/member/"]}
        ],
        "audit.disclosure_log": lambda: [
            {"cookie": session_cookie(_staff("load-auditor", roles.AUDITOR)), "paths": ["/audit/disclosures/"]}
        ],
        "portal.home": None,  # both portal scenarios come from one fixture (portal/bench.py)
        "portal.usage_page": None,
    }
    chosen = selected_scenarios(list(builders))
    scenarios: dict[str, list[Session]] = {}
    portal = None
    for name in chosen:
        if builders[name] is None:
            portal = portal or portal_load_sessions(quick=quick, session_cookie=session_cookie)
            scenarios[name] = portal[name]
        else:
            scenarios[name] = builders[name]()
    results: dict[str, float] = {"load.gunicorn_workers": workers, "load.rate_rps": rate}
    results["load.arrivals_poisson"] = float(arrivals() == "poisson")  # 0: evenly spaced (config/load_pacing.py)
    if (
        "registry.member_search" in scenarios or "registry.admin_member_search" in scenarios
    ):  # what the searches ran against (BENCH_REGISTRY_KEEP=1 leaves 100,000)
        results["registry.member_search_members_in_table"] = Member.objects.count()
    process, port = serve(workers)
    try:
        # The harness's own floor at the same rate: what locust reports for a page that costs the server
        # about 4 ms, so each scenario's figure can be read beside what the client itself adds.
        floor_sessions: list[Session] = [{"cookie": "", "paths": [FLOOR_PATH]}]
        warm(port, floor_sessions)
        results["load.floor_signin_page_cpu_probe_ms"] = cpu_probe_ms()
        floor = run_at(rate, seconds, port, floor_sessions)
        for key in ("p50_ms", "p95_ms", "p99_ms", "errors"):
            results[f"load.floor_signin_page_{key}"] = floor[key]
        for name, sessions in scenarios.items():
            warm(port, sessions)
            results[f"{name}_cpu_probe_ms_before"] = cpu_probe_ms()
            before = _cpu_now(process.pid)
            measured = run_at(rate, seconds, port, sessions)
            used = [after - earlier for after, earlier in zip(_cpu_now(process.pid), before, strict=True)]
            for key in ("p50_ms", "p95_ms", "p99_ms", "errors", "achieved_rps", "send_lateness_ms_p95"):
                results[f"{name}_{key}"] = measured[key]
            # Where each request's CPU went, on the cores the three share: the web tier, the database server,
            # and the load generator itself.
            for label, seconds_used in zip(("server", "database", "load_tool"), used, strict=True):
                results[f"{name}_{label}_cpu_ms_per_request"] = 1000 * seconds_used / max(1.0, measured["requests"])
            results[f"{name}_cpu_probe_ms_after"] = cpu_probe_ms()
            results[f"{name}_max_rps_p95_under_100ms"] = max_rate(port, sessions, start=rate, seconds=step_seconds)
    finally:
        process.terminate()
        process.wait(timeout=30)
    results.update(_portal_summary(results))
    return results
