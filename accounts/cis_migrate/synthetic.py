"""A synthetic co-op in the migration layout, with the messiness of real CIS exports (docs/migration.md).

Deterministic: the same ``members`` and ``prefix`` give the same files. What it mixes in, all of which
must load (and be stored without mojibake or silent change): names with accents and apostrophes, PO boxes
and rural routes, ZIP+4, SSNs with leading zeros and without dashes, US-format dates, amounts written
``$1,234.56``, phone extensions, Windows line endings, a UTF-8 byte-order mark (members.csv), a
Windows-1252 file (premises.csv), and members with two or three accounts (130 accounts per 100
members). With ``rejects=True`` it adds rows that must be reported and not loaded: never-issued and
placeholder SSNs, an impossible date, an account of an unknown member.

SSNs are built from areas 001-665, groups and serials that no placeholder rule matches; none belongs to
a real person by construction (fake but valid-looking, like accounts.cis_import.synthetic).
"""

from __future__ import annotations

import csv
import datetime
from decimal import Decimal
from pathlib import Path

from accounts.cis_migrate import layout

_FIRST = ("José", "Zoë", "Ngozi", "Seán", "Renée", "Björn", "Anaïs", "Mary-Kate", "Siobhán", "Chloé", "Ana", "Jean-Luc")
_LAST = ("O'Brien", "Núñez", "D'Angelo", "Müller", "García", "Nguyen", "McAllister", "Østergaard", "Côté", "Smith")
_STREETS = ("Main St", "N Oak Ave", "County Road 1850 N", "W Elm St", "Cañon Rd", "S Church St", "Cedar Ct", "Mill Rd")
_CITIES = (("Springfield", "62701"), ("Decatur", "62521"), ("Peoria", "61602"), ("Carlinville", "62626"))
_AREA_CODES = ("217", "309", "618", "815", "630", "708", "773", "312", "847", "224", "331", "779")
_METHODS = ("check", "ach", "card", "cash")
_HOUSES = 9973  # prime: (house, street, city) is unique for every member number below 319,136
_START = datetime.date(2023, 1, 1)
_WINDOWS_1252_FILES = ("premises.csv",)


