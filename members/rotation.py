"""Key rotation: re-encrypt every encrypted column under the newest Fernet key and recompute the blind
indexes under a new index key. Batched, resumable, safe while the application serves.

Procedure (docs/keys.md): put the new Fernet key first in ``FERNET_KEYS`` (keep the old one after it)
and, to rotate the index key, move the old ``BLIND_INDEX_KEY`` to ``BLIND_INDEX_KEY_PREVIOUS`` and set a
new ``BLIND_INDEX_KEY``; deploy; run ``manage.py rotate_keys`` (or the Celery task); when it reports
done, remove the old Fernet key and ``BLIND_INDEX_KEY_PREVIOUS``.

Why it is safe while serving: during the run, the app encrypts new writes with the new key and reads
with either; searches look for both the new and the previous index (``crypto.index_values``). Each batch
locks its rows (``SELECT ... FOR NO KEY UPDATE``), so a service saving one of them waits and then writes a
value under the new key itself: nothing written meanwhile is lost or left behind.

How it goes fast: the run first plans its batches (consecutive id ranges of ``batch_size`` rows per
table) and, unless the caller is inside a transaction, hands them to worker processes forked from
this one, each with its own database connection (``KEY_ROTATION_WORKERS``, default one per CPU up to
four): Python's decrypt/encrypt and PostgreSQL's row and index writes then use every core. Each batch
is one transaction in one worker: lock and read the range with one COPY, check and re-encrypt every
value in one pass (``fernet_bulk.reencrypt_many``), COPY the new tokens into the session's staging table
and apply them with one ``UPDATE ... FROM`` (``_process_batch``; the plan: ``members.rotation_plan``).
This process keeps the advisory lock, the bookkeeping and the audit row; workers only report batches.

Resumable: progress is kept in ``KeyRotationRun.cursors`` per table: ``cursors[label]``, every id up to
it is done (-1: the table is finished), and ``cursors["done"][label]``, id ranges above it that workers
finished out of order. A batch is recorded only after it committed (a batch committed but not yet
recorded is simply done again after an interruption: re-encrypting is idempotent). An interrupted run
resumes with only the ids in neither; rows added after planning are taken from the cursor at the end.

Every encrypted column and blind index is taken from the one declaration (members/identifiers.py),
other apps' encrypted fields included; a system check refuses to start with an undeclared one. A value
no configured key can decrypt stops the run with the table, row and column named; it is never
re-encrypted (that would bury the problem under a valid-looking token).
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from members import crypto, identifiers, worker_pool
from members.audit import audit_record
from members.bulk_load import copy_text
from members.faults import pause_point
from members.fernet_bulk import BulkInvalidToken, decrypt_many, encrypt_many, reencrypt_many
from members.identifiers import BlindIndex
from members.models import KeyRotationRun
from members.rotation_plan import PlannedBatch, TableProgress
from members.signals import blind_index_key_rotated
from members.worker_pool import Channel, ForkPool

_LOCK_ID = 0x6D67_6B72  # "mgkr": one rotation at a time (PostgreSQL advisory lock)


class RotationError(RuntimeError):
    pass


class UndecryptableDuringRotation(RotationError):
    def __init__(self, table: str, row_id: int, column: str):
        self.table, self.row_id, self.column = table, row_id, column
        super().__init__(
            f"{table} row {row_id} column {column} cannot be decrypted with any FERNET_KEYS entry; rotation stopped "
            "there (nothing was re-encrypted for that batch). Restore the key that encrypted it, then re-run."
        )


@dataclass(frozen=True)
class IndexSpec:
    """How to recompute a table's blind indexes from its (decrypted) row: the declared indexes of its
    model (members/identifiers.py) and the source columns they need."""

    indexes: tuple[BlindIndex, ...]

    @property
    def needs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(source for index in self.indexes for source in index.sources))

    def compute(self, row: dict, key: str) -> dict[str, str]:
        # A stored value that no longer canonicalises (a rule added since) gets no index rather than
        # stopping the run; it was unsearchable by that rule anyway.
        return {
            index.column: crypto.blind_index_if_valid(index.kind, index.value_in(row), key=key)
            for index in self.indexes
        }


@dataclass
class Target:
    label: str
    table: str
    encrypted: tuple[str, ...]
    index: IndexSpec | None


def targets(*, with_indexes: bool) -> list[Target]:
    """Every table with an encrypted column or (``with_indexes``) a blind index, as declared in
    members/identifiers.py (a system check and tests/registry/test_identifiers.py make sure every
    encrypted field of every installed model is declared)."""
    found = []
    for label in identifiers.models_with_secrets():
        model = apps.get_model(label)
        encrypted = tuple(model._meta.get_field(name).column for name in identifiers.encrypted_names(label))
        declared = identifiers.indexes_of(label)
        index = IndexSpec(declared) if with_indexes and declared else None
        if encrypted or index:
            found.append(Target(model._meta.label_lower, model._meta.db_table, encrypted, index))
    return sorted(found, key=lambda target: target.label)


@dataclass
class RotationReport:
    run_id: int
    values_reencrypted: int = 0
    rows_seen: int = 0
    indexes_recomputed: int = 0
    per_table: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    resumed: bool = False
    workers: int = 1
    # Operating-system process id -> batches it committed (this invocation): which process did the work.
    batches_by_process: dict[int, int] = field(default_factory=dict)

    def add(self, label: str, rows: int, values: int, indexes: int, pid: int) -> None:
        stats = self.per_table.setdefault(label, {"rows": 0, "values": 0, "indexes": 0})
        stats["rows"] += rows
        stats["values"] += values
        stats["indexes"] += indexes
        self.rows_seen += rows
        self.values_reencrypted += values
        self.indexes_recomputed += indexes
        self.batches_by_process[pid] = self.batches_by_process.get(pid, 0) + 1


# --- One batch ---------------------------------------------------------------------------------------

_NULL = b"\\N"
_STAGING = "mg_rotation_batch"


def _copy_text(value) -> bytes:
    """A text value in COPY's text format."""
    return _NULL if value is None else copy_text(str(value)).encode()


