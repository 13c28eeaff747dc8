"""Floors for the benchmarks: what the raw primitives cost on the same values, measured in the same run.

A figure like "10,590 members/s" means little on a shared two-core machine that swings 2-3x between an
idle and a busy hour. Beside its floor it does: the floor is the least work any implementation must do for
the same result (encrypt these values with Fernet, HMAC these index inputs, COPY these finished rows into
a table without indexes), measured moments before or after the figure, with the same number of processes.
The ratio ``floor_seconds / measured_seconds`` (1.0 = no overhead beyond the primitives; above 1.0 means
the implementation beats the per-value primitive, e.g. by batching AES) is what the benchmark targets.

Every function here returns seconds of wall time; none writes to a real table (COPY goes into a
temporary table dropped at the end of the transaction).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import multiprocessing
import time
from collections.abc import Callable, Sequence

from cryptography.fernet import Fernet, MultiFernet
from django.db import connection, transaction


def _parallel_seconds(work: Callable[[list], None], items: Sequence, processes: int) -> float:
    """Wall time of ``work`` over ``items`` split into ``processes`` forked workers (1: in this process).

    The pool is started before the clock starts, so what is timed is the work and its hand-off only.
    """
    if processes <= 1 or len(items) < 1_000:
        started = time.perf_counter()
        work(list(items))
        return time.perf_counter() - started
    size = -(-len(items) // processes)
    parts = [list(items[i : i + size]) for i in range(0, len(items), size)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(_noop, range(processes))  # warm: every worker forked and ready
        started = time.perf_counter()
        pool.map(work, parts)
        return time.perf_counter() - started


def _noop(_: int) -> None:
    return None


class _FernetEncrypt:
    def __init__(self, key: bytes):
        self.key = key

    def __call__(self, values: list[bytes]) -> None:
        fernet = Fernet(self.key)
        for value in values:
            fernet.encrypt(value)


class _FernetDecrypt:
    def __init__(self, keys: Sequence[bytes]):
        self.keys = list(keys)

    def __call__(self, tokens: list[bytes]) -> None:
        fernet = MultiFernet([Fernet(key) for key in self.keys])
        for token in tokens:
            fernet.decrypt(token)


class _FernetRotate:
    def __init__(self, keys: Sequence[bytes]):
        self.keys = list(keys)

    def __call__(self, tokens: list[bytes]) -> None:
        fernet = MultiFernet([Fernet(key) for key in self.keys])
        for token in tokens:
            fernet.rotate(token)


class _Hmac:
    def __init__(self, key: bytes):
        self.key = key

    def __call__(self, messages: list[bytes]) -> None:
        key = self.key
        for message in messages:
            hmac.new(key, message, hashlib.sha256).digest()


def fernet_encrypt_seconds(key: bytes, plaintexts: Sequence[bytes], processes: int = 1) -> float:
    """``Fernet.encrypt`` once per value (the library's own primitive, no batching)."""
    return _parallel_seconds(_FernetEncrypt(key), plaintexts, processes)


def fernet_decrypt_seconds(keys: Sequence[bytes], tokens: Sequence[bytes], processes: int = 1) -> float:
    """``MultiFernet.decrypt`` once per token."""
    return _parallel_seconds(_FernetDecrypt(keys), tokens, processes)


def multifernet_rotate_seconds(keys: Sequence[bytes], tokens: Sequence[bytes], processes: int = 1) -> float:
    """``MultiFernet.rotate`` once per token: the textbook way to re-encrypt under the newest key."""
    return _parallel_seconds(_FernetRotate(keys), tokens, processes)


def hmac_cpu_seconds(key: bytes, messages: Sequence[bytes]) -> float:
    """CPU seconds (``time.process_time``) of HMAC-SHA256 once per message in this process."""
    started = time.process_time()
    _Hmac(key)(list(messages))
    return time.process_time() - started


def hmac_seconds(key: bytes, messages: Sequence[bytes], processes: int = 1) -> float:
    """HMAC-SHA256 once per message (blind indexes, the disclosure chain)."""
    return _parallel_seconds(_Hmac(key), messages, processes)


def copy_seconds(table: str, where: str, params: Sequence = ()) -> float:
    """A bare ``COPY`` of rows already in ``table`` (those matching ``where``) into an unindexed temporary
    copy of the table: what storing the finished rows costs with no validation, crypto, indexes or triggers.
    """
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        select = cursor.mogrify(f"SELECT * FROM {table} WHERE {where}", params).decode()  # noqa: S608 - bench only
        cursor.copy_expert(f"COPY ({select}) TO STDOUT", buffer)
    buffer.seek(0)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMP TABLE floor_copy (LIKE {table}) ON COMMIT DROP")
        started = time.perf_counter()
        cursor.copy_expert("COPY floor_copy FROM STDIN", buffer)
        return time.perf_counter() - started


def copy_into_indexed_seconds(tables: Sequence[tuple[str, str, Sequence]]) -> float:
    """A bare ``COPY`` of the rows already in each table (those matching its ``where``) into a table of the
    same shape **with the same indexes, check constraints, foreign keys and storage parameters** (``LIKE
    ... INCLUDING ALL``, plus the original's foreign keys and ``fillfactor``): what storing the finished
    rows costs in the tables as they are, with no validation, crypto, lookups or staging. ``tables`` is ``(table, where,
    params)`` in load order (parents first), all COPYs timed together.

    The copies are ordinary logged tables created (and committed) before the timed transaction, so
    PostgreSQL cannot skip WAL for them the way it may for a table created in the loading transaction;
    they are dropped afterwards. They start empty: so does every benchmark run's share of the real tables.
    """
    dumps = []
    with connection.cursor() as cursor:
        for number, (table, where, params) in enumerate(tables):
            buffer = io.BytesIO()
            select = cursor.mogrify(f"SELECT * FROM {table} WHERE {where}", params).decode()  # noqa: S608 - bench only
            cursor.copy_expert(f"COPY ({select}) TO STDOUT", buffer)
            buffer.seek(0)
            dumps.append((table, f"mg_floor_copy_{number}", buffer))
    copies = [copy for _, copy, _ in dumps]
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for table, copy, _ in dumps:
                cursor.execute(f"CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)")
                cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [table])
                options = cursor.fetchone()[0]
                if options:  # LIKE does not copy storage parameters (fillfactor)
                    cursor.execute(f"ALTER TABLE {copy} SET ({', '.join(options)})")
                cursor.execute(
                    "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                    "WHERE conrelid = %s::regclass AND contype = 'f'",
                    [table],
                )
                for (definition,) in cursor.fetchall():
                    cursor.execute(f"ALTER TABLE {copy} ADD {definition}")
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            for _, copy, buffer in dumps:
                cursor.copy_expert(f"COPY {copy} FROM STDIN", buffer)
        return time.perf_counter() - started  # with the commit, where the foreign keys are checked, as the import's
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(copies)}")


