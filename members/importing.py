"""Bulk import of members (and their bank account, premise, account, meter) from a legacy CIS CSV.

Every row is validated with the same rules as the services (members/validation.py); a bad row is
reported with its line number, field and reason (never its value) and skipped. Good rows are loaded
in batches, each batch one transaction with bulk ``COPY`` inserts, so a failure leaves whole batches
either loaded or not. A re-run is safe: rows whose member number (account, premise, meter number)
already exists are skipped and counted, never duplicated.

Accounts in the file were opened in the legacy system, so they are loaded with their status and no
``account_opening`` signal; each batch writes one ``member.imported`` audit row naming its member-number
range. ``manage.py import_members`` then runs ``redflags_scan_shared_ids`` (Red Flag B5 over the
whole registry).

The CSV header names the columns (order free; unknown columns are an error, missing optional ones are
empty): see ``COLUMNS``.
"""

from __future__ import annotations

import csv
import datetime
import gc
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
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
    "passport_number",
    "alien_registration_number",
    "employer_name",
    "bank_routing_number",
    "bank_account_number",
    "account_number",
    "account_status",
    "premise_number",
    "service_line1",
    "service_line2",
    "service_city",
    "service_state",
    "service_postal_code",
    "meter_number",
    "has_solar",
    "gate_code",
    "meter_reading_notes",
    "dog_warning",
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
    number = (
        collector.clean("member_number", validation.clean_member_number, value["member_number"])
        if value["member_number"]
        else ""
    )
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
        licence = collector.clean(
            "drivers_licence_number", validation.clean_licence_number, value["drivers_licence_number"]
        )
        licence_state = (
            collector.clean("drivers_licence_state", validation.clean_state, value["drivers_licence_state"]) or ""
        )
        if licence:
            secrets["drivers_licence_number"] = licence
    if value["passport_number"]:
        passport = collector.clean("passport_number", validation.clean_passport_number, value["passport_number"])
        if passport:
            secrets["passport_number"] = passport
    if value["alien_registration_number"]:
        alien = collector.clean(
            "alien_registration_number", validation.clean_alien_registration_number, value["alien_registration_number"]
        )
        if alien:
            secrets["alien_registration_number"] = alien
    bank = None
    if value["bank_routing_number"] or value["bank_account_number"]:
        routing = collector.clean("bank_routing_number", validation.clean_routing_number, value["bank_routing_number"])
        account_number = collector.clean(
            "bank_account_number", validation.clean_bank_account_number, value["bank_account_number"]
        )
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
            premise = {
                "premise_number": crypto.nfkc(value["premise_number"]).upper(),
                "address": tuple(service),
                "dog_warning": value["dog_warning"].lower() in _TRUE,
            }
            if value["gate_code"]:
                premise_secrets["gate_code"] = crypto.nfkc(value["gate_code"])[:40]
            if value["meter_reading_notes"]:
                premise_secrets["meter_reading_notes"] = crypto.nfkc(value["meter_reading_notes"])
            account = {"account_number": crypto.nfkc(value["account_number"]).upper(), "status": account_status}
            if value["meter_number"]:
                meter = {
                    "meter_number": crypto.nfkc(value["meter_number"]).upper(),
                    "has_solar": value["has_solar"].lower() in _TRUE,
                }
    if collector.errors:
        return None, [
            RowError(line, field_name, message)
            for field_name, messages in collector.errors.items()
            for message in messages
        ]
    member = {
        "member_number": number,
        "kind": kind,
        "legal_name": " ".join(crypto.nfkc(value["legal_name"]).split()),
        "status": status,
        "joined_on": joined_on,
        "address": address,
        "phone": phone or "",
        "email": email or "",
        "drivers_licence_state": licence_state,
        "employer_name": crypto.nfkc(value["employer_name"])[:200],
    }
    return _Row(line, member, secrets, bank, premise, premise_secrets, account, meter), []


