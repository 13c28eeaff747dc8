"""Reading and checking the migration's files, row by row; the real run loads as it checks.

``check(directory)`` (``--check``) decodes each file (accounts.cis_import.encoding), checks its header,
cleans every row with its entity's cleaners, finds keys repeated within a file and references that name
nothing (in the other files, else in the database), and counts what is there already; it loads nothing.
``check_and_load`` is the real run's single pass: every file's encoding and header first (a file that
cannot be read refuses the run before anything loads), then the same checks, each batch of accepted rows
handed to the loader as it is checked. A rejected row never loads, and a row that refers to a rejected
row is rejected with it (a bill of an account whose member was rejected).

Problems name the file, the line, the field and the reason; never a value. Only keys and amounts are
kept in memory between files, never identifying values (a bank account's key is its blind index).
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from accounts.cis_import.cleaning import CleanRow, clean_row
from accounts.cis_import.encoding import EncodingRefused, detect_encoding
from accounts.cis_migrate import layout
from accounts.cis_migrate.layout import EntityFile
from members import crypto, validation


def _joined(table: str, column: str) -> str:
    """Keys of ``table`` among %s, one probe of ``column``'s unique index each: neither ``column =
    ANY(%s)`` (the search's trigram index answers that slowly) nor a plain join (hashing the whole table
    for every chunk of keys); members.bulk_load.existing_ids has the figures."""
    return (
        f"SELECT t.{column} FROM unnest(%s::text[]) AS wanted(value) CROSS JOIN LATERAL "  # noqa: S608 - fixed identifiers
        f"(SELECT t.{column} FROM {table} t WHERE t.{column} = wanted.value OFFSET 0) AS t"
    )


# Where each entity's key lives in the database (for "already present" and for references to rows
# loaded by an earlier run): SQL selecting the keys among %s (an array), as text.
_EXISTING_SQL = {
    "members": _joined("members_member", "member_number"),
    "premises": _joined("accounts_premise", "premise_number"),
    "meters": _joined("accounts_meter", "meter_number"),
    "accounts": _joined("accounts_account", "account_number"),
    "authorized_parties": _joined("accounts_authorizedparty", "legacy_number"),
    "bills": _joined("accounts_bill", "statement_number"),
    "payments": _joined("accounts_payment", "legacy_number"),
    "capital_credit_retirements": _joined("members_capitalcreditretirement", "retirement_number"),
    "capital_credits": (
        "SELECT m.member_number || '|' || c.year FROM members_capitalcreditallocation c "
        "JOIN members_member m ON m.id = c.member_id WHERE m.member_number || '|' || c.year = ANY(%s)"
    ),
    "bank_accounts": (
        "SELECT m.member_number || '|' || f.bank_account_index FROM members_financialaccount f "
        "JOIN members_member m ON m.id = f.member_id WHERE m.member_number || '|' || f.bank_account_index = ANY(%s)"
    ),
    "balances": (
        "SELECT account_number || '|' || balance_as_of FROM accounts_account "
        "WHERE account_number || '|' || balance_as_of = ANY(%s)"
    ),
}
_CHUNK = 50_000
_SAMPLE_PROBLEMS = 1000


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file} line {self.line}: {self.field}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class FileCheck:
    spec: EntityFile
    path: Path
    encoding: str = ""
    refused: bool = False  # the file cannot be read (encoding, header): none of it loads
    read: int = 0
    bad_lines: set[int] = field(default_factory=set)
    keys: dict[Any, int] = field(default_factory=dict)  # good rows' keys -> line
    rejected: dict[Any, int] = field(default_factory=dict)  # rejected rows' keys -> line
    present: int = 0  # good rows already in the database
    sums: dict[str, Decimal] = field(default_factory=dict)  # over good rows

    @property
    def good(self) -> int:
        return self.read - len(self.bad_lines)


@dataclass
class Plan:
    directory: Path
    files: dict[str, FileCheck] = field(default_factory=dict)  # by entity, in load order
    problems: list[Problem] = field(default_factory=list)
    today: datetime.date = field(default_factory=timezone.localdate)

    @property
    def refused(self) -> list[FileCheck]:
        return [check for check in self.files.values() if check.refused]


# --- Cleaning one row ---------------------------------------------------------------------------------

Errors = dict[str, list[str]]


_CLEANERS: dict[str, tuple[tuple[str, Callable[[str], Any]], ...]] = {}


def _clean_columns(spec: EntityFile, raw: dict[str, str]) -> tuple[dict[str, Any], Errors]:
    cleaners = _CLEANERS.get(spec.entity)
    if cleaners is None:
        cleaners = _CLEANERS[spec.entity] = tuple((column.name, column.clean) for column in spec.columns)
    values: dict[str, Any] = {}
    errors: Errors = {}
    get = raw.get
    for name, clean in cleaners:  # millions of cells at 100,000 members: the loop's own cost counts
        try:
            values[name] = clean((get(name) or "").strip())
        except ValidationError as exc:
            errors[name] = exc.messages
    return values, errors


def _split_party_extension(raw: dict[str, str]) -> None:
    number, extension = validation.split_phone_extension((raw.get("phone") or "").strip())
    if extension and not (raw.get("phone_extension") or "").strip():
        raw["phone"], raw["phone_extension"] = number, extension


def _after(first: str, second: str, message: str) -> Callable[[dict[str, Any], Errors], None]:
    def check(values: dict[str, Any], errors: Errors) -> None:
        if values.get(first) and values.get(second) and values[second] < values[first]:
            errors.setdefault(second, []).append(message)

    return check


_CROSS_CHECKS: dict[str, tuple[Callable[[dict[str, Any], Errors], None], ...]] = {
    "bills": (
        _after("period_start", "period_end", "The period ends before it starts."),
        _after("issued_on", "due_on", "Due before it was issued."),
    ),
    "accounts": (_after("opened_on", "closed_on", "Closed before it was opened."),),
    "payments": (_after("received_on", "returned_on", "Returned before it was received."),),
}


def clean_entity_row(spec: EntityFile, line: int, raw: dict[str, str], today: datetime.date) -> tuple[Any, Errors]:
    """The cleaned row (a ``CleanRow`` for a member, else values by column) and its problems by field."""
    if spec is layout.MEMBERS:
        for name in ("joined_on", "date_of_birth"):  # US dates, as CIS exports write them
            if raw.get(name):
                raw[name] = layout.iso_date_text(raw[name].strip())
        row, row_errors = clean_row(line, raw, today)
        errors: Errors = {}
        for error in row_errors:
            errors.setdefault(error.field, []).append(error.message)
        return row, errors
    if spec is layout.AUTHORIZED_PARTIES and raw.get("phone"):
        _split_party_extension(raw)
    values, errors = _clean_columns(spec, raw)
    for cross_check in _CROSS_CHECKS.get(spec.entity, ()):
        cross_check(values, errors)
    return values, errors


class KeyOf:
    """A cleaned row's key (a string; several columns joined with ``|``) and its references' keys."""

    def __init__(self):
        bank_index = crypto.canonical_indexer().for_kind("bank_account")
        self._bank = lambda values: bank_index(
            crypto.cleaned_canonical("bank_account", (values["bank_routing_number"], values["bank_account_number"]))
        )

    def key(self, spec: EntityFile, row: Any) -> str:
        if spec is layout.MEMBERS:
            return row.member["member_number"]
        if spec is layout.BANK_ACCOUNTS:
            return f"{row['member_number']}|{self._bank(row)}"
        if spec is layout.BALANCES:
            return f"{row['account_number']}|{row['as_of'].isoformat()}"
        if len(spec.key) == 1:  # a CIS number, text already
            return str(row[spec.key[0]])
        return "|".join(str(row[name]) for name in spec.key)

    @staticmethod
    def reference(reference: layout.Reference, row: dict[str, Any]) -> str:
        if len(reference.columns) == 1:
            return str(row[reference.columns[0]])
        return "|".join(str(row[name]) for name in reference.columns)


def _raw_key(spec: EntityFile, raw: dict[str, str]) -> str:
    """The key of a row that did not clean, if its key columns do (bank accounts and balances: nothing
    refers to them by key)."""
    if spec in (layout.BANK_ACCOUNTS, layout.BALANCES):
        return ""
    try:
        return "|".join(
            str(_KEY_CLEANERS.get(name, layout.clean_number)((raw.get(name) or "").strip())) for name in spec.key
        )
    except ValidationError:
        return ""


_KEY_CLEANERS: dict[str, Callable[[str], Any]] = {"year": layout.clean_year}


def row_amounts(spec: EntityFile, row: Any) -> dict[str, Decimal]:
    return {name: row[name] for name in spec.sums} if spec.sums else {}


# --- Reading a file ----------------------------------------------------------------------------------


def open_rows(check: FileCheck, problems: list[Problem]) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a file with their line numbers, after its header is checked (a bad header refuses
    the file: reported once, nothing of it read)."""
    spec = check.spec
    with check.path.open(newline="", encoding=check.encoding) as handle:
        reader = csv.DictReader(handle)
        header = [name.strip() for name in (reader.fieldnames or [])]
        unknown = sorted(set(header) - set(spec.names))
        missing = [name for name in spec.required if name not in header]
        if unknown or missing:
            parts = ([f"unknown columns {', '.join(unknown)}"] if unknown else []) + (
                [f"missing columns {', '.join(missing)}"] if missing else []
            )
            problems.append(Problem(spec.filename, 1, "header", "Not this file's layout: " + "; ".join(parts) + "."))
            check.refused = True
            return
        # csv.DictReader's rows, without its per-row Python method (millions of rows at 100,000 members):
        # blank lines skipped, missing cells absent (read as empty), cells past the header refused.
        cells = reader.reader
        width = len(header)
        for values in cells:
            if not values:
                continue
            if len(values) > width:  # more cells than the header names
                problems.append(Problem(spec.filename, cells.line_num, "row", "More cells than the header has."))
                check.bad_lines.add(cells.line_num)
                check.read += 1
                continue
            yield cells.line_num, dict(zip(header, values, strict=False))