def _cell_at(rows: list[tuple], encrypted: tuple[str, ...], index: int) -> tuple[int, str]:
    """Row id and column of the ``index``-th non-NULL encrypted value of ``rows`` (row-major)."""
    for row in rows:
        for position, column in enumerate(encrypted, start=1):
            if row[position] is not None:
                if index == 0:
                    return row[0], column
                index -= 1
    raise IndexError(index)


def _process_batch(
    target: Target,
    cursor_after: int,
    batch_size: int,
    keys: list[bytes],
    index_key: str | None,
    report: RotationReport,
    upto: int | None = None,
) -> int | None:
    """One batch in its own transaction. Returns the last id done, or None when there was no row.

    Every value of the batch is checked and decrypted before anything is written; the new tokens (and
    indexes) are streamed with COPY into the session's staging table for the table and applied by one
    ``UPDATE ... FROM`` limited to the batch's id range, while the rows are still locked.

    The transaction commits without waiting for its WAL to reach the disk (``synchronous_commit = off``,
    for this transaction only): the batch is recorded as done only by the caller's next commit (the
    progress in ``KeyRotationRun``, or the run's end), which is synchronous and so flushes this one's WAL
    first. A crash before that loses at most batches not yet recorded, which the resumed run does again
    (their rows still hold tokens under a key that is still configured).
    """
    if target.index is not None and index_key:
        return _process_batch_with_indexes(
            target, target.index, cursor_after, batch_size, keys, index_key, report, upto
        )
    positions = len(target.encrypted)
    own_transaction = not connection.in_atomic_block
    with worker_pool.paused_gc(), transaction.atomic(), connection.cursor() as cursor:
        _begin_batch(cursor, target, list(target.encrypted), own_transaction=own_transaction)
        locked = _lock_rows(cursor, target, list(target.encrypted), cursor_after, batch_size, upto)
        if not locked.ids:
            return None
        ids, cells = locked.ids, locked.cells
        tokens = [cell for cell in cells if cell != _NULL]
        try:
            fresh = reencrypt_many(keys, tokens)
        except BulkInvalidToken as exc:
            cell = [at for at, value in enumerate(cells) if value != _NULL][exc.index]
            raise UndecryptableDuringRotation(
                target.table, int(ids[cell // positions]), target.encrypted[cell % positions]
            ) from None
        if len(tokens) != len(cells):
            replacements = iter(fresh)
            fresh = [_NULL if cell == _NULL else next(replacements) for cell in cells]
        if tokens:
            # Fernet tokens are URL-safe base64: nothing in them needs escaping in COPY's text format, and
            # bytea's input reads them as they are (no backslash).
            rows = zip(ids, *(fresh[column::positions] for column in range(positions)), strict=True)
            _apply(cursor, target, list(target.encrypted), b"\n".join(map(b"\t".join, rows)) + b"\n", ids)
        report.add(target.label, len(ids), len(tokens), 0, os.getpid())
        pause_point("keys.rotation_batch")  # the kill tests stop a worker here, before the batch commits
        return int(ids[-1])


def _process_batch_with_indexes(
    target: Target,
    index: IndexSpec,
    cursor_after: int,
    batch_size: int,
    keys: list[bytes],
    index_key: str,
    report: RotationReport,
    upto: int | None,
) -> int | None:
    """``_process_batch`` when the blind indexes are recomputed too: the index's source columns are read
    (as Python values: text columns may hold anything) beside the encrypted ones."""
    index_columns = index.needs
    columns = list(dict.fromkeys([*target.encrypted, *index_columns]))
    positions = range(1, len(target.encrypted) + 1)
    own_transaction = not connection.in_atomic_block
    with worker_pool.paused_gc(), transaction.atomic(), connection.cursor() as cursor:
        index_names = [declared.column for declared in index.indexes]
        _begin_batch(cursor, target, [*target.encrypted, *index_names], own_transaction=own_transaction)
        cursor.execute(_lock_query(target, columns, cursor_after, batch_size, upto))
        rows = cursor.fetchall()
        if not rows:
            return None
        tokens = [bytes(row[position]) for row in rows for position in positions if row[position] is not None]
        try:
            plaintexts, _ = decrypt_many(keys, tokens)
        except BulkInvalidToken as exc:
            row_id, column = _cell_at(rows, target.encrypted, exc.index)
            raise UndecryptableDuringRotation(target.table, row_id, column) from None
        fresh = iter(encrypt_many(keys[0], plaintexts))
        plain = iter(plaintexts)
        lines: list[bytes] = []
        for row in rows:
            values = dict(zip(columns, row[1:], strict=True))
            new_tokens = []
            for column in target.encrypted:
                if values[column] is None:
                    new_tokens.append(_NULL)
                else:
                    new_tokens.append(next(fresh))
                    values[column] = next(plain).decode()
            index_values = index.compute(values, index_key)
            lines.append(
                b"\t".join([b"%d" % row[0], *new_tokens, *(_copy_text(index_values[name]) for name in index_names)])
            )
        _apply(cursor, target, [*target.encrypted, *index_names], b"\n".join(lines) + b"\n", [rows[0][0], rows[-1][0]])
        report.add(target.label, len(rows), len(tokens), len(rows) * len(index_names), os.getpid())
        pause_point("keys.rotation_batch")  # the kill tests stop a worker here, before the batch commits
        return rows[-1][0]


@dataclass
class LockedRows:
    """A batch's rows as ``_lock_rows`` read them: ids and encrypted cells as COPY's text wrote them."""

    ids: list[bytes]  # each row's id, in order
    cells: list[bytes]  # the encrypted columns, row after row (``\\N``: NULL)

    def has_row(self, row_id: int) -> bool:
        return b"%d" % row_id in self.ids


def _lock_rows(
    cursor, target: Target, columns: list[str], cursor_after: int, batch_size: int, upto: int | None
) -> LockedRows:
    """Lock and read the batch (``_lock_query``; the locks are held until the batch commits) as COPY text:
    bytea in the escape format (``_begin_batch``), so a token (URL-safe base64) comes as its own bytes, and
    anything else in a bytea column comes escaped and fails its HMAC. No field holds a tab or a newline
    (ids, ``\\N``, escaped bytea), so the rows become one flat list, and the ids are taken out of it."""
    text = io.BytesIO()
    cursor.copy_expert(f"COPY ({_lock_query(target, columns, cursor_after, batch_size, upto)}) TO STDOUT", text)
    data = text.getvalue()
    if not data:
        return LockedRows([], [])
    cells = data[:-1].replace(b"\n", b"\t").split(b"\t")
    width = 1 + len(columns)
    ids = cells[0::width]
    del cells[0::width]
    return LockedRows(ids, cells)


def _lock_query(target: Target, columns: list[str], cursor_after: int, batch_size: int, upto: int | None) -> str:
    """The batch's rows, locked until it commits: rows after ``cursor_after``, either the next
    ``batch_size`` of them or (a planned batch) those up to ``upto``. Ids are formatted as integers."""
    select = f"SELECT id, {', '.join(columns)} FROM {target.table} WHERE id > {int(cursor_after)}"  # noqa: S608 - identifiers from model metadata
    if upto is None:
        return f"{select} ORDER BY id LIMIT {int(batch_size)} FOR NO KEY UPDATE"
    return f"{select} AND id <= {int(upto)} ORDER BY id FOR NO KEY UPDATE"


def _staging_table(target: Target, set_columns: list[str]) -> str:
    return f"{_STAGING}_{len(set_columns)}_{target.table}"[:63]


def _begin_batch(cursor, target: Target, set_columns: list[str], *, own_transaction: bool) -> None:
    """The batch's transaction settings, and the session's staging table for this table's new values
    (kept for the session, emptied at each commit: no catalog rows written and removed per batch).
    ``synchronous_commit`` is turned off only when the batch is its own transaction: inside a caller's
    transaction (``SET LOCAL`` lasts until its end) the caller's commit stays synchronous."""
    staging = (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_staging_table(target, set_columns)} ON COMMIT DELETE ROWS AS "  # noqa: S608 - identifiers from model metadata
        f"SELECT id, {', '.join(set_columns)} FROM {target.table} WITH NO DATA"
    )
    settings_sql = "SET LOCAL bytea_output = 'escape'; SET LOCAL client_min_messages = warning; "
    if own_transaction:
        settings_sql = "SET LOCAL synchronous_commit = off; " + settings_sql
    cursor.execute(settings_sql + staging)


def _apply(cursor, target: Target, set_columns: list[str], copy_text: bytes, ids: list) -> None:
    """COPY the batch's new values into the staging table and write them with one ``UPDATE ... FROM``
    over the batch's id range (the rows it holds locked)."""
    staging = _staging_table(target, set_columns)
    listed = ", ".join(set_columns)
    cursor.copy_expert(f"COPY {staging} (id, {listed}) FROM STDIN", io.BytesIO(copy_text))
    cursor.execute(
        f"UPDATE {target.table} AS t SET {', '.join(f'{column} = v.{column}' for column in set_columns)} "  # noqa: S608
        f"FROM {staging} AS v WHERE t.id = v.id AND t.id BETWEEN %s AND %s",
        [int(ids[0]), int(ids[-1])],
    )


# --- Progress --------------------------------------------------------------------------------------


def _save_progress(run: KeyRotationRun, progress_by_label: dict[str, TableProgress], report: RotationReport) -> None:
    done_ranges = {}
    for label, progress in progress_by_label.items():
        if run.cursors.get(label) == -1:
            continue
        run.cursors[label] = progress.prefix
        if progress.done:
            done_ranges[label] = progress.done
    run.cursors["done"] = done_ranges
    run.counts = report.per_table
    run.save(update_fields=["cursors", "counts"])


# --- Parallel workers (members.worker_pool) -----------------------------------------------------------


def _worker(
    channel: Channel, batches: list[PlannedBatch], by_label: dict[str, Target], keys: list[bytes], index_key: str | None
) -> None:
    """In a forked child: this worker's share of the plan, reporting each committed batch to the parent.
    Stops when told to, when the parent is gone, or at the first failure (reported, without values)."""
    for batch in batches:
        if channel.stopping():
            return
        local = RotationReport(run_id=0)
        try:
            _process_batch(by_label[batch.label], batch.first - 1, 0, keys, index_key, local, upto=batch.last)
        except UndecryptableDuringRotation as exc:
            channel.send(("undecryptable", exc.table, exc.row_id, exc.column))
            return
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises
            channel.send(("failed", batch.label, batch.first, batch.last, type(exc).__name__, str(exc)))
            return
        stats = local.per_table.get(batch.label, {"rows": 0, "values": 0, "indexes": 0})
        channel.send(
            (
                "done",
                batch.label,
                batch.first,
                batch.last,
                stats["rows"],
                stats["values"],
                stats["indexes"],
                os.getpid(),
            )
        )


def _worker_error(message: tuple) -> RotationError:
    if message[0] == "undecryptable":
        return UndecryptableDuringRotation(*message[1:])
    _, label, first, last, error_type, error = message
    return RotationError(f"key rotation worker failed on {label} ids {first}-{last}: {error_type}: {error}")


def _run_parallel(
    batches: list[PlannedBatch],
    workers: int,
    by_label: dict[str, Target],
    keys: list[bytes],
    index_key: str | None,
    on_done: Callable[[PlannedBatch, int, int, int, int], None],
) -> None:
    """Run the planned batches in ``workers`` forked processes, each with its own database connection and
    every ``workers``-th batch of the plan. ``on_done`` runs here, in the parent, for each committed batch."""
    failures: list[RotationError] = []

    def on_message(name: str, message: tuple) -> None:
        if message[0] == "done":
            _, label, first, last, rows, values, indexes, pid = message
            on_done(PlannedBatch(label, first, last), rows, values, indexes, pid)
        else:
            failures.append(_worker_error(message))
            pool.stop()

    with ForkPool(workers, on_message, grace_seconds=60) as pool:
        for number in range(workers):
            pool.submit(f"rotate-keys-{number + 1}", _worker, batches[number::workers], by_label, keys, index_key)
        pool.join()
    if failures:
        raise failures[0]
    if pool.failure is not None:
        cause = pool.failure.error or f"exited (code {pool.failure.exit_code})"
        raise RotationError(
            f"key rotation worker {pool.failure.name} {cause} before finishing its batches; re-run to resume."
        )


def default_workers() -> int:
    """``KEY_ROTATION_WORKERS`` if set, else the bulk commands' default (one per usable CPU, at most four)."""
    return max(1, settings.KEY_ROTATION_WORKERS) if settings.KEY_ROTATION_WORKERS else worker_pool.default_workers()


# --- The run -----------------------------------------------------------------------------------------


@contextmanager
def _advisory_lock():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_ID])
        if not cursor.fetchone()[0]:
            raise RotationError("another key rotation is running")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_ID])


