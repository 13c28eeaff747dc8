"""Key rotation: re-encrypt every encrypted column under the newest Fernet key and recompute the blind
indexes under a new index key. Batched, resumable, safe while the application serves.

Procedure (docs/keys.md): put the new Fernet key first in ``FERNET_KEYS`` (keep the old one after it)
and, to rotate the index key, move the old ``BLIND_INDEX_KEY`` to ``BLIND_INDEX_KEY_PREVIOUS`` and set a
new ``BLIND_INDEX_KEY``; deploy; run ``manage.py rotate_keys`` (or the Celery task); when it reports
done, remove the old Fernet key and ``BLIND_INDEX_KEY_PREVIOUS``.

Why it is safe while serving: during the run, the app encrypts new writes with the new key and reads
with either; searches look for both the new and the previous index (``crypto.index_values``). Each batch
locks its rows (``SELECT ... FOR UPDATE``), so a service saving one of them waits and then writes a
value under the new key itself: nothing written meanwhile is lost or left behind.

How it goes fast: the run first plans its batches (consecutive id ranges of ``batch_size`` rows per
table) and, unless the caller is inside a transaction, hands them to worker processes forked from
this one, each with its own database connection (``KEY_ROTATION_WORKERS``, default one per CPU up to
four): Python's decrypt/encrypt and PostgreSQL's row and index writes then use every core. Each batch
is one transaction in one worker: lock the range, check and decrypt every value (``fernet_bulk``),
re-encrypt, COPY the new tokens into a temporary table and apply them with one ``UPDATE ... FROM``.
This process keeps the advisory lock, the bookkeeping and the audit row; workers only report batches.

Resumable: progress is kept in ``KeyRotationRun.cursors`` per table: ``cursors[label]``, every id up to
it is done (-1: the table is finished), and ``cursors["done"][label]``, id ranges above it that workers
finished out of order. A batch is recorded only after it committed (a batch committed but not yet
recorded is simply done again after an interruption: re-encrypting is idempotent). An interrupted run
resumes with only the ids in neither; rows added after planning are taken from the cursor at the end.

Every encrypted column of every installed model is found by field type, so other apps' encrypted
fields are rotated too. A value no configured key can decrypt stops the run with the table, row and
column named; it is never re-encrypted (that would bury the problem under a valid-looking token).
"""

from __future__ import annotations

import io
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait

from django.apps import apps
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone
from fernet_fields.fields import EncryptedField

from members import crypto
from members.audit import audit_record
from members.fernet_bulk import BulkInvalidToken, decrypt_many, encrypt_many
from members.models import KeyRotationRun
from members.signals import blind_index_key_rotated

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


def _index_or_empty(kind: str, value, key: str) -> str:
    try:
        return crypto.blind_index_or_empty(kind, value, key=key)
    except crypto.CanonicalisationError:
        return ""


def _member_indexes(row: dict, key: str) -> dict[str, str]:
    tax_id = row["ssn"] or row["tin"]
    return {
        "tax_id_index": _index_or_empty("ssn" if row["ssn"] else "tin", tax_id, key) if tax_id else "",
        "licence_index": _index_or_empty("licence", (row["drivers_licence_number"], row["drivers_licence_state"]), key)
        if row["drivers_licence_number"] and row["drivers_licence_state"]
        else "",
        "passport_index": _index_or_empty("passport", row["passport_number"], key),
        "alien_registration_index": _index_or_empty("alien_registration", row["alien_registration_number"], key),
        "phone_index": _index_or_empty("phone", row["phone"], key),
        "email_index": _index_or_empty("email", row["email"], key),
        "address_index": _index_or_empty(
            "address",
            (
                row["mailing_line1"],
                row["mailing_line2"],
                row["mailing_city"],
                row["mailing_state"],
                row["mailing_postal_code"],
            ),
            key,
        )
        if row["mailing_line1"]
        else "",
    }


@dataclass(frozen=True)
class IndexSpec:
    """How to recompute a table's blind indexes from its (decrypted) row."""

    needs: tuple[str, ...]
    compute: Callable[[dict, str], dict[str, str]]