def _us(day: datetime.date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def _money(amount: Decimal, index: int) -> str:
    return f"${amount:,.2f}" if index % 5 == 0 else f"{amount:.2f}"


def _month(start: datetime.date, months: int) -> datetime.date:
    total = start.month - 1 + months
    return datetime.date(start.year + total // 12, total % 12 + 1, 1)


class _Writers:
    """One ``csv.writer`` per file of the layout, each with its encoding and Windows line endings."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self.handles, self.writers = {}, {}
        for spec in layout.FILES:
            encoding = "cp1252" if spec.filename in _WINDOWS_1252_FILES else "utf-8"
            if spec is layout.MEMBERS:
                encoding = "utf-8-sig"
            handle = (directory / spec.filename).open("w", encoding=encoding, newline="")
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(_HEADERS[spec.entity])
            self.handles[spec.entity], self.writers[spec.entity] = handle, writer

    def row(self, entity: str, values: list) -> None:
        self.writers[entity].writerow(values)

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()


_HEADERS = {
    "members": [
        "member_number",
        "kind",
        "legal_name",
        "status",
        "joined_on",
        "mailing_line1",
        "mailing_line2",
        "mailing_city",
        "mailing_state",
        "mailing_postal_code",
        "phone",
        "email",
        "ssn",
        "tin",
        "date_of_birth",
        "drivers_licence_number",
        "drivers_licence_state",
    ],
    "premises": [
        "premise_number",
        "service_line1",
        "service_city",
        "service_state",
        "service_postal_code",
        "gate_code",
        "dog_warning",
    ],
    "meters": ["meter_number", "premise_number", "has_solar", "installed_on"],
    "accounts": ["account_number", "member_number", "premise_number", "status", "opened_on", "closed_on"],
    "authorized_parties": ["party_number", "account_number", "name", "relationship", "phone", "email"],
    "bank_accounts": ["member_number", "bank_routing_number", "bank_account_number", "institution_name"],
    "balances": ["account_number", "as_of", "balance"],
    "bills": [
        "statement_number",
        "account_number",
        "period_start",
        "period_end",
        "issued_on",
        "due_on",
        "kwh",
        "amount_due",
        "status",
    ],
    "payments": [
        "payment_number",
        "account_number",
        "statement_number",
        "received_on",
        "amount",
        "method",
        "reference",
        "returned",
    ],
    "capital_credits": ["member_number", "year", "patronage_amount", "allocated_amount", "allocated_on"],
    "capital_credit_retirements": ["retirement_number", "member_number", "year", "retired_on", "amount"],
}


def _ssn(index: int) -> str:
    area, group, serial = 1 + index % 665, 1 + index // 665 % 99, 1001 + index // 65835 % 8998
    return f"{area:03d}{group:02d}{serial:04d}" if index % 7 == 0 else f"{area:03d}-{group:02d}-{serial:04d}"


def _mailing(index: int) -> list[str]:
    city, postal = _CITIES[index // (_HOUSES * len(_STREETS)) % len(_CITIES)]
    zip_code = f"{postal}-{1000 + index % 9000}" if index % 4 == 0 else postal
    if index % 13 == 0:
        return [f"PO Box {1 + index % _HOUSES}", "", city, "IL", zip_code]
    if index % 17 == 0:
        return [f"RR {1 + index % 9} Box {index % _HOUSES}", "", city, "IL", zip_code]
    care_of = f"c/o {_FIRST[(index + 1) % len(_FIRST)]} {_LAST[index % len(_LAST)]}" if index % 6 == 0 else ""
    return [f"{1 + index % _HOUSES} {_STREETS[index // _HOUSES % len(_STREETS)]}", care_of, city, "IL", zip_code]


def _member(index: int, prefix: str) -> list[str]:
    business = index % 40 == 0
    name = (
        f"{_LAST[index % 10]} Farms {index} LLC"
        if business
        else f"{_FIRST[index % 12]} {_LAST[index // 12 % 10]} {index}"
    )
    joined = datetime.date(1990, 1, 1) + datetime.timedelta(days=index % 11000)
    birth = datetime.date(1940, 1, 1) + datetime.timedelta(days=index * 37 % 20000)
    phone = f"({_AREA_CODES[index // 10000 % 12]}) 555-{index % 10000:04d}"
    if index % 9 == 0:
        phone += f" ext. {100 + index % 900}"
    return [
        f"{prefix}{index:07d}",
        "business" if business else "person",
        name,
        "active",
        _us(joined) if index % 2 else joined.isoformat(),
        *_mailing(index),
        phone,
        f"member{index}@example.test",
        "" if business else _ssn(index),
        f"{(12, 20, 30, 41)[index % 4]:02d}-{index % 10_000_000:07d}" if business else "",
        "" if business else (_us(birth) if index % 3 else birth.isoformat()),
        "" if business else f"D{index:011d}",
        "" if business else "IL",
    ]


def _accounts_of(index: int) -> int:
    """1, 2 or 3 accounts: exactly 130 per 100 members (home; barn or well pump; shop)."""
    if index % 20 == 0:
        return 3
    return 2 if index % 10 in (1, 2) else 1


def write_coop(directory: Path, *, members: int, months: int = 24, prefix: str = "C", rejects: bool = False) -> dict:
    """Write the co-op's files into ``directory``; returns the rows written per entity."""
    writers = _Writers(directory)
    written = dict.fromkeys(_HEADERS, 0)
    try:
        for index in range(members):
            _write_member(writers, written, index, prefix, months)
        if rejects:
            _write_rejects(writers, written, members, prefix)
    finally:
        writers.close()
    return written


def _emit(writers: _Writers, written: dict, entity: str, values: list) -> None:
    writers.row(entity, values)
    written[entity] += 1


def _write_member(writers: _Writers, written: dict, index: int, prefix: str, months: int) -> None:
    number = f"{prefix}{index:07d}"
    _emit(writers, written, "members", _member(index, prefix))
    if index % 3 == 0:
        _emit(writers, written, "bank_accounts", [number, "011000015", f"{index:010d}", "First Prairie Bank"])
    for year in (2021, 2022, 2023):
        allocated = Decimal(10 + (index * 7 + year) % 90) + Decimal(index % 100) / 100
        _emit(
            writers,
            written,
            "capital_credits",
            [number, year, f"{allocated * 3:.2f}", _money(allocated, index), f"{year + 1}-03-31"],
        )
        if year == 2021 and index % 4 == 0:
            _emit(
                writers,
                written,
                "capital_credit_retirements",
                [f"R{number}{year}", number, year, "12/15/2024", f"{allocated / 2:.2f}"],
            )
    for position in range(_accounts_of(index)):
        _write_account(writers, written, index, position, number, months)


def _write_account(writers: _Writers, written: dict, index: int, position: int, member: str, months: int) -> None:
    account, premise = f"A{member}{position}", f"P{member}{position}"
    city, postal = _CITIES[index // (_HOUSES * len(_STREETS)) % len(_CITIES)]
    street = _STREETS[(index + position) % len(_STREETS)]
    gate = f"{index % 10000:04d}#" if index % 7 == 0 else ""
    _emit(
        writers,
        written,
        "premises",
        [premise, f"{1 + index % _HOUSES} {street}", city, "IL", postal, gate, "yes" if index % 11 == 0 else "no"],
    )
    _emit(writers, written, "meters", [f"M{member}{position}", premise, "yes" if index % 10 == 0 else "no", "6/1/2015"])
    opened = datetime.date(2000, 1, 1) + datetime.timedelta(days=index % 8000)
    _emit(writers, written, "accounts", [account, member, premise, "open", _us(opened), ""])
    if (index + position) % 5 == 0:
        party = f"Renée O'Neil {index}"
        _emit(
            writers,
            written,
            "authorized_parties",
            [f"AP{member}{position}", account, party, "spouse", "(217) 555-0140 x22", ""],
        )
    balance = Decimal(0)
    for month in range(months):
        start = _month(_START, month)
        end = _month(_START, month + 1) - datetime.timedelta(days=1)
        amount = Decimal(40 + (index * 13 + month * 7 + position) % 260) + Decimal((index + month) % 100) / 100
        statement = f"S{member}{position}{month:03d}"
        issued, due = end + datetime.timedelta(days=3), end + datetime.timedelta(days=24)
        dates = (
            [_us(start), _us(end), _us(issued), _us(due)]
            if month % 2
            else [d.isoformat() for d in (start, end, issued, due)]
        )
        _emit(
            writers,
            written,
            "bills",
            [statement, account, *dates, f"{(amount * 8):.3f}", _money(amount, month), "paid"],
        )
        paid = amount if (index + month) % 6 else (amount / 2).quantize(Decimal("0.01"))
        balance += amount - paid
        method = _METHODS[(index + month) % 4]
        _emit(
            writers,
            written,
            "payments",
            [
                f"Y{member}{position}{month:03d}",
                account,
                statement,
                _us(due - datetime.timedelta(days=5)),
                _money(paid, index),
                method,
                f"chk {month}" if method == "check" else "",
                "no",
            ],
        )
    _emit(writers, written, "balances", [account, _us(_month(_START, months)), f"{balance:.2f}"])


def _write_rejects(writers: _Writers, written: dict, members: int, prefix: str) -> None:
    """Rows the check must report (and the load skip): the SSNs no member has, an impossible date, an
    account of a member nobody exported."""
    bad_ssns = ("000-12-3456", "666-12-3456", "912-34-5678", "111-11-1111", "123-45-6789", "078-05-1120")
    for offset, ssn in enumerate(bad_ssns):
        row = _member(members + offset, prefix)
        row[12] = ssn
        _emit(writers, written, "members", row)
    row = _member(members + len(bad_ssns), prefix)
    row[14] = "2/30/1970"
    _emit(writers, written, "members", row)
    _emit(writers, written, "accounts", [f"A{prefix}NOBODY", f"{prefix}9999999", "", "open", "", ""])