# --- Checking the directory --------------------------------------------------------------------------


def existing_keys(entity: str, keys: list[str]) -> set[str]:
    found: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(keys), _CHUNK):
            cursor.execute(_EXISTING_SQL[entity], [keys[start : start + _CHUNK]])
            found.update(row[0] for row in cursor.fetchall())
    return found


@dataclass
class _Pending:
    """Rows whose reference is in no file: looked up in the database once the file is read."""

    lines: dict[str, list[tuple[int, str, dict[str, Decimal]]]] = field(default_factory=dict)


def _resolve(check: FileCheck, plan: Plan, reference: layout.Reference, pending: _Pending) -> None:
    if not pending.lines:
        return
    found = existing_keys(reference.entity, list(pending.lines))
    target = layout.BY_ENTITY[reference.entity]
    for value, rows in pending.lines.items():
        if value in found:
            continue
        for line, key, amounts in rows:
            reason = f"Refers to no row of {target.filename} nor of the database."
            _reject(check, plan, line, key, amounts, reference.columns[-1], reason)


def _reject(check: FileCheck, plan: Plan, line: int, key: str, amounts: dict, field_name: str, reason: str) -> None:
    plan.problems.append(Problem(check.spec.filename, line, field_name, reason))
    if line in check.bad_lines:
        return
    check.bad_lines.add(line)
    if check.keys.get(key) == line:
        del check.keys[key]
        check.rejected[key] = line
    for name, amount in amounts.items():
        check.sums[name] -= amount