INDEX_SPECS: dict[str, IndexSpec] = {
    "members.member": IndexSpec(
        (
            "ssn",
            "tin",
            "drivers_licence_number",
            "drivers_licence_state",
            "passport_number",
            "alien_registration_number",
            "phone",
            "email",
            "mailing_line1",
            "mailing_line2",
            "mailing_city",
            "mailing_state",
            "mailing_postal_code",
        ),
        _member_indexes,
    ),
    "members.financialaccount": IndexSpec(
        ("routing_number", "account_number"),
        lambda row, key: {
            "bank_account_index": _index_or_empty("bank_account", (row["routing_number"], row["account_number"]), key)
            if row["routing_number"] and row["account_number"]
            else ""
        },
    ),
    "accounts.premise": IndexSpec(
        ("service_line1", "service_line2", "service_city", "service_state", "service_postal_code"),
        lambda row, key: {
            "address_index": _index_or_empty(
                "address",
                (
                    row["service_line1"],
                    row["service_line2"],
                    row["service_city"],
                    row["service_state"],
                    row["service_postal_code"],
                ),
                key,
            )
        },
    ),
    "accounts.authorizedparty": IndexSpec(
        ("phone", "email"),
        lambda row, key: {
            "phone_index": _index_or_empty("phone", row["phone"], key),
            "email_index": _index_or_empty("email", row["email"], key),
        },
    ),
    "accounts.returnedmail": IndexSpec(
        ("sent_to_address",),
        lambda row, key: {
            "address_index": _index_or_empty("address", row["sent_to_address"].split("|"), key)
            if row["sent_to_address"]
            else ""
        },
    ),
}


@dataclass
class Target:
    label: str
    table: str
    encrypted: tuple[str, ...]
    index: IndexSpec | None


def targets(*, with_indexes: bool) -> list[Target]:
    found = []
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        label = model._meta.label_lower
        encrypted = tuple(f.column for f in model._meta.concrete_fields if isinstance(f, EncryptedField))
        index = INDEX_SPECS.get(label) if with_indexes else None
        if encrypted or index:
            found.append(Target(label, model._meta.db_table, encrypted, index))
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
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_STAGING = "mg_rotation_batch"


def _copy_text(value) -> bytes:
    """A text value in COPY's text format."""
    return _NULL if value is None else str(value).translate(_COPY_ESCAPES).encode()


