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

from accounts.cis_migrate.checking import Plan, existing_keys
from accounts.cis_migrate.loading import LoadResult

_CHUNK = 50_000
# The stored total of an amount column under the files' keys (an array of keys as the check writes them).
_STORED_SUM_SQL = {
    ("balances", "balance"): (
        "SELECT COALESCE(SUM(balance), 0) FROM accounts_account WHERE account_number || '|' || balance_as_of = ANY(%s)"
    ),
    ("bills", "amount_due"): "SELECT COALESCE(SUM(amount_due), 0) FROM accounts_bill WHERE statement_number = ANY(%s)",
    ("payments", "amount"): "SELECT COALESCE(SUM(amount), 0) FROM accounts_payment WHERE legacy_number = ANY(%s)",
    ("capital_credits", "patronage_amount"): (
        "SELECT COALESCE(SUM(c.patronage_amount), 0) FROM members_capitalcreditallocation c "
        "JOIN members_member m ON m.id = c.member_id WHERE m.member_number || '|' || c.year = ANY(%s)"
    ),
    ("capital_credits", "allocated_amount"): (
        "SELECT COALESCE(SUM(c.allocated_amount), 0) FROM members_capitalcreditallocation c "
        "JOIN members_member m ON m.id = c.member_id WHERE m.member_number || '|' || c.year = ANY(%s)"
    ),
    ("capital_credit_retirements", "amount"): (
        "SELECT COALESCE(SUM(amount), 0) FROM members_capitalcreditretirement WHERE retirement_number = ANY(%s)"
    ),
}


def _stored_sum(sql: str, keys: list[str]) -> Decimal:
    total = Decimal(0)
    with connection.cursor() as cursor:
        for start in range(0, len(keys), _CHUNK):
            cursor.execute(sql, [keys[start : start + _CHUNK]])
            total += cursor.fetchone()[0]
    return total


def reconcile(plan: Plan, result: LoadResult) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """``(entities, sums, balanced)`` as a ``MigrationRun`` keeps them (amounts as text, to the cent)."""
    entities: dict[str, Any] = {}
    sums: dict[str, Any] = {}
    balanced = True
    for entity, check in plan.files.items():
        count = result.counts.get(entity)
        keys = list(check.keys)
        stored = len(existing_keys(entity, keys)) if keys and not check.refused else 0
        row = count.as_dict() if count is not None else {"read": check.read, "rejected": len(check.bad_lines)}
        row.update(
            read=check.read, rejected=len(check.bad_lines), accepted=len(keys), stored=stored, refused=check.refused
        )
        entities[entity] = row
        balanced &= bool(row.get("complete")) and stored == len(keys) and not check.refused
        for name, in_files in check.sums.items():
            stored_total = _stored_sum(_STORED_SUM_SQL[(entity, name)], keys) if keys else Decimal(0)
            difference = in_files - stored_total
            sums[f"{entity}.{name}"] = {
                "file": f"{in_files:.2f}",
                "stored": f"{stored_total:.2f}",
                "difference": f"{difference:.2f}",
            }
            balanced &= difference == 0
    return entities, sums, balanced
