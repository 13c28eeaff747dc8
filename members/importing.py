"""Bulk import of members (and their bank account, premise, account, meter) from a legacy CIS CSV.

Every row is validated with the same rules as the services (members/validation.py); a bad row is
reported with its line number, field and reason (never its value) and skipped. Good rows are loaded
in batches, each batch one transaction with bulk ``COPY`` inserts, so a failure leaves whole batches
either loaded or not. A re-run is safe: rows whose member number (account, premise, meter number)
already exists are skipped and counted, never duplicated.

Accounts in the file were opened in the legacy system, so they are loaded with their status and no
``account_opening`` signal; each batch writes one ``member.imported`` audit row naming its member-number
range. The Red Flags program can scan imported members for shared indexes afterwards.

The CSV header names the columns (order free; unknown columns are an error, missing optional ones are
empty): see ``COLUMNS``.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TextIO

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from members import crypto, validation
from members.audit import audit_record
from members.fernet_bulk import encrypt_many
from members.models import Member
from members.services import name_search_form

REQUIRED = ("member_number", "legal_name")
COLUMNS = (
    "member_number", "kind", "legal_name", "status", "joined_on",
    "mailing_line1", "mailing_line2", "mailing_city", "mailing_state", "mailing_postal_code",
    "phone", "email", "ssn", "tin", "date_of_birth", "drivers_licence_number", "drivers_licence_state",
    "passport_number", "alien_registration_number", "employer_name",
    "bank_routing_number", "bank_account_number",
    "account_number", "account_status", "premise_number", "service_line1", "service_line2", "service_city",
    "service_state", "service_postal_code", "meter_number", "has_solar", "gate_code", "meter_reading_notes", "dog_warning",
)
_TRUE = {"1", "y", "yes", "true", "t"}
_KINDS = frozenset(Member.Kind.values)
_STATUSES = frozenset(Member.Status.values)
_PERSON, _BUSINESS, _ACTIVE = str(Member.Kind.PERSON), str(Member.Kind.BUSINESS), str(Member.Status.ACTIVE)
_ACCOUNT_STATUSES = {"open", "closed", "suspended"}


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

    @property
    def bad_rows(self) -> int:
        return len({error.line for error in self.errors})


@dataclass
class _Row:
    line: int
    member: dict[str, Any]
    secrets: dict[str, str]
    bank: tuple[str, str] | None
    premise: dict[str, Any] | None
    premise_secrets: dict[str, str]
    account: dict[str, Any] | None
    meter: dict[str, Any] | None


def _clean_row(line: int, raw: dict[str, str], today: datetime.date) -> tuple[_Row | None, list[RowError]]:
    collector = validation.Collector()
    value = {key: (raw.get(key) or "").strip() for key in COLUMNS}
    for key in REQUIRED:
        if not value[key]:
            collector.add(key, "This column is required.")
    number = crypto.nfkc(value["member_number"]).upper()
    if number and (len(number) > 20 or not number.isascii() or not number.replace("-", "").isalnum()):
        collector.add("member_number", "A member number is up to 20 letters and digits.")
    kind = value["kind"].lower() or _PERSON
    if kind not in _KINDS:
        collector.add("kind", "Use person or business.")
    status = value["status"].lower() or _ACTIVE
    if status not in _STATUSES:
        collector.add("status", "Use applicant, active or former.")
    joined_on = None
    if value["joined_on"]:
        try:
            joined_on = datetime.date.fromisoformat(crypto.nfkc(value["joined_on"]))
        except ValueError:
            collector.add("joined_on", "Use YYYY-MM-DD.")
    address = ("", "", "", "", "")
    if any(value[f"mailing_{part}"] for part in ("line1", "city", "state", "postal_code")):
        cleaned = [
            collector.clean("mailing_line1", validation.clean_address_line, value["mailing_line1"]),
            collector.clean("mailing_line2", validation.clean_address_line, value["mailing_line2"], required=False),
            collector.clean("mailing_city", validation.clean_address_line, value["mailing_city"]),
            collector.clean("mailing_state", validation.clean_state, value["mailing_state"]),
            collector.clean("mailing_postal_code", validation.clean_postal_code, value["mailing_postal_code"]),
        ]
        if None not in cleaned:
            address = tuple(cleaned)
    phone = collector.clean("phone", validation.clean_phone, value["phone"]) if value["phone"] else ""
    email = collector.clean("email", validation.clean_email, value["email"]) if value["email"] else ""
    secrets: dict[str, str] = {}
    if value["ssn"]:
        if kind == _BUSINESS:
            collector.add("ssn", "A business is identified by its TIN, not an SSN.")
        ssn = collector.clean("ssn", validation.clean_ssn, value["ssn"])
        if ssn:
            secrets["ssn"] = ssn
    if value["tin"]:
        tin = collector.clean("tin", validation.clean_ein, value["tin"])
        if tin:
            secrets["tin"] = tin
    if value["date_of_birth"]:
        dob = collector.clean("date_of_birth", validation.clean_date_of_birth, value["date_of_birth"], today=today)
        if dob:
            secrets["date_of_birth"] = dob.isoformat()
    licence_state = ""
    if value["drivers_licence_number"]:
        licence = collector.clean("drivers_licence_number", validation.clean_licence_number, value["drivers_licence_number"])
        licence_state = collector.clean("drivers_licence_state", validation.clean_state, value["drivers_licence_state"]) or ""
        if licence:
            secrets["drivers_licence_number"] = licence
    if value["passport_number"]:
        passport = collector.clean("passport_number", validation.clean_passport_number, value["passport_number"])
        if passport:
            secrets["passport_number"] = passport
    if value["alien_registration_number"]:
        alien = collector.clean("alien_registration_number", validation.clean_alien_registration_number,
                                value["alien_registration_number"])
        if alien:
            secrets["alien_registration_number"] = alien
    bank = None
    if value["bank_routing_number"] or value["bank_account_number"]:
        routing = collector.clean("bank_routing_number", validation.clean_routing_number, value["bank_routing_number"])
        account_number = collector.clean("bank_account_number", validation.clean_bank_account_number, value["bank_account_number"])
        if routing and account_number:
            bank = (routing, account_number)
    premise = account = meter = None
    premise_secrets: dict[str, str] = {}
    if value["account_number"] or value["premise_number"]:
        if not value["account_number"]:
            collector.add("account_number", "A premise comes with the account served there.")
        if not value["premise_number"]:
            collector.add("premise_number", "An account needs its premise number.")
        account_status = value["account_status"].lower() or "open"
        if account_status not in _ACCOUNT_STATUSES:
            collector.add("account_status", "Use open, closed or suspended.")
        service = [
            collector.clean("service_line1", validation.clean_address_line, value["service_line1"]),
            collector.clean("service_line2", validation.clean_address_line, value["service_line2"], required=False),
            collector.clean("service_city", validation.clean_address_line, value["service_city"]),
            collector.clean("service_state", validation.clean_state, value["service_state"]),
            collector.clean("service_postal_code", validation.clean_postal_code, value["service_postal_code"]),
        ]
        if None not in service and value["premise_number"] and value["account_number"]:
            premise = {"premise_number": crypto.nfkc(value["premise_number"]).upper(), "address": tuple(service),
                       "dog_warning": value["dog_warning"].lower() in _TRUE}
            if value["gate_code"]:
                premise_secrets["gate_code"] = crypto.nfkc(value["gate_code"])[:40]
            if value["meter_reading_notes"]:
                premise_secrets["meter_reading_notes"] = crypto.nfkc(value["meter_reading_notes"])
            account = {"account_number": crypto.nfkc(value["account_number"]).upper(), "status": account_status}
            if value["meter_number"]:
                meter = {"meter_number": crypto.nfkc(value["meter_number"]).upper(), "has_solar": value["has_solar"].lower() in _TRUE}
    if collector.errors:
        return None, [RowError(line, field_name, message) for field_name, messages in collector.errors.items() for message in messages]
    member = {
        "member_number": number, "kind": kind, "legal_name": " ".join(crypto.nfkc(value["legal_name"]).split()),
        "status": status, "joined_on": joined_on, "address": address, "phone": phone or "", "email": email or "",
        "drivers_licence_state": licence_state, "employer_name": crypto.nfkc(value["employer_name"])[:200],
    }
    return _Row(line, member, secrets, bank, premise, premise_secrets, account, meter), []


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")


def _copy_value(value: Any) -> str:
    kind = type(value)
    if kind is str:
        if _NEEDS_ESCAPE.search(value) is None:
            return value
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    if value is None:
        return "\\N"
    if kind is bytes:
        return "\\\\x" + value.hex()
    if kind is bool:
        return "t" if value else "f"
    return _copy_value(str(value))


def _copy(cursor, table: str, columns: list[str], rows: Iterable[list[Any]]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_copy_value(value) for value in row))
        buffer.write("\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


_MEMBER_COLUMNS = [
    "member_number", "kind", "legal_name", "name_search", "status", "applied_on", "joined_on", "left_on", "retain_until",
    "user_id", "mailing_line1", "mailing_line2", "mailing_city", "mailing_state", "mailing_postal_code", "address_index",
    "phone", "phone_index", "email", "email_index", "ssn", "tin", "date_of_birth", "drivers_licence_number",
    "drivers_licence_state", "passport_number", "alien_registration_number", "employer_name", "tax_id_index",
    "licence_index", "passport_index", "alien_registration_index", "ssn_last4", "credit_notes", "deposit_required",
    "created_at", "updated_at",
]
_SECRET_FIELDS = ("ssn", "tin", "date_of_birth", "drivers_licence_number", "passport_number", "alien_registration_number")


def _existing(cursor, table: str, column: str, values: list[str]) -> dict[str, int]:
    if not values:
        return {}
    cursor.execute(f"SELECT {column}, id FROM {table} WHERE {column} = ANY(%s)", [values])  # noqa: S608 - fixed identifiers
    return dict(cursor.fetchall())


def _load_batch(rows: list[_Row], report: ImportReport, *, actor_label: str, batch_number: int) -> None:
    now = timezone.now()
    key = crypto.primary_fernet_key()
    with transaction.atomic(), connection.cursor() as cursor:
        present = _existing(cursor, "members_member", "member_number", [row.member["member_number"] for row in rows])
        fresh = [row for row in rows if row.member["member_number"] not in present]
        report.members_already_present += len(rows) - len(fresh)

        # Encrypt every secret of the batch in one pass.
        plaintexts: list[bytes] = []
        for row in fresh:
            plaintexts.extend(row.secrets[name].encode() for name in _SECRET_FIELDS if name in row.secrets)
            if row.bank:
                plaintexts.extend([row.bank[0].encode(), row.bank[1].encode()])
            plaintexts.extend(row.premise_secrets[name].encode() for name in ("gate_code", "meter_reading_notes")
                              if name in row.premise_secrets)
        tokens = iter(encrypt_many(key, plaintexts))

        member_rows, bank_rows, premise_rows, account_rows = [], [], [], []
        for row in fresh:
            m, s = row.member, row.secrets
            encrypted = {name: next(tokens) if name in s else None for name in _SECRET_FIELDS}
            tax_id = s.get("ssn") or s.get("tin")
            licence_index = crypto.blind_index("licence", (s["drivers_licence_number"], m["drivers_licence_state"])) \
                if "drivers_licence_number" in s and m["drivers_licence_state"] else ""
            address_index = crypto.blind_index("address", m["address"]) if m["address"][0] else ""
            member_rows.append([
                m["member_number"], m["kind"], m["legal_name"], name_search_form(m["legal_name"]), m["status"],
                m["joined_on"], m["joined_on"] if m["status"] != Member.Status.APPLICANT else None, None, None, None,
                *m["address"], address_index,
                m["phone"], crypto.blind_index("phone", m["phone"]) if m["phone"] else "",
                m["email"], crypto.blind_index("email", m["email"]) if m["email"] else "",
                encrypted["ssn"], encrypted["tin"], encrypted["date_of_birth"], encrypted["drivers_licence_number"],
                m["drivers_licence_state"], encrypted["passport_number"], encrypted["alien_registration_number"],
                m["employer_name"],
                crypto.blind_index("ssn" if "ssn" in s else "tin", tax_id) if tax_id else "",
                licence_index,
                crypto.blind_index("passport", s["passport_number"]) if "passport_number" in s else "",
                crypto.blind_index("alien_registration", s["alien_registration_number"]) if "alien_registration_number" in s else "",
                tax_id[-4:] if tax_id else "", None, Decimal(0), now, now,
            ])
            if row.bank:
                routing_token, account_token = next(tokens), next(tokens)
                bank_rows.append((row, routing_token, account_token))
            if row.premise:
                premise_rows.append((row, {name: next(tokens) for name in ("gate_code", "meter_reading_notes")
                                           if name in row.premise_secrets}))
        _copy(cursor, "members_member", _MEMBER_COLUMNS, member_rows)
        ids = _existing(cursor, "members_member", "member_number", [row.member["member_number"] for row in fresh])
        report.members_loaded += len(fresh)

        if bank_rows:
            _copy(cursor, "members_financialaccount",
                  ["member_id", "kind", "institution_name", "routing_number", "account_number", "card_token", "last4",
                   "bank_account_index", "is_active", "added_at", "removed_at"],
                  [[ids[row.member["member_number"]], "bank", "", routing_token, account_token, None, row.bank[1][-4:],
                    crypto.blind_index("bank_account", row.bank), True, now, None]
                   for row, routing_token, account_token in bank_rows])
            report.bank_accounts_loaded += len(bank_rows)

        if premise_rows:
            numbers = [row.premise["premise_number"] for row, _ in premise_rows]
            present_premises = _existing(cursor, "accounts_premise", "premise_number", numbers)
            new_premises, seen = [], set(present_premises)
            for row, premise_tokens in premise_rows:
                number = row.premise["premise_number"]
                if number in seen:
                    continue
                seen.add(number)
                new_premises.append([number, *row.premise["address"], crypto.blind_index("address", row.premise["address"]),
                                     premise_tokens.get("meter_reading_notes"), premise_tokens.get("gate_code"),
                                     row.premise["dog_warning"], now, now])
            _copy(cursor, "accounts_premise",
                  ["premise_number", "service_line1", "service_line2", "service_city", "service_state", "service_postal_code",
                   "address_index", "meter_reading_notes", "gate_code", "dog_warning", "created_at", "updated_at"], new_premises)
            report.premises_loaded += len(new_premises)
            premise_ids = _existing(cursor, "accounts_premise", "premise_number", numbers)

            present_accounts = _existing(cursor, "accounts_account", "account_number",
                                         [row.account["account_number"] for row, _ in premise_rows])
            seen_accounts = set(present_accounts)
            for row, _ in premise_rows:
                number = row.account["account_number"]
                if number in seen_accounts:
                    continue
                seen_accounts.add(number)
                status = row.account["status"]
                opened_at = datetime.datetime.combine(row.member["joined_on"] or now.date(), datetime.time(12), tzinfo=datetime.UTC)
                account_rows.append([number, ids[row.member["member_number"]], premise_ids[row.premise["premise_number"]], status,
                                     "imported from the legacy CIS", opened_at, now if status == "closed" else None,
                                     now if status == "suspended" else None, False, False, None, now, now])
            _copy(cursor, "accounts_account",
                  ["account_number", "member_id", "premise_id", "status", "status_reason", "opened_at", "closed_at",
                   "suspended_at", "red_flag_warning", "on_hold", "opened_by_id", "created_at", "updated_at"], account_rows)
            report.accounts_loaded += len(account_rows)

            meters = [(row.meter, premise_ids[row.premise["premise_number"]]) for row, _ in premise_rows if row.meter]
            present_meters = _existing(cursor, "accounts_meter", "meter_number", [meter["meter_number"] for meter, _ in meters])
            seen_meters, meter_rows = set(present_meters), []
            for meter, premise_id in meters:
                if meter["meter_number"] in seen_meters:
                    continue
                seen_meters.add(meter["meter_number"])
                meter_rows.append([meter["meter_number"], premise_id, meter["has_solar"], None, None])
            _copy(cursor, "accounts_meter", ["meter_number", "premise_id", "has_solar", "installed_on", "removed_on"], meter_rows)
            report.meters_loaded += len(meter_rows)

        report.batches += 1
        if not fresh:
            return  # a re-run of rows already loaded changes nothing, so it leaves no audit row either
        audit_record(actor=None, actor_label=actor_label, action="member.imported", object_type="members.member",
                     fields=sorted({name for row in fresh for name in row.secrets} | {"member_number", "legal_name"}),
                     detail={"batch": batch_number, "rows": len(rows), "loaded": len(fresh),
                             "already_present": len(rows) - len(fresh),
                             "first_member_number": fresh[0].member["member_number"] if fresh else "",
                             "last_member_number": fresh[-1].member["member_number"] if fresh else ""})


def _rows(handle: TextIO, report: ImportReport) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(handle)
    header = [name.strip() for name in (reader.fieldnames or [])]
    unknown = sorted(set(header) - set(COLUMNS))
    missing = [name for name in REQUIRED if name not in header]
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


def import_members(handle: TextIO, *, batch_size: int = 2000, actor_label: str = "import:cis",
                   on_batch=None) -> ImportReport:
    """Validate every row, load the good ones batch by batch. Returns the report (bad rows inside)."""
    report = ImportReport()
    today = timezone.localdate()
    batch: list[_Row] = []
    seen: dict[str, int] = {}
    seen_accounts: dict[str, int] = {}
    for line, raw in _rows(handle, report):
        row, errors = _clean_row(line, raw, today)
        if row is not None:
            number = row.member["member_number"]
            if number in seen:
                errors = [RowError(line, "member_number", f"Duplicate of the member on line {seen[number]}.")]
                row = None
            elif row.account and row.account["account_number"] in seen_accounts:
                errors = [RowError(line, "account_number", f"Duplicate of the account on line {seen_accounts[row.account['account_number']]}.")]
                row = None
            else:
                seen[number] = line
                if row.account:
                    seen_accounts[row.account["account_number"]] = line
        if errors:
            report.errors.extend(errors)
            continue
        batch.append(row)
        if len(batch) >= batch_size:
            _load_batch(batch, report, actor_label=actor_label, batch_number=report.batches + 1)
            batch = []
            if on_batch:
                on_batch(report)
    if batch:
        _load_batch(batch, report, actor_label=actor_label, batch_number=report.batches + 1)
        if on_batch:
            on_batch(report)
    return report