def _lock_rows(
    cursor, target: Target, columns: list[str], cursor_after: int, batch_size: int, upto: int | None
) -> list[tuple]:
    """Lock and read the batch: rows after ``cursor_after``, either the next ``batch_size`` of them or
    (a planned batch) those up to ``upto``. The locks are held until the batch commits."""
    select = f"SELECT id, {', '.join(columns)} FROM {target.table} WHERE id > %s"  # noqa: S608 - identifiers from model metadata
    if upto is None:
        cursor.execute(f"{select} ORDER BY id LIMIT %s FOR UPDATE", [cursor_after, batch_size])
    else:
        cursor.execute(f"{select} AND id <= %s ORDER BY id FOR UPDATE", [cursor_after, upto])
    return cursor.fetchall()


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
    indexes) are streamed with COPY into a temporary table and applied by one ``UPDATE ... FROM``
    limited to the batch's id range, while the rows are still locked.
    """
    index_columns = target.index.needs if target.index else ()
    columns = list(dict.fromkeys([*target.encrypted, *index_columns]))
    positions = range(1, len(target.encrypted) + 1)
    with transaction.atomic(), connection.cursor() as cursor:
        rows = _lock_rows(cursor, target, columns, cursor_after, batch_size, upto)
        if not rows:
            return None
        tokens = [row[position] for row in rows for position in positions if row[position] is not None]
        try:
            plaintexts, _ = decrypt_many(keys, tokens)
        except BulkInvalidToken as exc:
            row_id, column = _cell_at(rows, target.encrypted, exc.index)
            raise UndecryptableDuringRotation(target.table, row_id, column) from None
        fresh = iter(encrypt_many(keys[0], plaintexts))
        lines: list[bytes] = []
        index_names: list[str] = []
        if target.index is not None and index_key:
            plain = iter(plaintexts)
            for row in rows:
                values = dict(zip(columns, row[1:], strict=True))
                new_tokens = []
                for column in target.encrypted:
                    if values[column] is None:
                        new_tokens.append(_NULL)
                    else:
                        new_tokens.append(next(fresh))
                        values[column] = next(plain).decode()
                index_values = target.index.compute(values, index_key)
                index_names = list(index_values)
                lines.append(b"\t".join([b"%d" % row[0], *new_tokens, *map(_copy_text, index_values.values())]))
        else:
            # Fernet tokens are URL-safe base64: nothing in them needs escaping in COPY's text format,
            # and bytea's input reads them as they are (no backslash).
            for row in rows:
                lines.append(
                    b"\t".join([b"%d" % row[0], *[_NULL if row[p] is None else next(fresh) for p in positions]])
                )
        set_columns = [*target.encrypted, *index_names]
        if set_columns:
            listed = ", ".join(set_columns)
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{_STAGING}")
            cursor.execute(
                f"CREATE TEMPORARY TABLE {_STAGING} ON COMMIT DROP AS "  # noqa: S608 - identifiers from model metadata
                f"SELECT id, {listed} FROM {target.table} WITH NO DATA"
            )
            cursor.copy_expert(f"COPY {_STAGING} (id, {listed}) FROM STDIN", io.BytesIO(b"\n".join(lines) + b"\n"))
            cursor.execute(
                f"UPDATE {target.table} AS t SET {', '.join(f'{column} = v.{column}' for column in set_columns)} "  # noqa: S608
                f"FROM {_STAGING} AS v WHERE t.id = v.id AND t.id BETWEEN %s AND %s",
                [rows[0][0], rows[-1][0]],
            )
        report.add(target.label, len(rows), len(tokens), len(rows) * len(index_names), os.getpid())
        return rows[-1][0]


# --- Planning and progress ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedBatch:
    label: str
    first: int  # the batch is the rows with first <= id <= last
    last: int


class TableProgress:
    """What is done in one table, in the form kept in ``KeyRotationRun.cursors``.

    ``prefix``: every row with ``id <= prefix`` is done (the single cursor of a one-process run).
    ``done``: closed id ranges above ``prefix`` that are done too: batches that parallel workers
    committed out of order. A resumed run plans batches only for the ids in neither.
    """

    def __init__(self, prefix: int, done: list[list[int]] | None = None):
        self.prefix = prefix
        self.done = sorted([int(first), int(last)] for first, last in (done or []) if int(last) > prefix)
        self.pending: set[tuple[int, int]] = set()

    def plan(self, cursor, target: Target, batch_size: int) -> list[PlannedBatch]:
        """Batches of up to ``batch_size`` existing rows each, none spanning a range already done."""
        batches: list[PlannedBatch] = []
        chunk: list[int] = []
        done = iter(self.done)
        skip = next(done, None)
        after = self.prefix
        while True:
            cursor.execute(f"SELECT id FROM {target.table} WHERE id > %s ORDER BY id LIMIT 50000", [after])  # noqa: S608
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                break
            for row_id in ids:
                while skip is not None and skip[1] < row_id:
                    skip = next(done, None)
                if skip is not None and skip[0] <= row_id:
                    if chunk:  # a batch never straddles work already done
                        batches.append(PlannedBatch(target.label, chunk[0], chunk[-1]))
                        chunk = []
                    continue
                chunk.append(row_id)
                if len(chunk) == batch_size:
                    batches.append(PlannedBatch(target.label, chunk[0], chunk[-1]))
                    chunk = []
            after = ids[-1]
        if chunk:
            batches.append(PlannedBatch(target.label, chunk[0], chunk[-1]))
        self.pending = {(batch.first, batch.last) for batch in batches}
        return batches

    def complete(self, first: int, last: int) -> None:
        self.pending.discard((first, last))
        self.done.append([first, last])
        self.done.sort()
        # The prefix moves over done ranges up to the first batch still pending: the plan covered every
        # row above the prefix, so nothing below that batch is left.
        lowest_pending = min((first for first, _ in self.pending), default=None)
        while self.done and (lowest_pending is None or self.done[0][1] < lowest_pending):
            self.prefix = max(self.prefix, self.done.pop(0)[1])


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


# --- Parallel workers --------------------------------------------------------------------------------

# In a worker: the database connections inherited from the parent. They stay referenced (so never
# closed, which would end the parent's session and its advisory lock) and are never used.
_INHERITED_CONNECTIONS: list = []


def _use_own_connections() -> None:
    """In a freshly forked worker, give each database alias a new, unopened connection."""
    for alias in connections:
        inherited = connections[alias]
        _INHERITED_CONNECTIONS.append(inherited)
        fresh = connections.create_connection(alias)
        fresh.settings_dict = inherited.settings_dict
        connections[alias] = fresh


def _worker(
    batches: list[PlannedBatch],
    by_label: dict[str, Target],
    keys: list[bytes],
    index_key: str | None,
    channel,
    stop,
    parent_pid: int,
) -> None:
    """Process this worker's share of the plan, reporting each committed batch to the parent. Stops when
    told to, when the parent is gone, or at the first failure (reported, without values)."""
    _use_own_connections()
    try:
        for batch in batches:
            if stop.is_set() or os.getppid() != parent_pid:
                break
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
        channel.send(("end",))
    finally:
        connections.close_all()
        channel.close()


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
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    readers: dict = {}
    for number in range(workers):
        reader, writer = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker,
            name=f"rotate-keys-{number + 1}",
            daemon=True,
            args=(batches[number::workers], by_label, keys, index_key, writer, stop, os.getpid()),
        )
        process.start()
        writer.close()  # the parent's copy: the worker's end closing is how the parent sees it exit
        readers[reader] = process
    failure: RotationError | None = None
    finished: set = set()
    try:
        while readers:
            for reader in wait(list(readers)):
                try:
                    message = reader.recv()
                except EOFError:
                    process = readers.pop(reader)
                    process.join()
                    reader.close()
                    if reader not in finished and failure is None:
                        stop.set()
                        failure = RotationError(
                            f"key rotation worker {process.name} exited (code {process.exitcode}) "
                            "before finishing its batches; re-run to resume."
                        )
                    continue
                kind = message[0]
                if kind == "done":
                    _, label, first, last, rows, values, indexes, pid = message
                    on_done(PlannedBatch(label, first, last), rows, values, indexes, pid)
                elif kind == "end":
                    finished.add(reader)
                else:
                    finished.add(reader)
                    stop.set()
                    if failure is None:
                        failure = (
                            UndecryptableDuringRotation(*message[1:])
                            if kind == "undecryptable"
                            else RotationError(
                                f"key rotation worker failed on {message[1]} ids {message[2]}-{message[3]}: "
                                f"{message[4]}: {message[5]}"
                            )
                        )
    finally:
        stop.set()
        for reader, process in readers.items():  # only when the parent itself is interrupted
            process.join(timeout=60)
            if process.is_alive():
                process.terminate()
                process.join()
            reader.close()
    if failure is not None:
        raise failure


def default_workers() -> int:
    """``KEY_ROTATION_WORKERS`` if set, else the bulk commands' default (one per usable CPU, at most four)."""
    from members.importing import default_workers as per_core

    return max(1, settings.KEY_ROTATION_WORKERS) if settings.KEY_ROTATION_WORKERS else per_core()


