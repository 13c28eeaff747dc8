"""Bulk loading with COPY, and the rows of members' own tables for it.

The CIS import (accounts.cis_import) writes tens of thousands of rows a second, far past what the ORM's
``bulk_create`` manages with encrypted fields; it does so through these functions, so the SQL of the
``members_*`` tables stays in members (``accounts.bulk_load`` does the same for the ``accounts_*`` tables).
A row builder (``member_row``, ``financial_account_row``) takes values by name and returns them in its
table's column order; which identifying columns there are comes from members/identifiers.py, so a newly
declared field is loaded without a change here.

Every COPY goes through ``copy_rows`` (tests make it fail on purpose to prove a failing batch leaves
nothing behind).
A COPY in text format elsewhere (the key rotation's staging rows, the release notices) escapes its
values with ``copy_text``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from members import identifiers


def copy_rows(
    cursor, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], nullable: frozenset[str] = frozenset()
) -> None:
    """COPY ``rows`` into ``table`` in CSV format, written by the ``csv`` module (in C: a third of the
    import's Python time went into escaping values one by one for the text format).

    ``None`` becomes NULL. Every column not in ``nullable`` is ``FORCE_NOT_NULL``, so an empty string
    stays an empty string there. Fernet tokens are passed as their URL-safe base64 text: in a bytea
    column that is bytea's escape input format (no backslashes occur), which stores exactly those bytes.
    Booleans are written ``True``/``False``, which PostgreSQL reads as booleans.
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    buffer.seek(0)
    not_null = [column for column in columns if column not in nullable]
    options = f", FORCE_NOT_NULL ({', '.join(not_null)})" if not_null else ""
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv{options})", buffer)


