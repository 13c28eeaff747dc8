"""Loading the rows the check accepted, file by file in the layout's order, batch by batch.

Each batch is one transaction: the rows already in the database (by the CIS's own numbers) are skipped
and counted, the others go in with ``COPY`` (members through the legacy import's loader:
accounts.cis_import.loading, the same bulk Fernet, blind-index recipe and worker pool), with one audit
row naming the file and its line range. A run that stops part-way leaves whole batches loaded; the
counts say which entity was not finished (``EntityCount.complete``), and a re-run loads what is missing.

With ``workers`` > 1 (and outside a transaction: ``worker_pool.parallel_possible``) the batches of every
file after members are committed by one loader thread on its own connection while the parent reads and
checks the next batch (``_Pipeline``): PostgreSQL's COPY, lookups and commit of batch N overlap Python's
decoding and cleaning of batch N+1, in the same order and the same transactions. At most one batch waits
behind the one loading; a file's last batch is committed before the next file is checked (a row refers
only to files before its own). A failed batch stops the run at the next hand-over, as it did before.
"""

from __future__ import annotations

import datetime
import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from psycopg2 import IntegrityError as DriverIntegrityError
from psycopg2.errors import UniqueViolation

from accounts import bulk_load as accounts_bulk
from accounts.cis_import.cleaning import SECTIONS, ImportReport
from accounts.cis_import.columns import Record
from accounts.cis_import.loading import BatchLoader, Derived
from accounts.cis_migrate import layout
from accounts.cis_migrate.checking import FileCheck
from accounts.cis_migrate.layout import EntityFile
from members import bulk_load as members_bulk
from members import crypto
from members.audit import audit_record
from members.fernet_bulk import encrypt_many
from members.worker_pool import parallel_possible

_BANK_FIELD = {c.name: c.record_key for s in SECTIONS for c in s.columns if c.record is Record.BANK}
_PREMISE_SECRETS = tuple(sorted(accounts_bulk.PREMISE_DECLARED.encrypted))
_SERVICE = ("service_line1", "service_line2", "service_city", "service_state", "service_postal_code")
_OBJECT_TYPE = {
    "members": "members.member",
    "premises": "accounts.premise",
    "meters": "accounts.meter",
    "accounts": "accounts.account",
    "authorized_parties": "accounts.authorizedparty",
    "bank_accounts": "members.financialaccount",
    "balances": "accounts.account",
    "bills": "accounts.bill",
    "payments": "accounts.payment",
    "capital_credits": "members.capitalcreditallocation",
    "capital_credit_retirements": "members.capitalcreditretirement",
}


@dataclass
class EntityCount:
    read: int = 0
    rejected: int = 0
    loaded: int = 0
    already_present: int = 0
    batches: int = 0
    complete: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadResult:
    counts: dict[str, EntityCount] = field(default_factory=dict)
    member_ids: set[int] = field(default_factory=set)  # members loaded, or given accounts, by this run


def _noon(day: datetime.date | None) -> str | None:
    return f"{day.isoformat()} 12:00:00+00:00" if day else None


