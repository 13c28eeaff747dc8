"""Reading and validating a legacy CIS file, row by row, by the column spec (accounts.cis_import.columns).

Every row is validated with the same rules as the services (members/validation.py, through the
declaration of the registry's fields); a bad row is reported with its line number, field and reason
(never its value) and skipped. This runs in the importing process for every row of the file, ahead of
the workers that load the batches, so the loop below is kept flat: the spec is compiled once into
tuples, and a column without a value costs a dictionary lookup and a comparison.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from django.core.exceptions import ValidationError

from accounts.cis_import.columns import REQUIRED_COLUMNS, Presence, Record, build_sections, column_names
from members import identifiers, validation
from members.models import Member

SECTIONS = build_sections()
COLUMNS = column_names(SECTIONS)
_MAILING = identifiers.index_named("members.Member", "address_index").sources
_SERVICE = identifiers.index_named("accounts.Premise", "address_index").sources
BANK_FIELDS = tuple(column.key for section in SECTIONS for column in section.columns if column.record is Record.BANK)
_BUSINESS = str(Member.Kind.BUSINESS)
_OPTIONAL, _WITH = Presence.OPTIONAL, Presence.WITH


@dataclass
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ImportReport:
    rows_read: int = 0
    members_loaded: int = 0
    members_already_present: int = 0
    accounts_loaded: int = 0
    premises_loaded: int = 0
    meters_loaded: int = 0
    bank_accounts_loaded: int = 0
    batches: int = 0
    errors: list[RowError] = field(default_factory=list)
    member_ids: list[int] = field(default_factory=list)  # of the members this import loaded

    @property
    def bad_rows(self) -> int:
        return len({error.line for error in self.errors})

    def merge(self, partial: ImportReport) -> None:
        """Add the counts of a batch loaded elsewhere (a worker process)."""
        for name in (
            "members_loaded",
            "members_already_present",
            "accounts_loaded",
            "premises_loaded",
            "meters_loaded",
            "bank_accounts_loaded",
            "batches",
        ):
            setattr(self, name, getattr(self, name) + getattr(partial, name))
        self.member_ids.extend(partial.member_ids)


@dataclass
class CleanRow:
    """One valid row: the member's clear values (its mailing address as one tuple), its encrypted values,
    and the bank account, premise, account and meter the row carries, if any."""

    line: int
    member: dict[str, Any]
    secrets: dict[str, str]
    bank: tuple[str, ...] | None
    premise: dict[str, Any] | None
    premise_secrets: dict[str, str]
    account: dict[str, Any] | None
    meter: dict[str, Any] | None


# The spec, compiled: (opened_by, ((name, record, key, clean, presence, with_column, takes_today), ...)).
_COMPILED = tuple(
    (
        section.opened_by,
        tuple(
            (c.name, c.record, c.record_key, c.clean, c.presence, c.with_column, c.takes_today) for c in section.columns
        ),
    )
    for section in SECTIONS
)


def clean_row(line: int, raw: dict[str, str], today: datetime.date) -> tuple[CleanRow | None, list[RowError]]:
    """The row cleaned, or ``None`` and every problem with it."""
    value = {key: (raw.get(key) or "").strip() for key in COLUMNS}
    collector = validation.Collector()
    records: dict[Record, dict[str, Any]] = {record: {} for record in Record}
    for opened_by, columns in _COMPILED:
        if opened_by and not any(value[name] for name in opened_by):
            continue
        for name, record, key, clean, presence, with_column, takes_today in columns:
            text = value[name]
            if presence is _WITH:
                if not value[with_column]:
                    continue
            elif not text and presence is _OPTIONAL:
                continue
            if takes_today:
                cleaned = collector.clean(name, clean, text, today=today)
            else:
                cleaned = collector.clean(name, clean, text)
            if cleaned is not None:
                records[record][key] = cleaned
    if value["ssn"] and records[Record.MEMBER].get("kind") == _BUSINESS:
        collector.add("ssn", "A business is identified by its TIN, not an SSN.")
    if collector.errors:
        return None, [
            RowError(line, field_name, message)
            for field_name, messages in collector.errors.items()
            for message in messages
        ]
    return _assemble(line, records), []


def _assemble(line: int, records: dict[Record, dict[str, Any]]) -> CleanRow:
    member = records[Record.MEMBER]
    member["address"] = tuple(member.pop(part, "") for part in _MAILING)
    for name in ("phone", "email", "drivers_licence_state", "employer_name"):
        member.setdefault(name, "")
    member.setdefault("joined_on", None)
    secrets = {name: _as_text(cleaned) for name, cleaned in records[Record.SECRETS].items()}
    bank = tuple(records[Record.BANK][name] for name in BANK_FIELDS) if records[Record.BANK] else None
    premise = account = meter = None
    premise_secrets: dict[str, str] = {}
    if records[Record.ACCOUNT]:
        premise = records[Record.PREMISE]
        premise["address"] = tuple(premise.pop(part, "") for part in _SERVICE)
        premise_secrets = records[Record.PREMISE_SECRETS]
        account = records[Record.ACCOUNT]
        if records[Record.METER].get("meter_number"):
            meter = records[Record.METER]
    return CleanRow(line, member, secrets, bank, premise, premise_secrets, account, meter)


def _as_text(cleaned: Any) -> str:
    return cleaned.isoformat() if isinstance(cleaned, datetime.date) else cleaned


def read_rows(handle: TextIO, report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    """The file's rows with their line numbers, after checking its header names legacy CIS columns."""
    reader = csv.DictReader(handle)
    header = [name.strip() for name in (reader.fieldnames or [])]
    unknown = sorted(set(header) - set(COLUMNS))
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(f"unknown columns: {', '.join(unknown)}")
        if missing:
            problems.append(f"missing required columns: {', '.join(missing)}")
        raise ValidationError("The CSV header is not a legacy CIS export: " + "; ".join(problems))
    reader.fieldnames = header
    for raw in reader:
        report.rows_read += 1
        yield reader.line_num, raw
