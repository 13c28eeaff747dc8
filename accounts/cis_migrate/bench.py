"""Benchmark of the CIS migration: members moved in per second, and the same rows' floor.

A synthetic co-op (accounts.cis_migrate.synthetic: 130 accounts per 100 members, 24 months of bills and
payments, three years of capital credits) is generated outside the timing, then:

* ``migration.members_per_s``: members divided by the seconds of ``migrate`` (decode, check every file
  with its cross-file references, load batch by batch, reconcile), without the Red Flags scans;
* the floor: the same rows, already cleaned and built outside the timing, with only the crypto they need
  (bulk Fernet and blind indexes) and a bare ``COPY`` per table (explicit ids: no lookups) timed, each
  ``COPY`` checking its foreign keys as it ends (they are deferred: the floor's one commit, where they
  ran before, is after its timing, while each migration batch pays them at its commit);
* ``migration.vs_floor``: floor seconds / migration seconds (1.0 = as fast as the floor; target ≥ 0.4).

Processes: the floor is one process and one connection. The migration runs with
``MIGRATION_BENCH_WORKERS`` workers (default ``default_workers()``, one per core up to four): that many
forked processes load the members, and one loader thread commits the other files' batches while the
parent checks the next. ``MIGRATION_BENCH_WORKERS=1`` is the like-for-like run (one process, one
connection, batch after batch); ``migration.workers`` says which was measured.

Every row it writes is deleted again (member numbers start with ``BM``); audit rows stay (append-only).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from accounts import bulk_load as accounts_bulk
from accounts.cis_import import loading as import_loading
from accounts.cis_migrate import layout, migrate
from accounts.cis_migrate.checking import FileCheck, clean_entity_row, open_rows
from accounts.cis_migrate.synthetic import write_coop
from members import bulk_load as members_bulk
from members import crypto
from members.fernet_bulk import encrypt_many
from members.worker_pool import default_workers

_PREFIX = "BM"
_TABLES = (
    ("accounts_payment", "account_id IN (SELECT id FROM accounts_account WHERE account_number LIKE 'ABM%%')"),
    ("accounts_bill", "statement_number LIKE 'SBM%%'"),
    ("accounts_authorizedparty", "legacy_number LIKE 'APBM%%'"),
    ("accounts_account", "account_number LIKE 'ABM%%'"),
    ("accounts_meter", "meter_number LIKE 'MBM%%'"),
    ("accounts_premise", "premise_number LIKE 'PBM%%'"),
    ("members_capitalcreditretirement", "retirement_number LIKE 'RBM%%'"),
    ("members_capitalcreditallocation", "member_id IN (SELECT id FROM members_member WHERE member_number LIKE 'BM%%')"),
    ("members_financialaccount", "member_id IN (SELECT id FROM members_member WHERE member_number LIKE 'BM%%')"),
    ("members_member", "member_number LIKE 'BM%%'"),
)


def _cleanup() -> None:
    with connection.cursor() as cursor:
        for table, where in _TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE {where}")  # noqa: S608 - constants
        cursor.execute(f"VACUUM ANALYZE {', '.join(table for table, _ in _TABLES)}")


_CHUNK = 100_000  # rows of one file cleaned (untimed) and then loaded (timed) at a time: bounded memory


def _cleaned_chunks(directory: Path, spec: layout.EntityFile) -> Iterator[list]:
    file_check = FileCheck(spec, directory / spec.filename, encoding="utf-8-sig" if spec is layout.MEMBERS else "")
    if not file_check.encoding:
        file_check.encoding = "cp1252" if spec.filename == "premises.csv" else "utf-8"
    today = timezone.localdate()
    chunk: list = []
    for line, raw in open_rows(file_check, []):
        chunk.append(clean_entity_row(spec, line, raw, today)[0])
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _next_ids(cursor, table: str, count: int) -> int:
    """Reserve ``count`` ids of ``table``'s sequence; the first."""
    cursor.execute(f"SELECT pg_get_serial_sequence('{table}', 'id')")
    sequence = cursor.fetchone()[0]
    cursor.execute("SELECT nextval(%s)", [sequence])
    first = cursor.fetchone()[0]
    cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