def copy_text(value: str) -> str:
    """``value`` in COPY's *text* format (for the COPYs that do not go through ``copy_rows``' CSV: the
    rotation's staging rows, the release notices): backslash, tab, newline and carriage return escaped.
    ``str.replace``, not ``str.translate`` with a table, which walks each character in Python (it cost
    0.25 ms a notice)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def insert_new(
    cursor, table: str, key: str, columns: Sequence[str], rows: list[Sequence[Any]], nullable: frozenset[str]
) -> dict[str, int]:
    """Insert the rows whose ``key`` is not in ``table`` yet, skip the others; returns ``{key: id}`` of
    those inserted.

    For rows that several loads may write at once (premises and meters shared by members of different
    batches, loaded by parallel workers): the rows go through a temporary table and ``INSERT ... ON
    CONFLICT DO NOTHING``, which waits for the other batch to commit and then skips the row; keys go in
    sorted order so two batches waiting on each other cannot deadlock.
    """
    if not rows:
        return {}
    staging = f"mg_import_{table}"
    names = ", ".join(columns)
    cursor.execute(f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA")  # noqa: S608 - fixed identifiers
    copy_rows(cursor, staging, columns, rows, nullable)
    cursor.execute(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} ORDER BY {key} "  # noqa: S608 - fixed identifiers
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}, id"
    )
    inserted = dict(cursor.fetchall())
    cursor.execute(f"DROP TABLE {staging}")
    return inserted


def existing_ids(cursor, table: str, column: str, values: list[str]) -> dict[str, int]:
    """``{value: id}`` of the rows of ``table`` whose ``column`` (a unique one) is one of ``values``.

    One probe of ``column``'s unique index per value, whatever the table's size or statistics: a lateral
    subquery behind ``OFFSET 0`` (which the planner cannot flatten into a join). Not ``column =
    ANY(values)``: the search's trigram indexes (issue 15: member and account numbers) also answer
    equality, and for thousands of values the planner took the trigram index, whose posting lists for
    "000" and the like are the whole table (140 s for one 5,000-number lookup at 100,000 accounts). Nor a
    plain join with the values: with a growing table's stale statistics the planner hashed the whole
    table for every batch (48 ms per 5,000 bills at 62,000 bills and growing with the table: quadratic
    over a migration's payments; 17 ms probed, and the same at any size).
    """
    if not values:
        return {}
    cursor.execute(
        f"SELECT wanted.value, t.id FROM unnest(%s::text[]) AS wanted(value) CROSS JOIN LATERAL "  # noqa: S608 - fixed identifiers
        f"(SELECT t.id FROM {table} t WHERE t.{column} = wanted.value OFFSET 0) AS t",
        [values],
    )
    return dict(cursor.fetchall())


# --- The declared columns of a model, as a COPY loads them -------------------------------------------------


class DeclaredColumns:
    """The identifying columns of ``model`` a bulk load writes (members/identifiers.py): the fields with
    a legacy-file column, every blind index and every last-four column. Values missing from a row are
    written as NULL (encrypted) or ``""`` (clear): nothing in the registry is NOT NULL without a value."""

    def __init__(self, model: str, fields: Iterable[identifiers.SensitiveField] = identifiers.FIELDS):
        self.model = model
        declared = identifiers.fields_of(model, fields)
        self.fields = tuple(field.name for field in declared if field.import_column)  # loaded as given
        self.encrypted = frozenset(field.name for field in declared if field.import_column and field.encrypted)
        indexes = (index.column for index in identifiers.indexes_of(model))
        last_four = (field.last_four for field in declared if field.last_four)
        self.computed = tuple(dict.fromkeys([*indexes, *last_four]))  # blind indexes, last-four columns
        self.columns = (*self.fields, *self.computed)
        self._empty = tuple((name, None if name in self.encrypted else "") for name in self.fields)

    def values(self, values: Mapping[str, Any], computed: Sequence[str]) -> list:
        """One row's declared columns, in ``columns`` order, from values by field name (clear values and
        Fernet tokens; never a plaintext of an encrypted field) and the ``computed`` columns' values in
        their order."""
        get = values.get
        return [get(name, empty) for name, empty in self._empty] + list(computed)


# --- members_member -------------------------------------------------------------------------------------

MEMBER_DECLARED = DeclaredColumns("members.Member")
_MEMBER_OWN = (
    "member_number",
    "kind",
    "legal_name",
    "name_search",
    "status",
    "applied_on",
    "joined_on",
    "left_on",
    "user_id",
    "employer_name",
    "deposit_required",
    "created_at",
    "updated_at",
)
MEMBER_COLUMNS = (*_MEMBER_OWN, *MEMBER_DECLARED.columns)
MEMBER_NULLABLE = frozenset({"applied_on", "joined_on", "left_on", "user_id"}) | MEMBER_DECLARED.encrypted


def member_row(
    *,
    member_number: str,
    kind: str,
    legal_name: str,
    name_search: str,
    status: str,
    applied_on: str | None,
    joined_on: str | None,
    employer_name: str,
    now: str,
    values: Mapping[str, Any],
    computed: Sequence[str],
) -> list:
    """A ``members_member`` row for ``members_insert`` (dates and times as ISO text): ``values`` by field
    name (clear values, Fernet tokens), ``computed`` the blind-index and last-four columns."""
    own = [member_number, kind, legal_name, name_search, status, applied_on, joined_on, None, None]  # left_on, user_id
    return [*own, employer_name, 0, now, now, *MEMBER_DECLARED.values(values, computed)]


def members_insert(cursor, rows: Iterable[Sequence[Any]]) -> None:
    copy_rows(cursor, "members_member", MEMBER_COLUMNS, rows, MEMBER_NULLABLE)


def member_ids(cursor, member_numbers: list[str]) -> dict[str, int]:
    return existing_ids(cursor, "members_member", "member_number", member_numbers)


# --- members_financialaccount ----------------------------------------------------------------------------

FINANCIAL_DECLARED = DeclaredColumns("members.FinancialAccount")
FINANCIAL_COLUMNS = ("member_id", "kind", "institution_name", "is_active", "added_at", *FINANCIAL_DECLARED.columns)
FINANCIAL_NULLABLE = FINANCIAL_DECLARED.encrypted


def bank_account_row(*, member_id: int, now: str, values: Mapping[str, Any], computed: Sequence[str]) -> list:
    """A ``members_financialaccount`` row (an active bank account) for ``financial_accounts_insert``."""
    return [member_id, "bank", "", True, now, *FINANCIAL_DECLARED.values(values, computed)]


def financial_accounts_insert(cursor, rows: Iterable[Sequence[Any]]) -> None:
    copy_rows(cursor, "members_financialaccount", FINANCIAL_COLUMNS, rows, FINANCIAL_NULLABLE)


# --- capital credits (the CIS migration) -------------------------------------------------------------------

CAPITAL_CREDIT_COLUMNS = ("member_id", "year", "patronage_amount", "allocated_amount", "retired_amount", "allocated_on")
RETIREMENT_COLUMNS = ("member_id", "year", "retirement_number", "retired_on", "amount")


def capital_credits_insert(cursor, rows: Iterable[Sequence[Any]]) -> None:
    copy_rows(cursor, "members_capitalcreditallocation", CAPITAL_CREDIT_COLUMNS, rows, frozenset({"allocated_on"}))


def capital_credit_keys(cursor, member_ids: list[int]) -> set[tuple[int, int]]:
    """``(member_id, year)`` of the allocations of these members."""
    cursor.execute(
        "SELECT member_id, year FROM members_capitalcreditallocation WHERE member_id = ANY(%s)", [member_ids]
    )
    return set(cursor.fetchall())


def retirements_insert(cursor, rows: Iterable[Sequence[Any]]) -> None:
    copy_rows(cursor, "members_capitalcreditretirement", RETIREMENT_COLUMNS, rows)


def retirement_numbers(cursor, numbers: list[str]) -> dict[str, int]:
    return existing_ids(cursor, "members_capitalcreditretirement", "retirement_number", numbers)


def retired_amounts_refresh(cursor, member_ids: list[int], years: list[int]) -> None:
    """Set each touched allocation's ``retired_amount`` to the sum of its retirements (idempotent)."""
    cursor.execute(
        "UPDATE members_capitalcreditallocation a SET retired_amount = r.total FROM ("
        "  SELECT member_id, year, SUM(amount) AS total FROM members_capitalcreditretirement"
        "  WHERE (member_id, year) IN (SELECT * FROM unnest(%s::bigint[], %s::int[])) GROUP BY member_id, year"
        ") r WHERE a.member_id = r.member_id AND a.year = r.year",
        [member_ids, years],
    )


def bank_account_keys(cursor, member_ids: list[int]) -> set[tuple[int, str]]:
    """``(member_id, bank_account_index)`` of these members' bank accounts."""
    cursor.execute(
        "SELECT member_id, bank_account_index FROM members_financialaccount WHERE member_id = ANY(%s)", [member_ids]
    )
    return set(cursor.fetchall())
