"""The reconciliation after a load: per entity what the files hold against what the database holds.

For every entity: rows read, loaded, rejected and already present (from the load), and how many of the
accepted rows' keys the database now holds; for every amount column (balances, billed and paid amounts,
capital credits allocated and retired) the files' total over the accepted rows against the total stored
under the same keys. A run balances when every entity was loaded to the end, every accepted key is
stored and every total matches to the cent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import connection

from accounts.cis_migrate.checking import Plan
from accounts.cis_migrate.loading import LoadResult

_CHUNK = 50_000
# Per entity: the rows stored under the files' keys (an array of keys as the check writes them), and the
# columns whose totals are reconciled, in one pass over them ("SELECT count(*), SUM(..) " + this).
_KEYED = "JOIN unnest(%s::text[]) AS k(key) ON k.key = "


def _probed(table: str, column: str) -> str:
    """The rows of ``table`` under the keys: one probe of ``column``'s unique index per key. A plain join
    may hash the whole table once per chunk of 50,000 keys (the plan the batch lookups showed): at
    100,000 members that is 62 scans of 3.1 million bills."""
    return (
        "FROM unnest(%s::text[]) AS k(key) CROSS JOIN LATERAL "  # noqa: S608 - fixed identifiers
        f"(SELECT t.* FROM {table} t WHERE t.{column} = k.key OFFSET 0) AS t"
    )


_STORED_SQL: dict[str, tuple[str, tuple[str, ...]]] = {
    "members": (_probed("members_member", "member_number"), ()),
    "premises": (_probed("accounts_premise", "premise_number"), ()),
    "meters": (_probed("accounts_meter", "meter_number"), ()),
    "accounts": (_probed("accounts_account", "account_number"), ()),
    "authorized_parties": (_probed("accounts_authorizedparty", "legacy_number"), ()),
    "bank_accounts": (
        "FROM members_financialaccount t JOIN members_member m ON m.id = t.member_id "
        + _KEYED
        + "m.member_number || '|' || t.bank_account_index",
        (),
    ),
    "balances": ("FROM accounts_account t " + _KEYED + "t.account_number || '|' || t.balance_as_of", ("balance",)),
    "bills": (_probed("accounts_bill", "statement_number"), ("amount_due",)),
    "payments": (_probed("accounts_payment", "legacy_number"), ("amount",)),
    "capital_credits": (
        "FROM members_capitalcreditallocation t JOIN members_member m ON m.id = t.member_id "
        + _KEYED
        + "m.member_number || '|' || t.year",
        ("patronage_amount", "allocated_amount"),
    ),
    "capital_credit_retirements": (
        _probed("members_capitalcreditretirement", "retirement_number"),
        ("amount",),
    ),
}


def _stored(entity: str, keys: list[str]) -> tuple[int, dict[str, Decimal]]:
    """How many of ``keys`` the database holds, and the totals of the entity's amount columns over them."""
    where, columns = _STORED_SQL[entity]
    sums = "".join(f", COALESCE(SUM(t.{column}), 0)" for column in columns)
    count, totals = 0, dict.fromkeys(columns, Decimal(0))
    with connection.cursor() as cursor:
        for start in range(0, len(keys), _CHUNK):
            cursor.execute(f"SELECT count(*){sums} {where}", [keys[start : start + _CHUNK]])  # noqa: S608 - constants
            row = cursor.fetchone()
            count += row[0]
            for column, total in zip(columns, row[1:], strict=True):
                totals[column] += total
    return count, totals


def reconcile(plan: Plan, result: LoadResult) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """``(entities, sums, balanced)`` as a ``MigrationRun`` keeps them (amounts as text, to the cent)."""
    entities: dict[str, Any] = {}
    sums: dict[str, Any] = {}
    balanced = True
    for entity, check in plan.files.items():
        count = result.counts.get(entity)
        keys = list(check.keys)
        stored, stored_totals = _stored(entity, keys) if keys and not check.refused else (0, {})
        row = count.as_dict() if count is not None else {"read": check.read, "rejected": len(check.bad_lines)}
        row.update(
            read=check.read, rejected=len(check.bad_lines), accepted=len(keys), stored=stored, refused=check.refused
        )
        entities[entity] = row
        balanced &= bool(row.get("complete")) and stored == len(keys) and not check.refused
        for name, in_files in check.sums.items():
            stored_total = stored_totals.get(name, Decimal(0))
            difference = in_files - stored_total
            sums[f"{entity}.{name}"] = {
                "file": f"{in_files:.2f}",
                "stored": f"{stored_total:.2f}",
                "difference": f"{difference:.2f}",
            }
            balanced &= difference == 0
    return entities, sums, balanced
