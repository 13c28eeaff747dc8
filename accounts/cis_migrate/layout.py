"""The migration layout: one CSV per entity, keyed by the legacy CIS's own numbers (docs/migration.md).

``FILES`` lists them in the order they load (an entity after those it refers to). Each names its key,
its columns with their cleaners, its references to other entities (checked against the other files of
the directory, then against the database) and the amounts the reconciliation adds up. A directory may
hold any subset of the files: what a file refers to must then already be in the database.

Cleaners take stripped text and return the value or raise ``ValidationError`` with a message that never
repeats the value. The normalisations they apply are listed in docs/migration.md ("What the migration
changes"); anything else that does not fit is reported, never adjusted.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from accounts.cis_import.cleaning import SECTIONS
from accounts.cis_import.columns import Record
from accounts.models import Account, Bill, Payment
from members import validation
from members.crypto import nfkc

_US_DATE = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_MONEY = re.compile(r"^[0-9]+(?:\.[0-9]{1,2})?$")
_TRUE, _FALSE = frozenset({"1", "y", "yes", "true", "t"}), frozenset({"", "0", "n", "no", "false", "f"})


def iso_date_text(text: str) -> str:
    """``MM/DD/YYYY`` (also ``M/D/YYYY``) as ``YYYY-MM-DD``; anything else unchanged."""
    if "/" not in text:
        return text
    found = _US_DATE.match(text)
    return f"{found.group(3)}-{int(found.group(1)):02d}-{int(found.group(2)):02d}" if found else text


_fromisoformat = datetime.date.fromisoformat


_date = datetime.date


def clean_date(text: str) -> datetime.date:
    if len(text) == 10 and text[4] == "-" and text[7] == "-" and text.isascii():  # the common case, one call
        try:
            return _fromisoformat(text)
        except ValueError:
            pass
    elif "/" in text and text.isascii():  # M/D/YYYY, as CIS exports write dates: no regular expression
        month, _, rest = text.partition("/")
        day, _, year = rest.partition("/")
        if (
            0 < len(month) <= 2
            and 0 < len(day) <= 2
            and len(year) == 4
            and month.isdigit()
            and day.isdigit()
            and year.isdigit()
        ):
            try:
                return _date(int(year), int(month), int(day))
            except ValueError:
                raise ValidationError("This is not a real date.") from None
    text = iso_date_text(nfkc(text))
    if not _ISO_DATE.match(text):
        raise ValidationError("Use YYYY-MM-DD or MM/DD/YYYY (a four-digit year).")
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValidationError("This is not a real date.") from None


def clean_optional_date(text: str) -> datetime.date | None:
    return clean_date(text) if text else None


def clean_money(text: str) -> Decimal:
    """Dollars and cents: ``1234.56``, ``$1,234.56``, ``-12.00``, ``12.00-`` or ``(12.00)`` (negative).
    More than two decimal places is an error (never rounded)."""
    if _MONEY.match(text):  # the common case: plain dollars and cents
        return Decimal(text)
    value = nfkc(text).replace("$", "").replace(",", "").replace(" ", "")
    negative = value.startswith("-") or value.endswith("-") or (value.startswith("(") and value.endswith(")"))
    digits = value.strip("-()")
    if not _MONEY.match(digits):
        raise ValidationError("Enter an amount in dollars and cents (at most two decimal places).")
    try:
        amount = Decimal(digits)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValidationError("Enter an amount in dollars and cents.") from None
    return -amount if negative else amount


def clean_kwh(text: str) -> Decimal:
    value = nfkc(text).replace(",", "") or "0"
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValidationError("Enter the kWh as a number.") from None
    if amount < 0 or amount.as_tuple().exponent < -3:  # type: ignore[operator]
        raise ValidationError("Enter the kWh as a number of at most three decimal places, not negative.")
    return amount


def clean_year(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) == 4 and "1900" <= text <= "2100"):
        raise ValidationError("Enter a four-digit year.")
    return int(text)


def clean_yes(text: str) -> bool:
    value = text.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValidationError("Use yes or no.")


_PLAIN_NUMBER = re.compile(r"^[A-Z0-9][A-Z0-9\-_./#]{0,29}$")


def clean_number(text: str) -> str:
    """A CIS number (member, account, premise, meter, statement, payment, party, retirement)."""
    if _PLAIN_NUMBER.match(text):  # the common case: upper-case ASCII already
        return text
    value = nfkc(text).upper()
    if not value or len(value) > 30 or any(char.isspace() for char in value):
        raise ValidationError("Enter the CIS number (at most 30 characters, no spaces).")
    return value


def clean_optional_number(text: str) -> str:
    return clean_number(text) if text else ""


def clean_short_number(text: str) -> str:
    """An account or premise number: their columns hold 20 characters."""
    value = clean_number(text)
    if len(value) > 20:
        raise ValidationError("Enter the CIS number (at most 20 characters, no spaces).")
    return value


def clean_optional_short_number(text: str) -> str:
    return clean_short_number(text) if text else ""


def choice(choices, message: str, default: str = "") -> Callable[[str], str]:
    allowed = frozenset(str(value) for value in choices)

    def clean(text: str) -> str:
        value = text.lower() or default
        if value not in allowed:
            raise ValidationError(message)
        return value

    return clean


def text(max_length: int, *, required: bool = False) -> Callable[[str], str]:
    def clean(value: str) -> str:
        result = " ".join(nfkc(value).split())
        if required and not result:
            raise ValidationError("This column is required.")
        if len(result) > max_length:
            raise ValidationError(f"At most {max_length} characters.")
        return result

    return clean


def optional(clean: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda value: clean(value) if value else ""


@dataclass(frozen=True)
class Column:
    name: str
    clean: Callable[[str], Any]
    required: bool = False  # the header must name it (a value is then checked by its cleaner)


@dataclass(frozen=True)
class Reference:
    columns: tuple[str, ...]  # in this file
    entity: str  # the entity they name (its key)
    optional: bool = False  # an empty value refers to nothing


@dataclass(frozen=True)
class EntityFile:
    entity: str
    filename: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    references: tuple[Reference, ...] = ()
    sums: tuple[str, ...] = ()  # amount columns the reconciliation adds up

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)


def _import_columns(*records: Record, required: tuple[str, ...] = ()) -> tuple[Column, ...]:
    """The legacy import's columns (members/identifiers.py's declaration) of the given records."""
    return tuple(
        Column(column.name, column.clean, column.name in required)
        for section in SECTIONS
        for column in section.columns
        if column.record in records
    )


_MEMBER_RECORDS = (Record.MEMBER, Record.MAILING_ADDRESS, Record.SECRETS)
_PREMISE_RECORDS = (Record.SERVICE_ADDRESS, Record.PREMISE_SECRETS)
_PARTY_PHONE = optional(validation.clean_phone)
_PARTY_EMAIL = optional(validation.clean_email)

MEMBERS = EntityFile(
    "members",
    "members.csv",
    ("member_number",),
    _import_columns(*_MEMBER_RECORDS, required=("member_number", "legal_name")),
)
PREMISES = EntityFile(
    "premises",
    "premises.csv",
    ("premise_number",),
    (
        Column("premise_number", clean_short_number, True),
        *_import_columns(
            *_PREMISE_RECORDS, required=("service_line1", "service_city", "service_state", "service_postal_code")
        ),
        Column("dog_warning", clean_yes),
    ),
)
METERS = EntityFile(
    "meters",
    "meters.csv",
    ("meter_number",),
    (
        Column("meter_number", clean_number, True),
        Column("premise_number", clean_short_number, True),
        Column("has_solar", clean_yes),
        Column("installed_on", clean_optional_date),
    ),
    (Reference(("premise_number",), "premises"),),
)
ACCOUNTS = EntityFile(
    "accounts",
    "accounts.csv",
    ("account_number",),
    (
        Column("account_number", clean_short_number, True),
        Column("member_number", clean_number, True),
        Column("premise_number", clean_optional_short_number),
        Column(
            "status",
            choice(
                (Account.Status.OPEN, Account.Status.CLOSED, Account.Status.SUSPENDED),
                "Use open, closed or suspended.",
                "open",
            ),
        ),
        Column("opened_on", clean_optional_date),
        Column("closed_on", clean_optional_date),
    ),
    (Reference(("member_number",), "members"), Reference(("premise_number",), "premises", optional=True)),
)
AUTHORIZED_PARTIES = EntityFile(
    "authorized_parties",
    "authorized_parties.csv",
    ("party_number",),
    (
        Column("party_number", clean_number, True),
        Column("account_number", clean_short_number, True),
        Column("name", text(200, required=True), True),
        Column("relationship", text(100)),
        Column("phone", _PARTY_PHONE),
        Column("phone_extension", validation.clean_phone_extension),
        Column("email", _PARTY_EMAIL),
    ),
    (Reference(("account_number",), "accounts"),),
)
_BANK_COLUMNS = tuple(
    Column(column.name, column.clean, True)
    for section in SECTIONS
    for column in section.columns
    if column.record is Record.BANK
)
BANK_ACCOUNTS = EntityFile(
    "bank_accounts",
    "bank_accounts.csv",
    ("member_number", *(column.name for column in _BANK_COLUMNS)),
    (Column("member_number", clean_number, True), *_BANK_COLUMNS, Column("institution_name", text(200))),
    (Reference(("member_number",), "members"),),
)
BALANCES = EntityFile(
    "balances",
    "balances.csv",
    ("account_number",),
    (
        Column("account_number", clean_short_number, True),
        Column("as_of", clean_date, True),
        Column("balance", clean_money, True),
    ),
    (Reference(("account_number",), "accounts"),),
    sums=("balance",),
)
BILLS = EntityFile(
    "bills",
    "bills.csv",
    ("statement_number",),
    (
        Column("statement_number", clean_number, True),
        Column("account_number", clean_short_number, True),
        Column("period_start", clean_date, True),
        Column("period_end", clean_date, True),
        Column("issued_on", clean_date, True),
        Column("due_on", clean_date, True),
        Column("kwh", clean_kwh),
        Column("amount_due", clean_money, True),
        Column("status", choice(Bill.Status.values, "Use open, paid or void.", "open")),
    ),
    (Reference(("account_number",), "accounts"),),
    sums=("amount_due",),
)
PAYMENTS = EntityFile(
    "payments",
    "payments.csv",
    ("payment_number",),
    (
        Column("payment_number", clean_number, True),
        Column("account_number", clean_short_number, True),
        Column("statement_number", clean_optional_number),
        Column("received_on", clean_date, True),
        Column("amount", clean_money, True),
        Column("method", choice(Payment.Method.values, "Use check, ach, card, cash or other.", "other")),
        Column("reference", text(60)),
        Column("returned", clean_yes),
        Column("returned_on", clean_optional_date),
    ),
    (Reference(("account_number",), "accounts"), Reference(("statement_number",), "bills", optional=True)),
    sums=("amount",),
)
CAPITAL_CREDITS = EntityFile(
    "capital_credits",
    "capital_credits.csv",
    ("member_number", "year"),
    (
        Column("member_number", clean_number, True),
        Column("year", clean_year, True),
        Column("patronage_amount", clean_money),
        Column("allocated_amount", clean_money, True),
        Column("allocated_on", clean_optional_date),
    ),
    (Reference(("member_number",), "members"),),
    sums=("patronage_amount", "allocated_amount"),
)
RETIREMENTS = EntityFile(
    "capital_credit_retirements",
    "capital_credit_retirements.csv",
    ("retirement_number",),
    (
        Column("retirement_number", clean_number, True),
        Column("member_number", clean_number, True),
        Column("year", clean_year, True),
        Column("retired_on", clean_date, True),
        Column("amount", clean_money, True),
    ),
    (Reference(("member_number", "year"), "capital_credits"),),
    sums=("amount",),
)

FILES: tuple[EntityFile, ...] = (
    MEMBERS,
    PREMISES,
    METERS,
    ACCOUNTS,
    AUTHORIZED_PARTIES,
    BANK_ACCOUNTS,
    BALANCES,
    BILLS,
    PAYMENTS,
    CAPITAL_CREDITS,
    RETIREMENTS,
)
BY_ENTITY = {spec.entity: spec for spec in FILES}