@dataclass
class _Run:
    """One invocation of a (possibly resumed) run: what it does, and where it has got to."""

    run: KeyRotationRun
    report: RotationReport
    todo: list[Target]
    progress_by_label: dict[str, TableProgress]
    keys: list[bytes]
    index_key: str | None
    batch_size: int
    progress: Callable[[str, RotationReport], None] | None

    @classmethod
    def open(cls, *, rotate_indexes: bool, **settings_of_run: Any) -> _Run:
        """Resume the unfinished run of this kind, or start one."""
        run = (
            KeyRotationRun.objects.filter(finished_at__isnull=True, rotate_indexes=rotate_indexes)
            .order_by("-started_at")
            .first()
        )
        resumed = run is not None
        if run is None:
            run = KeyRotationRun.objects.create(rotate_indexes=rotate_indexes)
        report = RotationReport(run_id=run.pk, resumed=resumed, per_table={k: dict(v) for k, v in run.counts.items()})
        todo = [target for target in targets(with_indexes=rotate_indexes) if int(run.cursors.get(target.label, 0)) >= 0]
        saved_ranges = run.cursors.get("done", {})
        progress_by_label = {
            target.label: TableProgress(int(run.cursors.get(target.label, 0)), saved_ranges.get(target.label))
            for target in todo
        }
        return cls(run, report, todo, progress_by_label, **settings_of_run)

    def plan(self, workers: int) -> list[PlannedBatch]:
        """Every table's batches. A table that would make fewer batches than there are workers is cut into
        one batch per worker instead (e.g. 5,000 members in batches of 5,000 would leave a worker idle)."""
        planned: list[PlannedBatch] = []
        with connection.cursor() as cursor:
            for target in self.todo:
                progress = self.progress_by_label[target.label]
                batches = progress.plan(cursor, target, self.batch_size)
                if 0 < len(batches) < workers and not progress.done:
                    cursor.execute(f"SELECT count(*) FROM {target.table} WHERE id > %s", [progress.prefix])  # noqa: S608
                    share = -(-cursor.fetchone()[0] // workers)
                    if 0 < share < self.batch_size:
                        batches = progress.plan(cursor, target, share)
                planned.extend(batches)
        return planned

    def on_done(self, batch: PlannedBatch, rows: int, values: int, indexes: int, pid: int) -> None:
        self.report.add(batch.label, rows, values, indexes, pid)
        self.progress_by_label[batch.label].complete(batch.first, batch.last)
        _save_progress(self.run, self.progress_by_label, self.report)
        if self.progress:
            self.progress(batch.label, self.report)

    def run_planned(self, plan: list[PlannedBatch], workers: int) -> None:
        by_label = {target.label: target for target in self.todo}
        if workers > 1:
            _run_parallel(plan, workers, by_label, self.keys, self.index_key, self.on_done)
            return
        for batch in plan:
            local = RotationReport(run_id=self.run.pk)
            target = by_label[batch.label]
            if _process_batch(target, batch.first - 1, 0, self.keys, self.index_key, local, upto=batch.last) is None:
                self.progress_by_label[batch.label].complete(batch.first, batch.last)
                continue
            stats = local.per_table[batch.label]
            self.on_done(batch, stats["rows"], stats["values"], stats["indexes"], os.getpid())

    def run_rows_added_since_the_plan(self) -> None:
        """Rows added after the plan was made (written under the new key already, but cheap to include),
        one batch at a time from each table's cursor, as a single-process run always did."""
        for target in self.todo:
            progress = self.progress_by_label[target.label]
            while True:
                last = _process_batch(target, progress.prefix, self.batch_size, self.keys, self.index_key, self.report)
                if last is None:
                    break
                progress.prefix = last
                _save_progress(self.run, self.progress_by_label, self.report)
                if self.progress:
                    self.progress(target.label, self.report)
            self.run.cursors[target.label] = -1
            self.run.cursors.get("done", {}).pop(target.label, None)
            self.run.counts = self.report.per_table
            self.run.save(update_fields=["cursors", "counts"])

    def finish(self, *, actor_label: str) -> None:
        report, rotate_indexes = self.report, self.index_key is not None
        with transaction.atomic():
            self.run.finished_at = timezone.now()
            self.run.save(update_fields=["finished_at"])
            audit_record(
                actor=None,
                actor_label=actor_label,
                action="keys.rotated",
                obj=self.run,
                fields=["fernet_keys", *(["blind_index_key"] if rotate_indexes else [])],
                detail={
                    "values_reencrypted": report.values_reencrypted,
                    "rows": report.rows_seen,
                    "indexes_recomputed": report.indexes_recomputed,
                    "resumed": report.resumed,
                    "workers": report.workers,
                    "tables": sorted(report.per_table),
                },
            )
            if rotate_indexes:
                blind_index_key_rotated.send(sender=KeyRotationRun, run_id=self.run.pk)


def keys_rotate(
    *,
    batch_size: int = 2000,
    rotate_indexes: bool | None = None,
    progress: Callable[[str, RotationReport], None] | None = None,
    actor_label: str = "system:rotate_keys",
    workers: int | None = None,
) -> RotationReport:
    """Run (or resume) a rotation. Holds an advisory lock so two runs never interleave.

    ``workers`` processes (default: ``default_workers()``) share the batches when the caller is not in a
    transaction; otherwise, or with ``workers=1``, this process does them one after another.
    """
    keys = crypto.derived_fernet_keys()
    if rotate_indexes is None:
        rotate_indexes = bool(getattr(settings, "BLIND_INDEX_KEY_PREVIOUS", "") or "")
    requested = default_workers() if workers is None else max(1, int(workers))
    with _advisory_lock():
        rotation = _Run.open(
            rotate_indexes=rotate_indexes,
            keys=keys,
            index_key=settings.BLIND_INDEX_KEY if rotate_indexes else None,
            batch_size=batch_size,
            progress=progress,
        )
        started = time.perf_counter()
        parallel = worker_pool.parallel_possible()
        plan = rotation.plan(requested if parallel else 1)
        report = rotation.report
        report.workers = max(1, min(requested, len(plan))) if parallel else 1
        rotation.run_planned(plan, report.workers)
        rotation.run_rows_added_since_the_plan()
        report.seconds = time.perf_counter() - started
        rotation.finish(actor_label=actor_label)
        return report