def _parallel_possible() -> bool:
    """Workers are forked processes with their own connections and transactions, so the caller must not
    be inside a transaction (they could not see its rows; tests run inside one), the platform must fork,
    and a daemonic process (a multiprocessing pool worker) may not have children."""
    return (
        not transaction.get_connection().in_atomic_block
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


# --- The run -----------------------------------------------------------------------------------------


def keys_rotate(
    *,
    batch_size: int = 2000,
    rotate_indexes: bool | None = None,
    progress=None,
    actor_label: str = "system:rotate_keys",
    workers: int | None = None,
) -> RotationReport:
    """Run (or resume) a rotation. Holds an advisory lock so two runs never interleave.

    ``workers`` processes (default: ``default_workers()``) share the batches when the caller is not in a
    transaction; otherwise, or with ``workers=1``, this process does them one after another.
    """
    keys = crypto.derived_fernet_keys()
    previous_index_key = getattr(settings, "BLIND_INDEX_KEY_PREVIOUS", "") or ""
    if rotate_indexes is None:
        rotate_indexes = bool(previous_index_key)
    index_key = settings.BLIND_INDEX_KEY if rotate_indexes else None
    requested = default_workers() if workers is None else max(1, int(workers))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_ID])
        if not cursor.fetchone()[0]:
            raise RotationError("another key rotation is running")
    try:
        run = (
            KeyRotationRun.objects.filter(finished_at__isnull=True, rotate_indexes=rotate_indexes)
            .order_by("-started_at")
            .first()
        )
        resumed = run is not None
        if run is None:
            run = KeyRotationRun.objects.create(rotate_indexes=rotate_indexes)
        report = RotationReport(run_id=run.pk, resumed=resumed, per_table={k: dict(v) for k, v in run.counts.items()})
        started = time.perf_counter()
        todo = [target for target in targets(with_indexes=rotate_indexes) if int(run.cursors.get(target.label, 0)) >= 0]
        saved_ranges = run.cursors.get("done", {})
        progress_by_label = {
            target.label: TableProgress(int(run.cursors.get(target.label, 0)), saved_ranges.get(target.label))
            for target in todo
        }
        with connection.cursor() as cursor:
            plan = [
                batch for target in todo for batch in progress_by_label[target.label].plan(cursor, target, batch_size)
            ]

        def on_done(batch: PlannedBatch, rows: int, values: int, indexes: int, pid: int) -> None:
            report.add(batch.label, rows, values, indexes, pid)
            progress_by_label[batch.label].complete(batch.first, batch.last)
            _save_progress(run, progress_by_label, report)
            if progress:
                progress(batch.label, report)

        by_label = {target.label: target for target in todo}
        report.workers = min(requested, len(plan)) if _parallel_possible() else 1
        if report.workers > 1:
            _run_parallel(plan, report.workers, by_label, keys, index_key, on_done)
        else:
            report.workers = 1
            for batch in plan:
                local = RotationReport(run_id=run.pk)
                if (
                    _process_batch(by_label[batch.label], batch.first - 1, 0, keys, index_key, local, upto=batch.last)
                    is not None
                ):
                    stats = local.per_table[batch.label]
                    on_done(batch, stats["rows"], stats["values"], stats["indexes"], os.getpid())
                else:
                    progress_by_label[batch.label].complete(batch.first, batch.last)
        # Rows added after the plan was made (written under the new key already, but cheap to include),
        # one batch at a time from the table's cursor, as a single-process run always did.
        for target in todo:
            cursor_after = progress_by_label[target.label].prefix
            while True:
                last = _process_batch(target, cursor_after, batch_size, keys, index_key, report)
                if last is None:
                    break
                cursor_after = progress_by_label[target.label].prefix = last
                _save_progress(run, progress_by_label, report)
                if progress:
                    progress(target.label, report)
            run.cursors[target.label] = -1
            run.cursors.get("done", {}).pop(target.label, None)
            run.counts = report.per_table
            run.save(update_fields=["cursors", "counts"])
        report.seconds = time.perf_counter() - started
        with transaction.atomic():
            run.finished_at = timezone.now()
            run.save(update_fields=["finished_at"])
            audit_record(
                actor=None,
                actor_label=actor_label,
                action="keys.rotated",
                obj=run,
                fields=["fernet_keys", *(["blind_index_key"] if rotate_indexes else [])],
                detail={
                    "values_reencrypted": report.values_reencrypted,
                    "rows": report.rows_seen,
                    "indexes_recomputed": report.indexes_recomputed,
                    "resumed": resumed,
                    "workers": report.workers,
                    "tables": sorted(report.per_table),
                },
            )
            if rotate_indexes:
                blind_index_key_rotated.send(sender=KeyRotationRun, run_id=run.pk)
        return report
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_ID])