def _copy(
    cursor, table: str, columns: list[str], rows: Iterable[list[Any]], nullable: frozenset[str] = frozenset()
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


def _insert_new(
    cursor, table: str, key: str, columns: list[str], rows: list[list[Any]], nullable: frozenset[str]
) -> dict[str, int]:
    """Insert the rows whose ``key`` is not in ``table`` yet, skip the others; returns ``{key: id}`` of
    those inserted.

    For premises and meters, which several members' rows may share: another batch may be inserting the
    same number at this moment (in a parallel worker) or an earlier import did. The rows go through a
    temporary table and ``INSERT ... ON CONFLICT DO NOTHING``, which waits for the other batch to commit
    and then skips the row; keys go in sorted order so two batches waiting on each other cannot
    deadlock. Members and accounts need none of this: the file is de-duplicated on their numbers before
    any batch is loaded.
    """
    if not rows:
        return {}
    staging = f"mg_import_{table}"
    names = ", ".join(columns)
    cursor.execute(f"CREATE TEMPORARY TABLE {staging} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA")  # noqa: S608 - fixed identifiers
    _copy(cursor, staging, columns, rows, nullable)
    cursor.execute(
        f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} ORDER BY {key} "  # noqa: S608 - fixed identifiers
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}, id"
    )
    inserted = dict(cursor.fetchall())
    cursor.execute(f"DROP TABLE {staging}")
    return inserted


_MEMBER_COLUMNS = [
    "member_number",
    "kind",
    "legal_name",
    "name_search",
    "status",
    "applied_on",
    "joined_on",
    "left_on",
    "retain_until",
    "user_id",
    "mailing_line1",
    "mailing_line2",
    "mailing_city",
    "mailing_state",
    "mailing_postal_code",
    "address_index",
    "phone",
    "phone_index",
    "email",
    "email_index",
    "ssn",
    "tin",
    "date_of_birth",
    "drivers_licence_number",
    "drivers_licence_state",
    "passport_number",
    "alien_registration_number",
    "employer_name",
    "tax_id_index",
    "licence_index",
    "passport_index",
    "alien_registration_index",
    "ssn_last4",
    "credit_notes",
    "deposit_required",
    "created_at",
    "updated_at",
]
_MEMBER_NULLABLE = frozenset(
    {
        "applied_on",
        "joined_on",
        "left_on",
        "retain_until",
        "user_id",
        "ssn",
        "tin",
        "date_of_birth",
        "drivers_licence_number",
        "passport_number",
        "alien_registration_number",
        "credit_notes",
    }
)
_BANK_COLUMNS = [
    "member_id",
    "kind",
    "institution_name",
    "routing_number",
    "account_number",
    "card_token",
    "last4",
    "bank_account_index",
    "is_active",
    "added_at",
    "removed_at",
]
_BANK_NULLABLE = frozenset({"routing_number", "account_number", "card_token", "removed_at"})
_PREMISE_COLUMNS = [
    "premise_number",
    "service_line1",
    "service_line2",
    "service_city",
    "service_state",
    "service_postal_code",
    "address_index",
    "meter_reading_notes",
    "gate_code",
    "dog_warning",
    "created_at",
    "updated_at",
]
_PREMISE_NULLABLE = frozenset({"meter_reading_notes", "gate_code"})
_ACCOUNT_COLUMNS = [
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
    "opened_by_id",
    "created_at",
    "updated_at",
]
_ACCOUNT_NULLABLE = frozenset({"premise_id", "opened_at", "closed_at", "suspended_at", "opened_by_id"})
_METER_COLUMNS = ["meter_number", "premise_id", "has_solar", "installed_on", "removed_on"]
_METER_NULLABLE = frozenset({"installed_on", "removed_on"})
_SECRET_FIELDS = (
    "ssn",
    "tin",
    "date_of_birth",
    "drivers_licence_number",
    "passport_number",
    "alien_registration_number",
)


def _existing(cursor, table: str, column: str, values: list[str]) -> dict[str, int]:
    if not values:
        return {}
    cursor.execute(f"SELECT {column}, id FROM {table} WHERE {column} = ANY(%s)", [values])  # noqa: S608 - fixed identifiers
    return dict(cursor.fetchall())