class _Floor:
    """The floor, file by file and a chunk of rows at a time: each chunk is cleaned and given ids outside
    the timing, then its crypto, its COPY rows and its ``COPY`` are timed. (At 100,000 members the files
    hold 3.1 million bills and as many payments: holding every cleaned row at once took gigabytes.)"""

    def __init__(self, directory: Path):
        self.directory = directory
        self.seconds = 0.0
        self.member_id: dict[str, int] = {}
        self.premise_id: dict[str, int] = {}
        self.account_id: dict[str, int] = {}
        self.bill_id: dict[str, int] = {}
        self.balances: dict[str, dict] = {}

    def _chunks(self, cursor, entity: str, ids: tuple[str, str, dict] | None = None) -> Iterator[list]:
        """Cleaned rows of ``entity``'s file, a chunk at a time; ``ids``: (table, key, map) to give each
        row an explicit id of ``table`` under its ``key`` (reserved from the sequence, untimed)."""
        for chunk in _cleaned_chunks(self.directory, layout.BY_ENTITY[entity]):
            if ids is not None:
                table, key, known = ids
                first = _next_ids(cursor, table, len(chunk))
                for offset, row in enumerate(chunk):
                    known[row.member[key] if entity == "members" else row[key]] = first + offset
            yield chunk

    def _timed(self, build: Callable[[], None]) -> None:
        started = time.perf_counter()
        build()
        self.seconds += time.perf_counter() - started

    def run(self) -> float:
        now = timezone.now().isoformat()
        index = crypto.canonical_indexer()
        with transaction.atomic(), connection.cursor() as cursor:
            # The foreign keys are DEFERRABLE INITIALLY DEFERRED (Django's): checked at the commit, which
            # comes after the timing. Every migration batch pays those checks at its own commit, so the
            # floor checks them as each COPY ends, inside its timing: the same rows, the same checks.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for chunk in self._chunks(cursor, "members", ("members_member", "member_number", self.member_id)):
                self._timed(lambda chunk=chunk: self._members(cursor, chunk, index, now))
            for chunk in self._chunks(cursor, "premises", ("accounts_premise", "premise_number", self.premise_id)):
                self._timed(lambda chunk=chunk: self._premises(cursor, chunk, index, now))
            for chunk in self._chunks(cursor, "balances"):
                self.balances.update((r["account_number"], r) for r in chunk)
            for entity, ids in (
                ("meters", None),
                ("accounts", ("accounts_account", "account_number", self.account_id)),
                ("authorized_parties", None),
                ("bank_accounts", None),
                ("bills", ("accounts_bill", "statement_number", self.bill_id)),
                ("payments", None),
                ("capital_credits", None),
                ("capital_credit_retirements", None),
            ):
                load = getattr(self, f"_{entity}")
                for chunk in self._chunks(cursor, entity, ids):
                    self._timed(lambda chunk=chunk, load=load: load(cursor, chunk, index, now))
        return self.seconds

    def _members(self, cursor, members: list, index, now: str) -> None:
        tokens = import_loading._encrypt(members)
        member_rows = import_loading._member_rows(
            members, tokens, import_loading.Derived(members_bulk.MEMBER_DECLARED, index), now
        )
        member_rows = [
            [self.member_id[r.member["member_number"]], *row] for r, row in zip(members, member_rows, strict=True)
        ]
        members_bulk.copy_rows(
            cursor, "members_member", ("id", *members_bulk.MEMBER_COLUMNS), member_rows, members_bulk.MEMBER_NULLABLE
        )

    def _premises(self, cursor, rows: list, index, now: str) -> None:
        secrets = sorted(accounts_bulk.PREMISE_DECLARED.encrypted)
        plaintexts = [row[name].encode() for row in rows for name in secrets if row[name]]
        tokens = iter(t.decode("ascii") for t in encrypt_many(crypto.primary_fernet_key(), plaintexts))
        derived = import_loading.Derived(accounts_bulk.PREMISE_DECLARED, index)
        built = []
        for row in rows:
            plain = {name: row[name] for name in import_loading._SERVICE}
            values = {**plain, **{name: next(tokens) for name in secrets if row[name]}}
            built.append(
                [
                    self.premise_id[row["premise_number"]],
                    *accounts_bulk.premise_row(
                        premise_number=row["premise_number"],
                        dog_warning=row["dog_warning"],
                        now=now,
                        values=values,
                        computed=derived.of(plain),
                    ),
                ]
            )
        members_bulk.copy_rows(
            cursor, "accounts_premise", ("id", *accounts_bulk.PREMISE_COLUMNS), built, accounts_bulk.PREMISE_NULLABLE
        )

    def _meters(self, cursor, chunk: list, index, now: str) -> None:
        copy = members_bulk.copy_rows
        copy(
            cursor,
            "accounts_meter",
            accounts_bulk.METER_HISTORY_COLUMNS,
            [
                [r["meter_number"], self.premise_id[r["premise_number"]], r["has_solar"], r["installed_on"]]
                for r in chunk
            ],
            frozenset({"installed_on"}),
        )

    def _accounts(self, cursor, chunk: list, index, now: str) -> None:
        copy = members_bulk.copy_rows
        account_rows = []
        for r in chunk:
            balance = self.balances.get(r["account_number"])
            account_rows.append(
                [
                    self.account_id[r["account_number"]],
                    r["account_number"],
                    self.member_id[r["member_number"]],
                    self.premise_id.get(r["premise_number"]),
                    r["status"],
                    "",
                    f"{r['opened_on']} 12:00:00+00:00" if r["opened_on"] else None,
                    None,
                    None,
                    False,
                    False,
                    now,
                    now,
                    balance and balance["balance"],
                    balance and balance["as_of"],
                ]
            )
        copy(
            cursor,
            "accounts_account",
            ("id", *accounts_bulk.ACCOUNT_COLUMNS, "balance", "balance_as_of"),
            account_rows,
            accounts_bulk.ACCOUNT_NULLABLE | {"balance", "balance_as_of"},
        )

    def _authorized_parties(self, cursor, chunk: list, index, now: str) -> None:
        copy = members_bulk.copy_rows
        phone = index.for_kind("phone")
        copy(
            cursor,
            "accounts_authorizedparty",
            accounts_bulk.PARTY_COLUMNS,
            [
                [
                    self.account_id[r["account_number"]],
                    r["name"],
                    r["relationship"],
                    r["phone"],
                    phone(r["phone"]) if r["phone"] else "",
                    r["phone_extension"],
                    r["email"],
                    "",
                    r["party_number"],
                    now,
                ]
                for r in chunk
            ],
        )

    def _bank_accounts(self, cursor, chunk: list, index, now: str) -> None:
        copy = members_bulk.copy_rows
        banks = chunk
        tokens = iter(
            t.decode("ascii")
            for t in encrypt_many(
                crypto.primary_fernet_key(),
                [v.encode() for r in banks for v in (r["bank_routing_number"], r["bank_account_number"])],
            )
        )
        derived = import_loading.Derived(members_bulk.FINANCIAL_DECLARED, index)
        copy(
            cursor,
            "members_financialaccount",
            members_bulk.FINANCIAL_COLUMNS,
            [
                members_bulk.bank_account_row(
                    member_id=self.member_id[r["member_number"]],
                    now=now,
                    values={"routing_number": next(tokens), "account_number": next(tokens)},
                    computed=derived.of(
                        {"routing_number": r["bank_routing_number"], "account_number": r["bank_account_number"]}
                    ),
                )
                for r in banks
            ],
            members_bulk.FINANCIAL_NULLABLE,
        )

    def _bills(self, cursor, chunk: list, index, now: str) -> None:
        copy = members_bulk.copy_rows
        copy(
            cursor,
            "accounts_bill",
            ("id", *accounts_bulk.BILL_COLUMNS),
            [
                [
                    self.bill_id[r["statement_number"]],
                    self.account_id[r["account_number"]],
                    r["statement_number"],
                    r["period_start"],
                    r["period_end"],
                    r["issued_on"],
                    r["due_on"],
                    r["kwh"],
                    r["amount_due"],
                    r["status"],
                    now,
                ]
                for r in chunk
            ],
        )

    def _payments(self, cursor, chunk: list, index, now: str) -> None:
        copy = members_bulk.copy_rows
        copy(
            cursor,
            "accounts_payment",
            accounts_bulk.PAYMENT_COLUMNS,
            [
                [
                    self.account_id[r["account_number"]],
                    self.bill_id.get(r["statement_number"]),
                    f"{r['received_on']} 12:00:00+00:00",
                    r["amount"],
                    r["method"],
                    r["reference"],
                    r["payment_number"],
                    r["returned"],
                    None,
                    now,
                ]
                for r in chunk
            ],
            frozenset({"bill_id", "returned_at"}),
        )

    def _capital_credits(self, cursor, chunk: list, index, now: str) -> None:
        copy = members_bulk.copy_rows
        copy(
            cursor,
            "members_capitalcreditallocation",
            members_bulk.CAPITAL_CREDIT_COLUMNS,
            [
                [
                    self.member_id[r["member_number"]],
                    r["year"],
                    r["patronage_amount"] or 0,
                    r["allocated_amount"],
                    0,
                    r["allocated_on"],
                ]
                for r in chunk
            ],
            frozenset({"allocated_on"}),
        )

    def _capital_credit_retirements(self, cursor, chunk: list, index, now: str) -> None:
        copy = members_bulk.copy_rows
        copy(
            cursor,
            "members_capitalcreditretirement",
            members_bulk.RETIREMENT_COLUMNS,
            [
                [self.member_id[r["member_number"]], r["year"], r["retirement_number"], r["retired_on"], r["amount"]]
                for r in chunk
            ],
        )


