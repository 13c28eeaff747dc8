"""Key rotation: re-encrypt every encrypted column under the newest Fernet key and recompute the blind
indexes under a new index key. Batched, resumable, safe while the application serves.

Procedure (docs/keys.md): put the new Fernet key first in ``FERNET_KEYS`` (keep the old one after it)
and, to rotate the index key, move the old ``BLIND_INDEX_KEY`` to ``BLIND_INDEX_KEY_PREVIOUS`` and set a
new ``BLIND_INDEX_KEY``; deploy; run ``manage.py rotate_keys`` (or the Celery task); when it reports
done, remove the old Fernet key and ``BLIND_INDEX_KEY_PREVIOUS``.

Why it is safe while serving: during the run, the app encrypts new writes with the new key and reads
with either; searches look for both the new and the previous index (``crypto.index_values``). Each batch
locks its rows (``SELECT ... FOR UPDATE``), so a service saving one of them waits and then writes a
value under the new key itself: nothing written meanwhile is lost or left behind. Progress is a cursor
per table in ``KeyRotationRun``; an interrupted run resumes after the last committed batch.

Every encrypted column of every installed model is found by field type, so other apps' encrypted
fields are rotated too. A value no configured key can decrypt stops the run with the table, row and
column named; it is never re-encrypted (that would bury the problem under a valid-looking token).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from fernet_fields.fields import EncryptedField
from psycopg2.extras import execute_values

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
        if row["drivers_licence_number"] and row["drivers_licence_state"] else "",
        "passport_index": _index_or_empty("passport", row["passport_number"], key),
        "alien_registration_index": _index_or_empty("alien_registration", row["alien_registration_number"], key),
        "phone_index": _index_or_empty("phone", row["phone"], key),
        "email_index": _index_or_empty("email", row["email"], key),
        "address_index": _index_or_empty("address", (row["mailing_line1"], row["mailing_line2"], row["mailing_city"],
                                                     row["mailing_state"], row["mailing_postal_code"]), key)
        if row["mailing_line1"] else "",
    }


@dataclass(frozen=True)
class IndexSpec:
    """How to recompute a table's blind indexes from its (decrypted) row."""

    needs: tuple[str, ...]
    compute: Callable[[dict, str], dict[str, str]]


