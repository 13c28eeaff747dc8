"""The legacy CIS file's columns: one table saying, for each, which record its value goes to, how it is
cleaned, and when it must be there.

The identifying columns (addresses, phone, email, SSN, TIN, date of birth, licence, passport, alien
registration, bank account, gate code, meter-reading notes) are not listed here: they come from the
declaration of the registry's fields (members/identifiers.py, ``import_column``), with their cleaners.
A field declared there with an import column is read, validated, encrypted and loaded with no change
here. What this module adds is the import's own knowledge: the member's number, kind and status, the
account, premise and meter a row may carry, and when a group of columns is there at all.

A ``Section`` is a group of columns cleaned together; it is open when any of its ``opened_by`` columns
has a value (always, when it names none). In an open section a column is cleaned when it has a value
(``OPTIONAL``), always (``REQUIRED``: the cleaner reports an empty value), or when another column has a
value (``WITH``: a licence's state with its number).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError

from members import identifiers, validation
from members.crypto import nfkc
from members.identifiers import Combine, SensitiveField, ValueType
from members.models import Member

REQUIRED_COLUMNS = ("member_number", "legal_name")


class Record(StrEnum):
    MEMBER = "member"  # clear values of members_member
    MAILING_ADDRESS = "mailing_address"  # the member's mailing address, kept as one tuple
    SECRETS = "secrets"  # the member's encrypted values
    BANK = "bank"  # a bank account on file
    PREMISE = "premise"  # clear values of the premise served
    SERVICE_ADDRESS = "service_address"  # its address, kept as one tuple
    PREMISE_SECRETS = "premise_secrets"  # its encrypted values
    ACCOUNT = "account"  # the covered account
    METER = "meter"


class Presence(StrEnum):
    OPTIONAL = "optional"
    REQUIRED = "required"
    WITH = "with"


@dataclass(frozen=True)
class Column:
    name: str  # the CSV header
    record: Record
    clean: Callable[..., Any]  # stripped text -> value, or ValidationError (message without the value)
    presence: Presence = Presence.OPTIONAL
    key: str = ""  # its name in the record (default: the column's name)
    with_column: str = ""  # for WITH: the column whose value makes this one needed
    takes_today: bool = False  # a date of birth is checked against the import's day

    @property
    def record_key(self) -> str:
        return self.key or self.name


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[Column, ...]
    opened_by: tuple[str, ...] = ()


# --- The import's own cleaners ---------------------------------------------------------------------------

_TRUE = frozenset({"1", "y", "yes", "true", "t"})


def _required(message: str, clean: Callable[[str], Any]) -> Callable[[str], Any]:
    def required(text: str) -> Any:
        if not text:
            raise ValidationError(message)
        return clean(text)

    return required


def _choice(choices: Iterable[str], default: str, message: str) -> Callable[[str], str]:
    allowed = frozenset(choices)

    def choice(text: str) -> str:
        value = text.lower() or default
        if value not in allowed:
            raise ValidationError(message)
        return value

    return choice


def _iso_date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(nfkc(text))
    except ValueError:
        raise ValidationError("Use YYYY-MM-DD.") from None


def _yes(text: str) -> bool:
    return text.lower() in _TRUE


def _number(text: str) -> str:
    return nfkc(text).upper()


def _name(text: str) -> str:
    return " ".join(nfkc(text).split())


def _text(max_length: int | None) -> Callable[[str], str]:
    """For a declared field without a cleaner (free text): NFKC; longer than the model field is reported,
    never cut (nothing is silently changed)."""

    def clean(text: str) -> str:
        value = nfkc(text)
        if max_length is not None and len(value) > max_length:
            raise ValidationError(f"At most {max_length} characters.")
        return value

    return clean


# --- The declared columns ---------------------------------------------------------------------------------


def _may_be_empty(clean: Callable[[str], Any]) -> bool:
    try:
        clean("")
    except ValidationError:
        return False
    return True


def _declared_column(field: SensitiveField, record: Record, presence: Presence, with_column: str = "") -> Column:
    clean = field.import_clean or field.clean
    if clean is None:
        clean = _text(apps.get_model(field.model)._meta.get_field(field.name).max_length)
    return Column(
        field.import_column,
        record,
        clean,
        presence,
        key=field.name,
        with_column=with_column,
        takes_today=field.value_type is ValueType.DATE,
    )


def _companion_of(field: SensitiveField, declared: tuple[SensitiveField, ...]) -> str:
    """For a clear field that a blind index needs together with an encrypted one (a licence's state with
    its number): the encrypted field's import column; else ``""``."""
    index = field.blind_index
    if field.encrypted or index is None or index.combine is not Combine.ALL:
        return ""
    partners = [other for other in declared if other.name in index.required and other.encrypted]
    return partners[0].import_column if partners else ""