def _load_batch(rows: list[_Row], report: ImportReport, *, actor_label: str, batch_number: int) -> None:
    # Timestamps and dates go into the COPY as text, formatted once rather than by str() per cell.
    started = timezone.now()
    now, today = started.isoformat(), started.date()
    key = crypto.primary_fernet_key()
    # Every value reaching here was cleaned by members.validation, i.e. is already canonical.
    index = crypto.canonical_indexer()
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
            plaintexts.extend(
                row.premise_secrets[name].encode()
                for name in ("gate_code", "meter_reading_notes")
                if name in row.premise_secrets
            )
        tokens = iter([token.decode("ascii") for token in encrypt_many(key, plaintexts)])

        member_rows, bank_rows, premise_rows, account_rows = [], [], [], []
        applicant = str(Member.Status.APPLICANT)
        for row in fresh:
            m, s = row.member, row.secrets
            encrypted = {name: next(tokens) if name in s else None for name in _SECRET_FIELDS}
            joined_on = m["joined_on"].isoformat() if m["joined_on"] else None
            tax_id = s.get("ssn") or s.get("tin")
            licence_state = m["drivers_licence_state"]
            member_rows.append(
                [
                    m["member_number"],
                    m["kind"],
                    m["legal_name"],
                    name_search_form(m["legal_name"]),
                    m["status"],
                    joined_on,
                    joined_on if m["status"] != applicant else None,
                    None,
                    None,
                    None,
                    *m["address"],
                    index("address", crypto.canonical_cleaned_address(*m["address"])) if m["address"][0] else "",
                    m["phone"],
                    index("phone", m["phone"]) if m["phone"] else "",
                    m["email"],
                    index("email", m["email"]) if m["email"] else "",
                    encrypted["ssn"],
                    encrypted["tin"],
                    encrypted["date_of_birth"],
                    encrypted["drivers_licence_number"],
                    licence_state,
                    encrypted["passport_number"],
                    encrypted["alien_registration_number"],
                    m["employer_name"],
                    index("tax_id", tax_id) if tax_id else "",
                    index("licence", f"{licence_state}:{s['drivers_licence_number']}")
                    if "drivers_licence_number" in s and licence_state
                    else "",
                    index("passport", s["passport_number"]) if "passport_number" in s else "",
                    index("alien_registration", s["alien_registration_number"])
                    if "alien_registration_number" in s
                    else "",
                    tax_id[-4:] if tax_id else "",
                    None,
                    0,
                    now,
                    now,
                ]
            )
            if row.bank:
                routing_token, account_token = next(tokens), next(tokens)
                bank_rows.append((row, routing_token, account_token))
            if row.premise:
                premise_rows.append(
                    (
                        row,
                        {
                            name: next(tokens)
                            for name in ("gate_code", "meter_reading_notes")
                            if name in row.premise_secrets
                        },
                    )
                )
        _copy(cursor, "members_member", _MEMBER_COLUMNS, member_rows, _MEMBER_NULLABLE)
        ids = _existing(cursor, "members_member", "member_number", [row.member["member_number"] for row in fresh])
        report.members_loaded += len(fresh)

        if bank_rows:
            _copy(
                cursor,
                "members_financialaccount",
                _BANK_COLUMNS,
                [
                    [
                        ids[row.member["member_number"]],
                        "bank",
                        "",
                        routing_token,
                        account_token,
                        None,
                        row.bank[1][-4:],
                        index("bank_account", f"{row.bank[0]}:{row.bank[1]}"),
                        True,
                        now,
                        None,
                    ]
                    for row, routing_token, account_token in bank_rows
                ],
                _BANK_NULLABLE,
            )
            report.bank_accounts_loaded += len(bank_rows)

        if premise_rows:
            new_premises, seen = [], set()
            for row, premise_tokens in premise_rows:
                number = row.premise["premise_number"]
                if number in seen:
                    continue
                seen.add(number)
                new_premises.append(
                    [
                        number,
                        *row.premise["address"],
                        index("address", crypto.canonical_cleaned_address(*row.premise["address"])),
                        premise_tokens.get("meter_reading_notes"),
                        premise_tokens.get("gate_code"),
                        row.premise["dog_warning"],
                        now,
                        now,
                    ]
                )
            premise_ids = _insert_new(
                cursor, "accounts_premise", "premise_number", _PREMISE_COLUMNS, new_premises, _PREMISE_NULLABLE
            )
            report.premises_loaded += len(premise_ids)
            # Premises that were there already (or that another batch just inserted): look those up only.
            premise_ids.update(
                _existing(
                    cursor,
                    "accounts_premise",
                    "premise_number",
                    [number for number in seen if number not in premise_ids],
                )
            )

            present_accounts = _existing(
                cursor, "accounts_account", "account_number", [row.account["account_number"] for row, _ in premise_rows]
            )
            seen_accounts = set(present_accounts)
            for row, _ in premise_rows:
                number = row.account["account_number"]
                if number in seen_accounts:
                    continue
                seen_accounts.add(number)
                status = row.account["status"]
                opened_at = f"{(row.member['joined_on'] or today).isoformat()} 12:00:00+00:00"
                account_rows.append(
                    [
                        number,
                        ids[row.member["member_number"]],
                        premise_ids[row.premise["premise_number"]],
                        status,
                        "imported from the legacy CIS",
                        opened_at,
                        now if status == "closed" else None,
                        now if status == "suspended" else None,
                        False,
                        False,
                        None,
                        now,
                        now,
                    ]
                )
            _copy(cursor, "accounts_account", _ACCOUNT_COLUMNS, account_rows, _ACCOUNT_NULLABLE)
            report.accounts_loaded += len(account_rows)

            seen_meters, meter_rows = set(), []
            for row, _ in premise_rows:
                meter = row.meter
                if meter is None or meter["meter_number"] in seen_meters:
                    continue
                seen_meters.add(meter["meter_number"])
                meter_rows.append(
                    [meter["meter_number"], premise_ids[row.premise["premise_number"]], meter["has_solar"], None, None]
                )
            report.meters_loaded += len(
                _insert_new(cursor, "accounts_meter", "meter_number", _METER_COLUMNS, meter_rows, _METER_NULLABLE)
            )

        report.batches += 1
        if not fresh:
            return  # a re-run of rows already loaded changes nothing, so it leaves no audit row either
        audit_record(
            actor=None,
            actor_label=actor_label,
            action="member.imported",
            object_type="members.member",
            fields=sorted({name for row in fresh for name in row.secrets} | {"member_number", "legal_name"}),
            detail={
                "batch": batch_number,
                "rows": len(rows),
                "loaded": len(fresh),
                "already_present": len(rows) - len(fresh),
                "first_member_number": fresh[0].member["member_number"] if fresh else "",
                "last_member_number": fresh[-1].member["member_number"] if fresh else "",
            },
        )


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


