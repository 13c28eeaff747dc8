"""Benchmark of the CIS migration: members moved in per second, and the same rows' floor.

A synthetic co-op (accounts.cis_migrate.synthetic: 130 accounts per 100 members, 24 months of bills and
payments, three years of capital credits) is generated outside the timing, then:

* ``migration.members_per_s``: members divided by the seconds of ``migrate`` (decode, check every file
  with its cross-file references, load batch by batch, reconcile), without the Red Flags scans;
* the floor: the same rows, already cleaned and built outside the timing, with only the crypto they need
  (bulk Fernet and blind indexes) and a bare ``COPY`` per table (explicit ids: no lookups) timed;
* ``migration.vs_floor``: floor seconds / migration seconds (1.0 = as fast as the floor; target ≥ 0.4).

Every row it writes is deleted again (member numbers start with ``BM``); audit rows stay (append-only).
"""

from __future__ import annotations

import tempfile
import time
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


def _cleaned(directory: Path, spec: layout.EntityFile) -> list:
    file_check = FileCheck(spec, directory / spec.filename, encoding="utf-8-sig" if spec is layout.MEMBERS else "")
    if not file_check.encoding:
        file_check.encoding = "cp1252" if spec.filename == "premises.csv" else "utf-8"
    today = timezone.localdate()
    return [clean_entity_row(spec, line, raw, today)[0] for line, raw in open_rows(file_check, [])]


def _next_ids(cursor, table: str, count: int) -> int:
    """Reserve ``count`` ids of ``table``'s sequence; the first."""
    cursor.execute(f"SELECT pg_get_serial_sequence('{table}', 'id')")
    sequence = cursor.fetchone()[0]
    cursor.execute("SELECT nextval(%s)", [sequence])
    first = cursor.fetchone()[0]
    cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


