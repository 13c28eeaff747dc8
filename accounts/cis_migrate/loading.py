"""Loading the rows the check accepted, file by file in the layout's order, batch by batch.

Each batch is one transaction: the rows already in the database (by the CIS's own numbers) are skipped
and counted, the others go in with ``COPY`` (members through the legacy import's loader:
accounts.cis_import.loading, the same bulk Fernet, blind-index recipe and worker pool), with one audit
row naming the file and its line range. A run that stops part-way leaves whole batches loaded; the
counts say which entity was not finished (``EntityCount.complete``), and a re-run loads what is missing.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

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
        else:
            self._batch(spec, self._loaders[spec.entity], batch, self.count(spec.entity))

    def done(self, check: FileCheck) -> None:
        """A file was read to its end and every batch of it handed over (and loaded)."""
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

    def _parties(self, cursor, rows: list[dict]) -> int:
        present = accounts_bulk.party_numbers(cursor, [row["party_number"] for row in rows])
        fresh = [row for row in rows if row["party_number"] not in present]
        accounts = self._ids(cursor, "accounts", [row["account_number"] for row in fresh])
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
            for row in fresh
        ]
        accounts_bulk.parties_insert(cursor, built)
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

    def _bills(self, cursor, rows: list[dict]) -> int:
        present = accounts_bulk.bill_ids(cursor, [row["statement_number"] for row in rows])
        fresh = [row for row in rows if row["statement_number"] not in present]
        accounts = self._ids(cursor, "accounts", [row["account_number"] for row in fresh])
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
            for row in fresh
        ]
        accounts_bulk.bills_insert(cursor, built)
        return len(built)

    def _payments(self, cursor, rows: list[dict]) -> int:
        present = accounts_bulk.payment_numbers(cursor, [row["payment_number"] for row in rows])
        fresh = [row for row in rows if row["payment_number"] not in present]
        accounts = self._ids(cursor, "accounts", [row["account_number"] for row in fresh])
        bills = accounts_bulk.bill_ids(
            cursor, list({row["statement_number"] for row in fresh if row["statement_number"]})
        )
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
            for row in fresh
        ]
        accounts_bulk.payments_insert(cursor, built)
        return len(built)

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