class _SerialLoader:
    """Loads each batch in this process, in this connection (and so inside a caller's transaction)."""

    def __init__(self, report: ImportReport, actor_label: str, on_batch):
        self.report, self.actor_label, self.on_batch = report, actor_label, on_batch
        self.submitted = 0

    def submit(self, batch: list[_Row]) -> None:
        self.submitted += 1
        _load_batch(batch, self.report, actor_label=self.actor_label, batch_number=self.submitted)
        if self.on_batch:
            self.on_batch(self.report)

    def finish(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _merge(report: ImportReport, partial: ImportReport) -> None:
    for name in (
        "members_loaded",
        "members_already_present",
        "accounts_loaded",
        "premises_loaded",
        "meters_loaded",
        "bank_accounts_loaded",
        "batches",
    ):
        setattr(report, name, getattr(report, name) + getattr(partial, name))


class BatchFailed(RuntimeError):
    """A batch loaded in a worker process failed; its transaction was rolled back."""


def _load_batch_in_child(sender, batch: list[_Row], actor_label: str, batch_number: int) -> None:
    from django.db import connections

    partial = ImportReport()
    try:
        _load_batch(batch, partial, actor_label=actor_label, batch_number=batch_number)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        sender.send((None, f"{type(exc).__name__}: {exc}"))
    else:
        sender.send((partial, None))
    finally:
        connections.close_all()
        sender.close()


class _ParallelLoader:
    """Loads each batch in a forked child process with its own connection and transaction.

    This process keeps reading and validating the file while up to ``workers`` children encrypt and
    COPY: on two cores the import's Python work and PostgreSQL's then overlap instead of taking turns.
    A child per batch, started with ``fork``, inherits its batch in memory instead of receiving it
    pickled through a pipe (pickling cost ~25 µs a row, a sixth of the whole import); only the
    counts come back. Starting a process and a database session costs a few milliseconds, nothing
    against a batch of thousands of rows. Batches are independent transactions either way (the
    serial path commits per batch too): a failure leaves whole batches loaded or not, and a re-run
    skips what is there.
    """

    def __init__(self, report: ImportReport, actor_label: str, on_batch, workers: int):
        import multiprocessing

        from django.db import connections

        self.report, self.actor_label, self.on_batch = report, actor_label, on_batch
        self.workers = workers
        self.submitted = 0
        self.context = multiprocessing.get_context("fork")
        self.running: dict[int, tuple[Any, Any]] = {}  # batch number -> (process, receiving end of its pipe)
        self.failure: str | None = None
        # Children must open their own connections: one socket shared by two processes corrupts both.
        connections.close_all()

    def _collect_one(self) -> None:
        """Wait for any running batch to end; a child that dies without answering is a failed batch."""
        from multiprocessing.connection import wait

        ready = wait([conn for _, conn in self.running.values()] + [p.sentinel for p, _ in self.running.values()])
        for batch_number, (process, conn) in list(self.running.items()):
            if conn not in ready and process.sentinel not in ready:
                continue
            try:
                partial, error = conn.recv()
            except EOFError:
                process.join()
                partial, error = None, f"the worker process exited with code {process.exitcode} before reporting"
            process.join()
            conn.close()
            del self.running[batch_number]
            if error is not None:
                self.failure = self.failure or f"batch {batch_number}: {error}"
            else:
                _merge(self.report, partial)
                if self.on_batch:
                    self.on_batch(self.report)
            return

    def _check(self) -> None:
        if self.failure:
            raise BatchFailed(self.failure)

    def submit(self, batch: list[_Row]) -> None:
        self._check()
        while len(self.running) >= self.workers:
            self._collect_one()
            self._check()
        self.submitted += 1
        receiver, sender = self.context.Pipe(duplex=False)
        # Objects that exist now are the parent's: frozen, the child's garbage collector never walks them,
        # so it does not copy every page of the parent it would touch on the way (copy-on-write).
        gc.freeze()
        process = self.context.Process(
            target=_load_batch_in_child, args=(sender, batch, self.actor_label, self.submitted), daemon=True
        )
        process.start()
        sender.close()  # the child holds its own copy; ours would keep EOF from ever arriving
        self.running[self.submitted] = (process, receiver)

    def finish(self) -> None:
        try:
            while self.running:
                self._collect_one()
        finally:
            gc.unfreeze()
        self._check()

    def abort(self) -> None:
        # Batches already running finish (each is its own transaction); nothing new starts.
        try:
            while self.running:
                self._collect_one()
        finally:
            gc.unfreeze()


IMPORTED_TABLES = (
    "members_member",
    "members_financialaccount",
    "accounts_premise",
    "accounts_account",
    "accounts_meter",
)


def analyze_imported_tables() -> None:
    """Refresh the planner's statistics after a bulk load (autovacuum would, later; searches and the
    admin's row estimate should not wait for it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(IMPORTED_TABLES)}")


def default_workers() -> int:
    """Worker processes for the bulk commands (import, key rotation): one per core this process may
    use, at most four (PostgreSQL needs cores too)."""
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cpus))


def import_members(
    handle: TextIO, *, batch_size: int = 2000, actor_label: str = "import:cis", on_batch=None, workers: int = 1
) -> ImportReport:
    """Validate every row, load the good ones batch by batch. Returns the report (bad rows inside).

    ``workers`` > 1 loads batches in that many processes (``_ParallelLoader``). Called inside a
    transaction, the import belongs to that transaction and runs in this process whatever ``workers``
    says: other processes could neither see nor join it.
    """
    report = ImportReport()
    today = timezone.localdate()
    batch: list[_Row] = []
    seen: dict[str, int] = {}
    seen_accounts: dict[str, int] = {}
    loader: _SerialLoader | _ParallelLoader | None = None
    try:
        for line, raw in _rows(handle, report):
            row, errors = _clean_row(line, raw, today)
            if row is not None:
                number = row.member["member_number"]
                if number in seen:
                    errors = [RowError(line, "member_number", f"Duplicate of the member on line {seen[number]}.")]
                    row = None
                elif row.account and row.account["account_number"] in seen_accounts:
                    errors = [
                        RowError(
                            line,
                            "account_number",
                            f"Duplicate of the account on line {seen_accounts[row.account['account_number']]}.",
                        )
                    ]
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
                if loader is None:
                    loader = _make_loader(report, actor_label, on_batch, workers)
                loader.submit(batch)
                batch = []
        if batch:
            if loader is None:
                loader = _make_loader(report, actor_label, on_batch, workers)
            loader.submit(batch)
        if loader is not None:
            loader.finish()
    except BaseException:
        if loader is not None:
            loader.abort()
        raise
    return report


def _make_loader(report: ImportReport, actor_label: str, on_batch, workers: int) -> _SerialLoader | _ParallelLoader:
    if workers > 1 and not connection.in_atomic_block:
        return _ParallelLoader(report, actor_label, on_batch, workers)
    return _SerialLoader(report, actor_label, on_batch)