class _Pipeline:
    """One thread that runs the loader's batches in order, each in its own transaction on the thread's
    own connection, while the caller prepares the next (psycopg2 releases the GIL while PostgreSQL works).
    ``submit`` waits while a batch is already queued; ``drain`` waits for every batch; both re-raise the
    first failure (no batch after a failed one runs)."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue(maxsize=1)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cis-migrate-loader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                job = self._queue.get()
                try:
                    if job is None:
                        return
                    if self._failure is None:
                        job()
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    self._failure = exc
                finally:
                    self._queue.task_done()
        finally:
            connection.close()  # the thread's own connection (Django's connections are per thread)

    def _raise(self) -> None:
        if self._failure is not None:  # kept: the thread skips every batch handed over after it
            raise self._failure

    def submit(self, job: Callable[[], None]) -> None:
        self._raise()
        self._queue.put(job)

    def drain(self) -> None:
        self._queue.join()
        self._raise()

    def close(self) -> None:
        """Wait for what was handed over, then end the thread (also after a failure, which it keeps)."""
        if self._thread.is_alive():
            self._queue.join()
            self._queue.put(None)
            self._thread.join()


class Loader:
    """The real run's sink (``checking.check_and_load``): loads each batch of accepted rows as the check
    hands it over. ``on_batch(entity, count)`` runs after each batch (progress)."""

    def __init__(self, *, actor_label: str, workers: int, on_batch: Callable | None):
        self.actor_label, self.workers = actor_label, workers
        self.on_batch = on_batch or (lambda entity, count: None)
        self.result = LoadResult()
        started = timezone.now()
        self.now, self.today = started.isoformat(), started.date()
        self.indexer = crypto.canonical_indexer()
        self._premise_derived = Derived(accounts_bulk.PREMISE_DECLARED, self.indexer)
        self._bank_derived = Derived(members_bulk.FINANCIAL_DECLARED, self.indexer)
        self._members: tuple[BatchLoader, ImportReport] | None = None
        self._pipeline = _Pipeline() if workers > 1 and parallel_possible() else None
        self._present_seen: set[str] = set()  # entities whose last batch found rows already stored
        self._id_maps: dict[str, dict[str, int]] = {}
        self._loaders: dict[str, Callable] = {
            "premises": self._premises,
            "meters": self._meters,
            "accounts": self._accounts,
            "authorized_parties": self._parties,
            "bank_accounts": self._bank_accounts,
            "balances": self._balances,
            "bills": self._bills,
            "payments": self._payments,
            "capital_credits": self._capital_credits,
            "capital_credit_retirements": self._retirements,
        }

    def _ids(self, cursor, entity: str, numbers: list[str]) -> dict[str, int]:
        """Ids by CIS number of members or accounts: from the map read once when their file was done
        (one query instead of one per batch of every later file), else from the database."""
        known = self._id_maps.get(entity, {})
        missing = list({number for number in numbers if number not in known})
        if not missing:
            return known
        lookup = members_bulk.member_ids if entity == "members" else accounts_bulk.account_ids
        return {**known, **lookup(cursor, missing)}

    def count(self, entity: str) -> EntityCount:
        return self.result.counts.setdefault(entity, EntityCount())

    def rows(self, spec: EntityFile, batch: list[tuple[int, Any]]) -> None:
        if spec is layout.MEMBERS:
            self._member_loader().submit([row for _, row in batch])
        elif self._pipeline is not None:
            count = self.count(spec.entity)
            self._pipeline.submit(lambda: self._batch(spec, self._loaders[spec.entity], batch, count))
        else:
            self._batch(spec, self._loaders[spec.entity], batch, self.count(spec.entity))

    def done(self, check: FileCheck) -> None:
        """A file was read to its end and every batch of it handed over (and loaded)."""
        if self._pipeline is not None:
            self._pipeline.drain()
        count = self.count(check.spec.entity)
        if check.spec is layout.MEMBERS and self._members is not None:
            self._members[0].finish()  # its accounts come next: every member must be committed first
            self._members = None
        count.read, count.rejected, count.complete = check.read, len(check.bad_lines), True
        if check.spec in (layout.MEMBERS, layout.ACCOUNTS) and check.keys:
            lookup = members_bulk.member_ids if check.spec is layout.MEMBERS else accounts_bulk.account_ids
            with connection.cursor() as cursor:
                self._id_maps[check.spec.entity] = lookup(cursor, list(check.keys))

    def abort(self) -> None:
        if self._members is not None:
            self._members[0].abort()
        self.close()

    def close(self) -> None:
        """End the loader thread, if any (after its last batch: ``done`` drained it)."""
        if self._pipeline is not None:
            pipeline, self._pipeline = self._pipeline, None
            pipeline.close()

    def _member_loader(self) -> BatchLoader:
        if self._members is None:
            report, count = ImportReport(), self.count("members")

            def progress(state: ImportReport) -> None:
                count.loaded, count.already_present, count.batches = (
                    state.members_loaded,
                    state.members_already_present,
                    state.batches,
                )
                self.result.member_ids.update(state.member_ids)
                self.on_batch("members", count)

            self._members = (BatchLoader(report, self.actor_label, progress, self.workers), report)
        return self._members[0]

    def _batch(self, spec: EntityFile, load: Callable, batch: list[tuple[int, Any]], count: EntityCount) -> None:
        rows = [row for _, row in batch]
        with transaction.atomic(), connection.cursor() as cursor:
            # A batch lost to a crash right after its commit is loaded again by the re-run (every row is
            # keyed by its CIS number), so the commit need not wait for the WAL flush.
            cursor.execute("SET LOCAL synchronous_commit = off")
            loaded = load(cursor, rows)
            count.batches += 1
            if loaded:
                audit_record(
                    actor=None,
                    actor_label=self.actor_label,
                    action="migration.loaded",
                    object_type=_OBJECT_TYPE[spec.entity],
                    detail={
                        "file": spec.filename,
                        "batch": count.batches,
                        "first_line": batch[0][0],
                        "last_line": batch[-1][0],
                        "rows": len(rows),
                        "loaded": loaded,
                        "already_present": len(rows) - loaded,
                    },
                )
        count.loaded += loaded
        count.already_present += len(rows) - loaded
        self.on_batch(spec.entity, count)

    # --- per entity: (cursor, rows) -> rows loaded --------------------------------------------------

    def _premises(self, cursor, rows: list[dict]) -> int:
        present = accounts_bulk.premise_ids(cursor, [row["premise_number"] for row in rows])
        fresh = [row for row in rows if row["premise_number"] not in present]
        plaintexts = [row[name].encode() for row in fresh for name in _PREMISE_SECRETS if row[name]]
        tokens = iter(token.decode("ascii") for token in encrypt_many(crypto.primary_fernet_key(), plaintexts))
        built = []
        for row in fresh:
            plain = {name: row[name] for name in _SERVICE}
            secrets = {name: next(tokens) for name in _PREMISE_SECRETS if row[name]}
            built.append(
                accounts_bulk.premise_row(
                    premise_number=row["premise_number"],
                    dog_warning=row["dog_warning"],
                    now=self.now,
                    values={**plain, **secrets},
                    computed=self._premise_derived.of(plain),
                )
            )
        return len(accounts_bulk.premises_insert_new(cursor, built))

    def _meters(self, cursor, rows: list[dict]) -> int:
        premises = accounts_bulk.premise_ids(cursor, [row["premise_number"] for row in rows])
        built = [
            [row["meter_number"], premises[row["premise_number"]], row["has_solar"], row["installed_on"]]
            for row in rows
        ]
        return len(accounts_bulk.meters_with_dates_insert_new(cursor, built))

    def _accounts(self, cursor, rows: list[dict]) -> int:
        present = accounts_bulk.account_ids(cursor, [row["account_number"] for row in rows])
        fresh = [row for row in rows if row["account_number"] not in present]
        members = self._ids(cursor, "members", [row["member_number"] for row in fresh])
        premises = accounts_bulk.premise_ids(cursor, [row["premise_number"] for row in fresh if row["premise_number"]])
        built = []
        for row in fresh:
            status = row["status"]
            built.append(
                accounts_bulk.account_row(
                    account_number=row["account_number"],
                    member_id=members[row["member_number"]],
                    premise_id=premises.get(row["premise_number"]),
                    status=status,
                    status_reason="migrated from the legacy CIS",
                    opened_at=_noon(row["opened_on"]),
                    closed_at=_noon(row["closed_on"]) or (self.now if status == "closed" else None),
                    suspended_at=self.now if status == "suspended" else None,
                    now=self.now,
                )
            )
            self.result.member_ids.add(members[row["member_number"]])
        accounts_bulk.accounts_insert(cursor, built)
        return len(built)

    def _bank_accounts(self, cursor, rows: list[dict]) -> int:
        members = self._ids(cursor, "members", [row["member_number"] for row in rows])
        present = members_bulk.bank_account_keys(cursor, list(set(members.values())))
        fresh, seen = [], set()
        for row in rows:
            plain = {_BANK_FIELD[name]: row[name] for name in _BANK_FIELD}
            computed = self._bank_derived.of(plain)
            key = (members[row["member_number"]], computed[0])
            if key not in present and key not in seen:
                seen.add(key)
                fresh.append((row, plain, computed))
        plaintexts = [value.encode() for _, plain, _ in fresh for value in plain.values()]
        tokens = iter(token.decode("ascii") for token in encrypt_many(crypto.primary_fernet_key(), plaintexts))
        built = []
        for row, plain, computed in fresh:
            values = {name: next(tokens) for name in plain}
            bank = members_bulk.bank_account_row(
                member_id=members[row["member_number"]], now=self.now, values=values, computed=computed
            )
            bank[2] = row["institution_name"]
            built.append(bank)
        members_bulk.financial_accounts_insert(cursor, built)
        return len(built)

    def _balances(self, cursor, rows: list[dict]) -> int:
        return accounts_bulk.balances_update(
            cursor,
            [row["account_number"] for row in rows],
            [str(row["balance"]) for row in rows],
            [row["as_of"].isoformat() for row in rows],
        )

    def _new_rows(self, entity: str, key: str, rows: list[dict], present: Callable, insert: Callable) -> int:
        """Insert the rows of ``rows`` whose ``key`` is not stored yet; the number inserted.

        A first run finds nothing stored, and looking every key up first cost a fifth of the load (a
        query per batch of bills and one of payments, with as many index probes as the COPY makes
        anyway). So while the file's batches find nothing stored, a batch is COPYed as it is, inside a
        savepoint: the table's unique key refuses the whole COPY if any row is there (a resumed run),
        and then that batch, and those after it until one finds nothing stored, look their keys up
        (``present``) and insert only the others. Either way a row already stored is never written again.
        """
        if entity not in self._present_seen:
            try:
                with transaction.atomic():
                    insert(rows)
                return len(rows)
            except (IntegrityError, DriverIntegrityError) as exc:  # COPY raises the driver's own
                if not isinstance(exc, UniqueViolation) and not isinstance(exc.__cause__, UniqueViolation):
                    raise
                self._present_seen.add(entity)  # rolled back to the savepoint: nothing of it stays
        stored = present([row[key] for row in rows])
        fresh = [row for row in rows if row[key] not in stored]
        if fresh:
            insert(fresh)
        if not stored:
            self._present_seen.discard(entity)
        return len(fresh)

    def _parties(self, cursor, rows: list[dict]) -> int:
        return self._new_rows(
            "authorized_parties",
            "party_number",
            rows,
            lambda numbers: accounts_bulk.party_numbers(cursor, numbers),
            lambda fresh: self._insert_parties(cursor, fresh),
        )

    def _insert_parties(self, cursor, rows: list[dict]) -> None:
        accounts = self._ids(cursor, "accounts", [row["account_number"] for row in rows])
        phone, email = self.indexer.for_kind("phone"), self.indexer.for_kind("email")
        built = [
            [
                accounts[row["account_number"]],
                row["name"],
                row["relationship"],
                row["phone"],
                phone(row["phone"]) if row["phone"] else "",
                row["phone_extension"],
                row["email"],
                email(row["email"]) if row["email"] else "",
                row["party_number"],
                self.now,
            ]
            for row in rows
        ]
        accounts_bulk.parties_insert(cursor, built)

    def _bills(self, cursor, rows: list[dict]) -> int:
        return self._new_rows(
            "bills",
            "statement_number",
            rows,
            lambda numbers: accounts_bulk.bill_ids(cursor, numbers),
            lambda fresh: self._insert_bills(cursor, fresh),
        )

    def _insert_bills(self, cursor, rows: list[dict]) -> None:
        accounts = self._ids(cursor, "accounts", [row["account_number"] for row in rows])
        now = self.now
        built = [
            [
                accounts[row["account_number"]],
                row["statement_number"],
                row["period_start"],
                row["period_end"],
                row["issued_on"],
                row["due_on"],
                row["kwh"],
                row["amount_due"],
                row["status"],
                now,
            ]
            for row in rows
        ]
        accounts_bulk.bills_insert(cursor, built)

    def _payments(self, cursor, rows: list[dict]) -> int:
        return self._new_rows(
            "payments",
            "payment_number",
            rows,
            lambda numbers: accounts_bulk.payment_numbers(cursor, numbers),
            lambda fresh: self._insert_payments(cursor, fresh),
        )

    def _insert_payments(self, cursor, rows: list[dict]) -> None:
        accounts = self._ids(cursor, "accounts", [row["account_number"] for row in rows])
        statements = list({row["statement_number"] for row in rows if row["statement_number"]})
        bills = accounts_bulk.bill_ids(cursor, statements)
        now = self.now
        built = [
            [
                accounts[row["account_number"]],
                bills.get(row["statement_number"]),
                _noon(row["received_on"]),
                row["amount"],
                row["method"],
                row["reference"],
                row["payment_number"],
                row["returned"],
                _noon(row["returned_on"]) or (now if row["returned"] else None),
                now,
            ]
            for row in rows
        ]
        accounts_bulk.payments_insert(cursor, built)

    def _capital_credits(self, cursor, rows: list[dict]) -> int:
        members = self._ids(cursor, "members", [row["member_number"] for row in rows])
        present = members_bulk.capital_credit_keys(cursor, list(set(members.values())))
        built = []
        for row in rows:
            key = (members[row["member_number"]], row["year"])
            if key in present:
                continue
            present.add(key)
            allocated = row["allocated_amount"]
            built.append([key[0], key[1], row["patronage_amount"] or 0, allocated, 0, row["allocated_on"] or None])
        members_bulk.capital_credits_insert(cursor, built)
        return len(built)

    def _retirements(self, cursor, rows: list[dict]) -> int:
        present = members_bulk.retirement_numbers(cursor, [row["retirement_number"] for row in rows])
        fresh = [row for row in rows if row["retirement_number"] not in present]
        members = self._ids(cursor, "members", [row["member_number"] for row in fresh])
        built = [
            [members[row["member_number"]], row["year"], row["retirement_number"], row["retired_on"], row["amount"]]
            for row in fresh
        ]
        members_bulk.retirements_insert(cursor, built)
        touched = sorted({(row[0], row[1]) for row in built})
        if touched:
            members_bulk.retired_amounts_refresh(cursor, [pk for pk, _ in touched], [year for _, year in touched])
        return len(built)
