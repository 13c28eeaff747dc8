"""Bulk loading of the accounts app's own tables (premises, covered accounts, meters) with COPY.

The SQL of the ``accounts_*`` tables stays here; the CIS import (accounts.cis_import) builds rows with
``premise_row`` / ``account_row`` / ``meter_row`` and hands them over. COPY itself, and the declared
identifying columns (the premise's service address, gate code, meter-reading notes and address index),
come from members.bulk_load and members/identifiers.py.

Premises and meters can be shared by members of different batches, which parallel workers load at the
same time: they go in through ``insert_new`` (``ON CONFLICT DO NOTHING``). Accounts cannot: the import
refuses a file that names an account twice, and skips accounts already in the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from members import bulk_load
from members.bulk_load import DeclaredColumns

PREMISE_DECLARED = DeclaredColumns("accounts.Premise")
PREMISE_COLUMNS = ("premise_number", "dog_warning", "created_at", "updated_at", *PREMISE_DECLARED.columns)
PREMISE_NULLABLE = PREMISE_DECLARED.encrypted
ACCOUNT_COLUMNS = (
    "account_number",
    "member_id",
    "premise_id",
    "status",
    "status_reason",
    "opened_at",
    "closed_at",
    "suspended_at",
    "red_flag_warning",
    "on_hold",
    "created_at",
    "updated_at",
)
ACCOUNT_NULLABLE = frozenset({"premise_id", "opened_at", "closed_at", "suspended_at"})
METER_COLUMNS = ("meter_number", "premise_id", "has_solar")


def premise_row(
    *, premise_number: str, dog_warning: bool, now: str, values: Mapping[str, Any], computed: Sequence[str]
) -> list:
    """An ``accounts_premise`` row: ``values`` by field name (service address, gate code and notes as
    Fernet tokens), ``computed`` its blind index by column."""
    return [premise_number, dog_warning, now, now, *PREMISE_DECLARED.values(values, computed)]


def premises_insert_new(cursor, rows: list[Sequence[Any]]) -> dict[str, int]:
    """Insert the premises not there yet; ``{premise_number: id}`` of those inserted."""
    return bulk_load.insert_new(cursor, "accounts_premise", "premise_number", PREMISE_COLUMNS, rows, PREMISE_NULLABLE)


def premise_ids(cursor, premise_numbers: list[str]) -> dict[str, int]:
    return bulk_load.existing_ids(cursor, "accounts_premise", "premise_number", premise_numbers)


def account_row(
    *,
    account_number: str,
    member_id: int,
    premise_id: int | None,
    status: str,
    status_reason: str,
    opened_at: str | None,
    closed_at: str | None,
    suspended_at: str | None,
    now: str,
) -> list:
    """An ``accounts_account`` row (no Red Flag warning, not on hold: a legacy account, opened before)."""
    dates = [opened_at, closed_at, suspended_at]
    return [account_number, member_id, premise_id, status, status_reason, *dates, False, False, now, now]


def accounts_insert(cursor, rows: Sequence[Sequence[Any]]) -> None:
    bulk_load.copy_rows(cursor, "accounts_account", ACCOUNT_COLUMNS, rows, ACCOUNT_NULLABLE)


def account_ids(cursor, account_numbers: list[str]) -> dict[str, int]:
    return bulk_load.existing_ids(cursor, "accounts_account", "account_number", account_numbers)


def meter_row(*, meter_number: str, premise_id: int, has_solar: bool) -> list:
    return [meter_number, premise_id, has_solar]


def meters_insert_new(cursor, rows: list[Sequence[Any]]) -> dict[str, int]:
    """Insert the meters not there yet; ``{meter_number: id}`` of those inserted."""
    return bulk_load.insert_new(cursor, "accounts_meter", "meter_number", METER_COLUMNS, rows, frozenset())


# --- the CIS migration's history tables ---------------------------------------------------------------------

METER_HISTORY_COLUMNS = ("meter_number", "premise_id", "has_solar", "installed_on")
PARTY_COLUMNS = (
    "account_id",
    "name",
    "relationship",
    "phone",
    "phone_index",
    "phone_extension",
    "email",
    "email_index",
    "legacy_number",
    "added_at",
)
BILL_COLUMNS = (
    "account_id",
    "statement_number",
    "period_start",
    "period_end",
    "issued_on",
    "due_on",
    "kwh",
    "amount_due",
    "status",
    "created_at",
)
PAYMENT_COLUMNS = (
    "account_id",
    "bill_id",
    "received_at",
    "amount",
    "method",
    "reference",
    "legacy_number",
    "returned",
    "returned_at",
    "created_at",
)


def meters_with_dates_insert_new(cursor, rows: list[Sequence[Any]]) -> dict[str, int]:
    return bulk_load.insert_new(
        cursor, "accounts_meter", "meter_number", METER_HISTORY_COLUMNS, rows, frozenset({"installed_on"})
    )


def parties_insert(cursor, rows: Sequence[Sequence[Any]]) -> None:
    bulk_load.copy_rows(cursor, "accounts_authorizedparty", PARTY_COLUMNS, rows)


def party_numbers(cursor, numbers: list[str]) -> dict[str, int]:
    return bulk_load.existing_ids(cursor, "accounts_authorizedparty", "legacy_number", numbers)


def bills_insert(cursor, rows: Sequence[Sequence[Any]]) -> None:
    bulk_load.copy_rows(cursor, "accounts_bill", BILL_COLUMNS, rows)


def bill_ids(cursor, statement_numbers: list[str]) -> dict[str, int]:
    return bulk_load.existing_ids(cursor, "accounts_bill", "statement_number", statement_numbers)


def payments_insert(cursor, rows: Sequence[Sequence[Any]]) -> None:
    bulk_load.copy_rows(cursor, "accounts_payment", PAYMENT_COLUMNS, rows, frozenset({"bill_id", "returned_at"}))


def payment_numbers(cursor, numbers: list[str]) -> dict[str, int]:
    return bulk_load.existing_ids(cursor, "accounts_payment", "legacy_number", numbers)


def balances_update(cursor, numbers: list[str], balances: list[str], dates: list[str]) -> int:
    """Set each account's carried-over balance and its date, where it is not that date's already; the
    number of accounts changed."""
    cursor.execute(
        "UPDATE accounts_account a SET balance = v.balance::numeric, balance_as_of = v.as_of::date "
        "FROM unnest(%s::text[], %s::text[], %s::text[]) AS v(number, balance, as_of) "
        "WHERE a.account_number = v.number AND a.balance_as_of IS DISTINCT FROM v.as_of::date",
        [numbers, balances, dates],
    )
    return cursor.rowcount