def bench_migration(quick: bool = False, members: int | None = None) -> dict[str, float]:
    """``MIGRATION_BENCH_MEMBERS`` sets the scale (default 100,000; ``--quick`` 1,000): e.g. a shorter run of
    10,000 members on a busy machine. The figures name the scale they were taken at."""
    count = members or int(os.environ.get("MIGRATION_BENCH_MEMBERS", 1_000 if quick else 100_000))
    workers = int(os.environ.get("MIGRATION_BENCH_WORKERS", default_workers()))
    _cleanup()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mg-bench-migration-") as directory:
        path = Path(directory)
        write_coop(path, members=count, prefix=_PREFIX)
        try:
            load = os.getloadavg()[0]
            cpu = time.process_time()
            started = time.perf_counter()
            outcome = migrate(path, batch_size=5_000, workers=workers, actor_label="bench", announce_to_red_flags=False)
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu
            if not outcome.run.balanced or outcome.run.entities["members"]["loaded"] != count:
                raise RuntimeError(f"migration benchmark did not balance: {outcome.run.entities}")
            _cleanup()
            floor = _Floor(path).run()
        finally:
            _cleanup()
    results["migration.members"] = count
    results["migration.workers"] = workers
    results["migration.members_per_s"] = count / seconds
    results["migration.seconds"] = seconds
    results["migration.floor_seconds"] = floor
    results["migration.vs_floor"] = floor / seconds
    # This process's CPU (checking, building rows; worker processes and PostgreSQL not included) and the
    # one-minute load average when the migration started: what the wall figures were taken under.
    results["migration.parent_cpu_ms_per_member"] = cpu * 1000 / count
    results["migration.load_average"] = load
    return results


__all__ = ["bench_migration"]