def _check_references(
    check: FileCheck, plan: Plan, row: dict[str, Any], line: int, key: str, pending: list[_Pending]
) -> bool:
    """False (and the row reported) when a reference names a row another file rejected."""
    for position, reference in enumerate(check.spec.references):
        value = KeyOf.reference(reference, row)
        if reference.optional and not value:
            continue
        target = plan.files.get(reference.entity)
        if target is not None and value in target.keys:
            continue
        if target is not None and value in target.rejected:
            reason = f"Refers to a row {target.spec.filename} rejects (line {target.rejected[value]})."
            plan.problems.append(Problem(check.spec.filename, line, reference.columns[-1], reason))
            return False
        pending[position].lines.setdefault(value, []).append((line, key, row_amounts(check.spec, row)))
    return True


class Sink(Protocol):
    """What the real run does with the accepted rows: ``rows`` each batch, ``done`` after each file."""

    def rows(self, spec: EntityFile, batch: list[tuple[int, Any]]) -> None: ...

    def done(self, check: FileCheck) -> None: ...


class _FileReader:
    """One file, one pass: rows cleaned and checked, and every ``batch_size`` accepted rows (their
    references to rows of no file looked up in the database first) handed to ``load``, if any."""

    def __init__(self, check: FileCheck, plan: Plan, key_of: KeyOf, sink: Sink | None, batch_size: int):
        self.check, self.plan, self.key_of, self.sink, self.batch_size = check, plan, key_of, sink, batch_size
        self.batch: list[tuple[int, Any]] = []
        self.pending = [_Pending() for _ in check.spec.references]

    def _bad(self, line: int, raw: dict[str, str], errors: Errors) -> None:
        check, spec = self.check, self.check.spec
        self.plan.problems.extend(
            Problem(spec.filename, line, name, message) for name, messages in errors.items() for message in messages
        )
        check.bad_lines.add(line)
        rejected_key = _raw_key(spec, raw)
        if rejected_key and rejected_key not in check.keys:
            check.rejected.setdefault(rejected_key, line)  # rows of other files naming it go with it

    def row(self, line: int, raw: dict[str, str]) -> None:
        check, spec = self.check, self.check.spec
        check.read += 1
        row, errors = clean_entity_row(spec, line, raw, self.plan.today)
        if errors:
            self._bad(line, raw, errors)
            return
        key = self.key_of.key(spec, row)
        if key in check.keys or key in check.rejected:
            first = check.keys.get(key, check.rejected.get(key))
            self.plan.problems.append(
                Problem(spec.filename, line, ",".join(spec.key), f"Repeats the key of line {first}.")
            )
            check.bad_lines.add(line)
            return
        if isinstance(row, CleanRow) or _check_references(check, self.plan, row, line, key, self.pending):
            check.keys[key] = line
            for name, amount in row_amounts(spec, row).items():
                check.sums[name] += amount
            self.batch.append((line, row))
            if len(self.batch) >= self.batch_size:
                self.flush()
        else:
            check.bad_lines.add(line)
            check.rejected[key] = line

    def flush(self) -> None:
        for reference, waiting in zip(self.check.spec.references, self.pending, strict=True):
            _resolve(self.check, self.plan, reference, waiting)
        self.pending = [_Pending() for _ in self.check.spec.references]
        bad = self.check.bad_lines
        accepted = [(line, row) for line, row in self.batch if line not in bad]
        self.batch = []
        if self.sink is not None and accepted:
            self.sink.rows(self.check.spec, accepted)