def _mailing_address_section(fields: Iterable[SensitiveField]) -> Section:
    """The member's mailing address: every part cleaned as soon as any part that may not be empty is
    given (a second line alone is not an address)."""
    declared = identifiers.fields_of("members.Member", fields)
    parts = [field for field in declared if field.import_column and _in_address(field)]
    columns = tuple(_declared_column(field, Record.MAILING_ADDRESS, Presence.REQUIRED) for field in parts)
    return Section(
        "mailing address", columns, tuple(column.name for column in columns if not _may_be_empty(column.clean))
    )


def _in_address(field: SensitiveField) -> bool:
    return field.index == "address_index"


def _identity_columns(fields: Iterable[SensitiveField]) -> tuple[Column, ...]:
    declared = tuple(
        field
        for field in identifiers.fields_of("members.Member", fields)
        if field.import_column and not _in_address(field)
    )
    columns = []
    for field in declared:
        companion = _companion_of(field, declared)
        record = Record.SECRETS if field.encrypted else Record.MEMBER
        presence = Presence.WITH if companion else Presence.OPTIONAL
        columns.append(_declared_column(field, record, presence, companion))
    return tuple(columns)


def _bank_section(fields: Iterable[SensitiveField]) -> Section:
    declared = [field for field in identifiers.fields_of("members.FinancialAccount", fields) if field.import_column]
    columns = tuple(_declared_column(field, Record.BANK, Presence.REQUIRED) for field in declared)
    return Section("bank account", columns, tuple(column.name for column in columns))


def _account_section(fields: Iterable[SensitiveField]) -> Section:
    premise = [field for field in identifiers.fields_of("accounts.Premise", fields) if field.import_column]
    clear = [
        _declared_column(field, Record.SERVICE_ADDRESS if _in_address(field) else Record.PREMISE, Presence.REQUIRED)
        for field in premise
        if not field.encrypted
    ]
    secret = [
        _declared_column(field, Record.PREMISE_SECRETS, Presence.OPTIONAL) for field in premise if field.encrypted
    ]
    required = Presence.REQUIRED
    columns = (
        Column(
            "account_number",
            Record.ACCOUNT,
            _required("A premise comes with the account served there.", _number),
            required,
        ),
        Column(
            "account_status",
            Record.ACCOUNT,
            _choice(("open", "closed", "suspended"), "open", "Use open, closed or suspended."),
            required,
            key="status",
        ),
        Column("premise_number", Record.PREMISE, _required("An account needs its premise number.", _number), required),
        *clear,
        Column("meter_number", Record.METER, _number),
        Column("has_solar", Record.METER, _yes, required),
        *secret,
        Column("dog_warning", Record.PREMISE, _yes, required),
    )
    return Section("account and premise", columns, ("account_number", "premise_number"))


def build_sections(fields: Iterable[SensitiveField] = identifiers.FIELDS) -> tuple[Section, ...]:
    """The whole column spec, from the declaration ``fields`` (the real one by default)."""
    fields = tuple(fields)
    required = Presence.REQUIRED
    member = Section(
        "member",
        (
            Column(
                "member_number",
                Record.MEMBER,
                _required("This column is required.", validation.clean_member_number),
                required,
            ),
            Column("kind", Record.MEMBER, _choice(Member.Kind.values, "person", "Use person or business."), required),
            Column("legal_name", Record.MEMBER, _required("This column is required.", _name), required),
            Column(
                "status",
                Record.MEMBER,
                _choice(Member.Status.values, "active", "Use applicant, active or former."),
                required,
            ),
            Column("joined_on", Record.MEMBER, _iso_date),
        ),
    )
    identity = Section("identity", (*_identity_columns(fields), Column("employer_name", Record.MEMBER, _text(200))))
    return (
        member,
        _mailing_address_section(fields),
        identity,
        _bank_section(fields),
        _account_section(fields),
    )


def column_names(sections: Iterable[Section]) -> tuple[str, ...]:
    return tuple(column.name for section in sections for column in section.columns)