INDEX_SPECS: dict[str, IndexSpec] = {
    "members.member": IndexSpec(
        ("ssn", "tin", "drivers_licence_number", "drivers_licence_state", "passport_number", "alien_registration_number",
         "phone", "email", "mailing_line1", "mailing_line2", "mailing_city", "mailing_state", "mailing_postal_code"),
        _member_indexes,
    ),
    "members.financialaccount": IndexSpec(
        ("routing_number", "account_number"),
        lambda row, key: {"bank_account_index": _index_or_empty("bank_account", (row["routing_number"], row["account_number"]), key)
                          if row["routing_number"] and row["account_number"] else ""},
    ),
    "accounts.premise": IndexSpec(
        ("service_line1", "service_line2", "service_city", "service_state", "service_postal_code"),
        lambda row, key: {"address_index": _index_or_empty("address", (row["service_line1"], row["service_line2"], row["service_city"],
                                                                        row["service_state"], row["service_postal_code"]), key)},
    ),
    "accounts.authorizedparty": IndexSpec(
        ("phone", "email"),
        lambda row, key: {"phone_index": _index_or_empty("phone", row["phone"], key),
                          "email_index": _index_or_empty("email", row["email"], key)},
    ),
    "accounts.returnedmail": IndexSpec(
        ("sent_to_address",),
        lambda row, key: {"address_index": _index_or_empty("address", row["sent_to_address"].split("|"), key)
                          if row["sent_to_address"] else ""},
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


def _process_batch(target: Target, cursor_after: int, batch_size: int, keys: list[bytes], index_key: str | None,
                   report: RotationReport) -> int | None:
    """One batch in its own transaction. Returns the last id done, or None when the table is finished."""
    index_columns = target.index.needs if target.index else ()
    columns = list(dict.fromkeys([*target.encrypted, *index_columns]))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, {', '.join(columns)} FROM {target.table} WHERE id > %s ORDER BY id LIMIT %s FOR UPDATE",  # noqa: S608 - identifiers from model metadata
            [cursor_after, batch_size],
        )
        rows = cursor.fetchall()
        if not rows:
            return None
        tokens, where = [], []
        for row in rows:
            for position, column in enumerate(target.encrypted, start=1):
                if row[position] is not None:
                    tokens.append(bytes(row[position]))
                    where.append((row[0], column))
        try:
            plaintexts, _ = decrypt_many(keys, tokens)
        except BulkInvalidToken as exc:
            row_id, column = where[exc.index]
            raise UndecryptableDuringRotation(target.table, row_id, column) from None
        fresh = encrypt_many(keys[0], plaintexts)
        by_cell = {cell: (plain, token) for cell, plain, token in zip(where, plaintexts, fresh, strict=True)}

        updates = []
        index_names: list[str] = []
        for row in rows:
            values = dict(zip(columns, row[1:], strict=True))
            new_tokens = []
            for column in target.encrypted:
                cell = by_cell.get((row[0], column))
                new_tokens.append(cell[1] if cell else None)
                if cell:
                    values[column] = cell[0].decode()
            index_values = {}
            if target.index is not None and index_key:
                index_values = target.index.compute(values, index_key)
                index_names = list(index_values)
            updates.append((row[0], *new_tokens, *index_values.values()))
        set_columns = [*target.encrypted, *index_names]
        if set_columns:
            casts = [f"{column} = v.{column}" + ("::bytea" if column in target.encrypted else "") for column in set_columns]
            execute_values(
                cursor,
                f"UPDATE {target.table} AS t SET {', '.join(casts)} FROM (VALUES %s) AS v(id, {', '.join(set_columns)}) "  # noqa: S608
                "WHERE t.id = v.id",
                updates, page_size=len(updates),
            )
        stats = report.per_table.setdefault(target.label, {"rows": 0, "values": 0, "indexes": 0})
        stats["rows"] += len(rows)
        stats["values"] += len(tokens)
        stats["indexes"] += len(rows) * len(index_names)
        report.rows_seen += len(rows)
        report.values_reencrypted += len(tokens)
        report.indexes_recomputed += len(rows) * len(index_names)
        return rows[-1][0]


def keys_rotate(*, batch_size: int = 2000, rotate_indexes: bool | None = None, progress=None,
                actor_label: str = "system:rotate_keys") -> RotationReport:
    """Run (or resume) a rotation. Holds an advisory lock so two runs never interleave."""
    keys = crypto.derived_fernet_keys()
    previous_index_key = getattr(settings, "BLIND_INDEX_KEY_PREVIOUS", "") or ""
    if rotate_indexes is None:
        rotate_indexes = bool(previous_index_key)
    index_key = settings.BLIND_INDEX_KEY if rotate_indexes else None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_ID])
        if not cursor.fetchone()[0]:
            raise RotationError("another key rotation is running")
    try:
        run = KeyRotationRun.objects.filter(finished_at__isnull=True, rotate_indexes=rotate_indexes).order_by("-started_at").first()
        resumed = run is not None
        if run is None:
            run = KeyRotationRun.objects.create(rotate_indexes=rotate_indexes)
        report = RotationReport(run_id=run.pk, resumed=resumed, per_table={k: dict(v) for k, v in run.counts.items()})
        started = time.perf_counter()
        for target in targets(with_indexes=rotate_indexes):
            cursor_after = int(run.cursors.get(target.label, 0))
            if cursor_after < 0:
                continue  # finished in an earlier attempt of this run
            while True:
                last = _process_batch(target, cursor_after, batch_size, keys, index_key, report)
                if last is None:
                    run.cursors[target.label] = -1
                    run.counts = report.per_table
                    run.save(update_fields=["cursors", "counts"])
                    break
                cursor_after = last
                run.cursors[target.label] = last
                run.counts = report.per_table
                run.save(update_fields=["cursors", "counts"])
                if progress:
                    progress(target.label, report)
        report.seconds = time.perf_counter() - started
        with transaction.atomic():
            run.finished_at = timezone.now()
            run.save(update_fields=["finished_at"])
            audit_record(actor=None, actor_label=actor_label, action="keys.rotated", obj=run,
                         fields=["fernet_keys", *(["blind_index_key"] if rotate_indexes else [])],
                         detail={"values_reencrypted": report.values_reencrypted, "rows": report.rows_seen,
                                 "indexes_recomputed": report.indexes_recomputed, "resumed": resumed,
                                 "tables": sorted(report.per_table)})
            if rotate_indexes:
                blind_index_key_rotated.send(sender=KeyRotationRun, run_id=run.pk)
        return report
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_ID])