def check_file(check: FileCheck, plan: Plan, key_of: KeyOf, sink: Sink | None = None, batch_size: int = 5000) -> None:
    reader = _FileReader(check, plan, key_of, sink, batch_size if sink is not None else 50_000)
    check.sums = {name: Decimal(0) for name in check.spec.sums}
    for line, raw in open_rows(check, plan.problems):
        reader.row(line, raw)
    reader.flush()
    if sink is None:  # the real run counts what was there as it loads
        check.present = len(existing_keys(check.spec.entity, list(check.keys))) if check.keys else 0
    else:
        sink.done(check)


def header_problem(check: FileCheck) -> Problem | None:
    """The file's header, checked on its own (the real run checks every file's before anything loads)."""
    problems: list[Problem] = []
    for _ in open_rows(check, problems):
        break
    check.read, check.bad_lines = 0, set()  # the pass that follows reads the file again
    return next((problem for problem in problems if problem.field == "header"), None)


def _open(plan: Plan, encoding: str | None) -> list[FileCheck]:
    """Every file of the layout in the directory, decoded (the encoding decided from all of its bytes)."""
    found = []
    for spec in layout.FILES:
        path = plan.directory / spec.filename
        if not path.is_file():
            continue
        file_check = FileCheck(spec, path)
        plan.files[spec.entity] = file_check
        found.append(file_check)
        try:
            file_check.encoding = detect_encoding(path, encoding)
        except EncodingRefused as exc:
            plan.problems.append(Problem(spec.filename, exc.line, "encoding", str(exc)))
            file_check.refused = True
    return found


def check(directory: Path, *, encoding: str | None = None) -> Plan:
    """Read and check every file of the layout found in ``directory``. Loads nothing."""
    plan = Plan(directory)
    key_of = KeyOf()
    for file_check in _open(plan, encoding):
        if not file_check.refused:
            check_file(file_check, plan, key_of)
    return plan


def check_and_load(
    directory: Path, sink: Sink, *, encoding: str | None = None, batch_size: int = 5000, into: Plan | None = None
) -> Plan:
    """The real run's one pass. First every file is decoded and its header checked: if any cannot be
    read, ``plan.refused`` says so and nothing loads. Then file by file in the layout's order, each batch
    of accepted rows is handed to ``sink`` (a row refers only to files before its own, so what it refers
    to was decided, and loaded, before it). ``into``: the plan to fill (the caller keeps it if a load
    fails part-way)."""
    plan = into or Plan(directory)
    files = _open(plan, encoding)
    for file_check in files:
        if not file_check.refused:
            problem = header_problem(file_check)
            if problem is not None:
                plan.problems.append(problem)
    if plan.refused:
        return plan
    key_of = KeyOf()
    for file_check in files:
        check_file(file_check, plan, key_of, sink, batch_size)
    return plan


def problem_sample(plan: Plan) -> list[dict[str, Any]]:
    return [problem.as_dict() for problem in plan.problems[:_SAMPLE_PROBLEMS]]