def server_cpu_seconds() -> float:
    """CPU seconds (user + system) the PostgreSQL server this connection talks to has used so far in all its
    processes: its postmaster's children, the running ones and, through the postmaster's own count, those
    that have ended (a verifier's second connection closes before the run is timed). Read from ``/proc`` when
    the server runs on this machine (as on the benchmark machines); ``nan`` otherwise. With
    ``time.process_time`` for the benchmark's own process, it says what a run cost in CPU, which a shared
    machine's load does not move the way it moves wall time; other sessions on the server count too, so
    read it on a quiet server."""
    import math
    import os

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        postmaster = int(_stat(pid)[1])
        main = _stat(postmaster)
    except OSError:
        return math.nan
    ticks = int(main[13]) + int(main[14])  # children that ended (and were waited for)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat(int(entry))
            except OSError:
                continue  # ended meanwhile
            if int(fields[1]) == postmaster:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` after the command name: state, ppid, ... (utime is [11], cutime [13])."""
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def as_token(value) -> bytes:
    """A ciphertext column's value as token bytes, whether the driver returns bytea (memoryview) or text."""
    return value.encode("ascii") if isinstance(value, str) else bytes(value)


def ratio(floor_seconds: float, measured_seconds: float) -> float:
    """``floor / measured``: 1.0 means the implementation costs what its primitives cost."""
    return floor_seconds / measured_seconds if measured_seconds > 0 else 0.0
