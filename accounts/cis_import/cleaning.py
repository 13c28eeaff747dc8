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
from functools import lru_cache, partial
from operator import itemgetter
from typing import Any, TextIO

from django.core.exceptions import ValidationError

from accounts.cis_import.columns import REQUIRED_COLUMNS, Column, Presence, Record, build_sections, column_names
from members import identifiers, validation
from members.models import Member

SECTIONS = build_sections()
COLUMNS = column_names(SECTIONS)
_MAILING = identifiers.index_named("members.Member", "address_index").sources
_SERVICE = identifiers.index_named("accounts.Premise", "address_index").sources
BANK_FIELDS = tuple(column.key for section in SECTIONS for column in section.columns if column.record is Record.BANK)
_BUSINESS = str(Member.Kind.BUSINESS)


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


# The spec, compiled for the loop below into plain tuples: per section, the columns that open it and per
# column (name, record slot, key in the record, cleaner, needs): ``needs`` is None when the column is
# always cleaned, "" when it is cleaned only with a value, else the column whose value makes it needed.
# A date of birth is checked against the import's day, bound into its cleaner once per day.
_RECORDS = tuple(Record)
_SLOT = {record: slot for slot, record in enumerate(_RECORDS)}
_MEMBER, _MAILING_ADDRESS, _SECRETS, _BANK, _PREMISE, _SERVICE_ADDRESS, _PREMISE_SECRETS, _ACCOUNT, _METER = (
    _SLOT[record] for record in Record
)


def _needs(column: Column) -> str | None:
    if column.presence is Presence.REQUIRED:
        return None
    return column.with_column if column.presence is Presence.WITH else ""


@lru_cache(maxsize=4)
def _compiled(today: datetime.date) -> tuple:
    return tuple(
        (
            section.opened_by,
            tuple(
                (
                    c.name,
                    _SLOT[c.record],
                    c.record_key,
                    partial(c.clean, today=today) if c.takes_today else c.clean,
                    _needs(c),
                )
                for c in section.columns
            ),
        )
        for section in SECTIONS
    )


# What a member's record holds when its column was empty, and which encrypted values are dates.
_MEMBER_DEFAULTS = {
    "phone": "",
    "phone_extension": "",
    "email": "",
    "drivers_licence_state": "",
    "employer_name": "",
    "joined_on": None,
}
# An address (or bank account) as one tuple, in the order of its blind index's sources.
_MAILING_PARTS, _SERVICE_PARTS, _BANK_PARTS = (itemgetter(*parts) for parts in (_MAILING, _SERVICE, BANK_FIELDS))
_NO_ADDRESS = ("",) * len(_MAILING)
_DATES = tuple(c.record_key for section in SECTIONS for c in section.columns if c.takes_today)


def clean_row(line: int, raw: dict[str, str], today: datetime.date) -> tuple[CleanRow | None, list[RowError]]:
    """The row cleaned, or ``None`` and every problem with it (per column, in the file's order)."""
    value = {key: (raw.get(key) or "").strip() for key in COLUMNS}
    errors: dict[str, list[str]] = {}
    if value["phone"]:
        _split_extension(value, errors)
    records: list[dict[str, Any]] = [{} for _ in _RECORDS]
    for opened_by, columns in _compiled(today):
        if opened_by and not any([value[name] for name in opened_by]):
            continue
        for name, slot, key, clean, needs in columns:
            text = value[name]
            if needs is not None and not (value[needs] if needs else text):
                continue
            try:
                records[slot][key] = clean(text)
            except ValidationError as exc:
                errors.setdefault(name, []).extend(exc.messages)
    if value["ssn"] and records[_MEMBER].get("kind") == _BUSINESS:
        errors.setdefault("ssn", []).append("A business is identified by its TIN, not an SSN.")
    if errors:
        return None, [
            RowError(line, field_name, message) for field_name, messages in errors.items() for message in messages
        ]
    return _assemble(line, records), []


def _split_extension(value: dict[str, str], errors: dict[str, list[str]]) -> None:
    """An extension written into the phone column goes to its own field (the E.164 number has no room
    for it, and the phone cleaner would drop it without a word)."""
    number, extension = validation.split_phone_extension(value["phone"])
    if not extension:
        return
    if value["phone_extension"] and value["phone_extension"] != extension:
        errors["phone_extension"] = ["The phone column carries a different extension than this column."]
    value["phone"], value["phone_extension"] = number, extension


def _assemble(line: int, records: list[dict[str, Any]]) -> CleanRow:
    member = {**_MEMBER_DEFAULTS, **records[_MEMBER]}
    mailing, secrets, bank = records[_MAILING_ADDRESS], records[_SECRETS], records[_BANK]
    member["address"] = _MAILING_PARTS(mailing) if mailing else _NO_ADDRESS
    for name in _DATES:  # encrypted as ISO 8601 text
        if name in secrets:
            secrets[name] = secrets[name].isoformat()
    premise = account = meter = None
    if records[_ACCOUNT]:
        premise, account = records[_PREMISE], records[_ACCOUNT]
        premise["address"] = _SERVICE_PARTS(records[_SERVICE_ADDRESS])
        if records[_METER].get("meter_number"):
            meter = records[_METER]
    bank_account = _BANK_PARTS(bank) if bank else None
    return CleanRow(line, member, secrets, bank_account, premise, records[_PREMISE_SECRETS], account, meter)


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