class _Floor:
    """The rows of every table, prepared (cleaned, ids assigned) before the clock starts."""

    def __init__(self, directory: Path):
        self.rows = {spec.entity: _cleaned(directory, spec) for spec in layout.FILES}
        with connection.cursor() as cursor:
            self.first = {
                table: _next_ids(cursor, table, max(1, len(self.rows[entity])))
                for entity, table in (
                    ("members", "members_member"),
                    ("premises", "accounts_premise"),
                    ("accounts", "accounts_account"),
                    ("bills", "accounts_bill"),
                )
            }
        self.member_id = {
            r.member["member_number"]: self.first["members_member"] + i for i, r in enumerate(self.rows["members"])
        }
        self.premise_id = {
            r["premise_number"]: self.first["accounts_premise"] + i for i, r in enumerate(self.rows["premises"])
        }
        self.account_id = {
            r["account_number"]: self.first["accounts_account"] + i for i, r in enumerate(self.rows["accounts"])
        }
        self.bill_id = {
            r["statement_number"]: self.first["accounts_bill"] + i for i, r in enumerate(self.rows["bills"])
        }

    def run(self) -> float:
        now = timezone.now().isoformat()
        started = time.perf_counter()
        index = crypto.canonical_indexer()
        members = self.rows["members"]
        tokens = import_loading._encrypt(members)
        member_rows = import_loading._member_rows(
            members, tokens, import_loading.Derived(members_bulk.MEMBER_DECLARED, index), now
        )
        member_rows = [
            [self.member_id[r.member["member_number"]], *row] for r, row in zip(members, member_rows, strict=True)
        ]
        premise_rows = self._premises(index, now)
        with transaction.atomic(), connection.cursor() as cursor:
            members_bulk.copy_rows(
                cursor,
                "members_member",
                ("id", *members_bulk.MEMBER_COLUMNS),
                member_rows,
                members_bulk.MEMBER_NULLABLE,
            )
            members_bulk.copy_rows(
                cursor,
                "accounts_premise",
                ("id", *accounts_bulk.PREMISE_COLUMNS),
                premise_rows,
                accounts_bulk.PREMISE_NULLABLE,
            )
            self._copy_the_rest(cursor, index, now)
        return time.perf_counter() - started

    def _premises(self, index, now: str) -> list:
        rows = self.rows["premises"]
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
        return built

    def _copy_the_rest(self, cursor, index, now: str) -> None:
        rows, member, premise, account, bill = self.rows, self.member_id, self.premise_id, self.account_id, self.bill_id
        copy = members_bulk.copy_rows
        copy(
            cursor,
            "accounts_meter",
            accounts_bulk.METER_HISTORY_COLUMNS,
            [
                [r["meter_number"], premise[r["premise_number"]], r["has_solar"], r["installed_on"]]
                for r in rows["meters"]
            ],
            frozenset({"installed_on"}),
        )
        balances = {r["account_number"]: r for r in rows["balances"]}
        account_rows = []
        for r in rows["accounts"]:
            balance = balances.get(r["account_number"])
            account_rows.append(
                [
                    account[r["account_number"]],
                    r["account_number"],
                    member[r["member_number"]],
                    premise.get(r["premise_number"]),
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
        phone = index.for_kind("phone")
        copy(
            cursor,
            "accounts_authorizedparty",
            accounts_bulk.PARTY_COLUMNS,
            [
                [
                    account[r["account_number"]],
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
                for r in rows["authorized_parties"]
            ],
        )
        banks = rows["bank_accounts"]
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
                    member_id=member[r["member_number"]],
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
        copy(
            cursor,
            "accounts_bill",
            ("id", *accounts_bulk.BILL_COLUMNS),
            [
                [
                    bill[r["statement_number"]],
                    account[r["account_number"]],
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
                for r in rows["bills"]
            ],
        )
        copy(
            cursor,
            "accounts_payment",
            accounts_bulk.PAYMENT_COLUMNS,
            [
                [
                    account[r["account_number"]],
                    bill.get(r["statement_number"]),
                    f"{r['received_on']} 12:00:00+00:00",
                    r["amount"],
                    r["method"],
                    r["reference"],
                    r["payment_number"],
                    r["returned"],
                    None,
                    now,
                ]
                for r in rows["payments"]
            ],
            frozenset({"bill_id", "returned_at"}),
        )
        copy(
            cursor,
            "members_capitalcreditallocation",
            members_bulk.CAPITAL_CREDIT_COLUMNS,
            [
                [
                    member[r["member_number"]],
                    r["year"],
                    r["patronage_amount"] or 0,
                    r["allocated_amount"],
                    0,
                    r["allocated_on"],
                ]
                for r in rows["capital_credits"]
            ],
            frozenset({"allocated_on"}),
        )
        copy(
            cursor,
            "members_capitalcreditretirement",
            members_bulk.RETIREMENT_COLUMNS,
            [
                [member[r["member_number"]], r["year"], r["retirement_number"], r["retired_on"], r["amount"]]
                for r in rows["capital_credit_retirements"]
            ],
        )


def bench_migration(quick: bool = False, members: int | None = None) -> dict[str, float]:
    count = members or (1_000 if quick else 100_000)
    _cleanup()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="mg-bench-migration-") as directory:
        path = Path(directory)
        write_coop(path, members=count, prefix=_PREFIX)
        try:
            started = time.perf_counter()
            outcome = migrate(
                path, batch_size=5_000, workers=default_workers(), actor_label="bench", announce_to_red_flags=False
            )
            seconds = time.perf_counter() - started
            if not outcome.run.balanced or outcome.run.entities["members"]["loaded"] != count:
                raise RuntimeError(f"migration benchmark did not balance: {outcome.run.entities}")
            _cleanup()
            floor = _Floor(path).run()
        finally:
            _cleanup()
    results["migration.members"] = count
    results["migration.members_per_s"] = count / seconds
    results["migration.seconds"] = seconds
    results["migration.floor_seconds"] = floor
    results["migration.vs_floor"] = floor / seconds
    return results


__all__ = ["bench_migration"]
