"""The Red Flags rule engine: a plain service, callable and testable without signals or HTTP.

``evaluate(event)`` runs every active rule version whose detector applies to the event and returns a
``Result``: the score (sum of the weights of the rules that fired), the outcome (from the program's
thresholds and each fired rule's minimum outcome) and, per fired rule, the version and evidence a
person can read. It writes nothing; ``redflags.services`` persists results.

Detectors are keyed by the rule's stable code. A rule version carries only weight, minimum outcome
and parameters, so the Program Administrator can draft, dry-run and activate a change without new
code; a new kind of detector is a code change (and a catalogue entry).

Evidence names other members by member number and says *which kind* of identifier matched, never
the value. Duplicate detection uses the registry's blind indexes (an indexed equality lookup). The
indexes are deliberately short (members/crypto.py: 12 bits), so an index match is only a candidate:
each lookup is narrowed in SQL by what equal values must share (SSN last four, E.164 phone, ZIP5 and
street first word) and the survivors are confirmed by canonical form, decrypting only those rows.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property

from django.db import connection
from django.utils import timezone

from members import crypto
from redflags.catalogue import CATALOGUE
from redflags.models import (
    CallerVerificationAttempt,
    ConsumerReportAlert,
    IdentityTheftNotice,
    KnownFraudEntry,
    Outcome,
    ProgramSettings,
    RuleVersion,
    SecurityIncident,
    VerificationChecklist,
)

OPENING = "account.opening"
# Events the program's own services raise (notices, incidents, alerts, caller verification).
CRA_ALERT = "redflags.cra_alert"
IDENTITY_THEFT_NOTICE = "redflags.identity_theft_notice"
SECURITY_INCIDENT = "redflags.security_incident"
CALLER_VERIFICATION_FAILED = "redflags.caller_verification_failed"
PAYMENT_SWEEP = "redflags.payment_sweep"
# The shared-SSN/TIN scan (services.shared_tax_id_scan) raises this for each member it found in a
# group of members sharing one taxpayer number: members loaded in bulk (the CIS import) never had an
# opening to be scored at. Only B5 listens to it.
TAX_ID_SCAN = "redflags.tax_id_scan"

# Registry events (members/signals.py EVENTS) the program watches. Every one of them is scored.
WATCHED_REGISTRY_EVENTS = frozenset(
    {
        "member.name_changed",
        "member.address_changed",
        "member.phone_changed",
        "member.email_changed",
        "member.identifiers_changed",
        "member.financial_account_added",
        "account.party_added",
        "account.bill_recorded",
        "account.payment_recorded",
        "account.payment_returned",
        "account.mail_returned",
        "account.statement_not_received",
    }
)

# Candidates examined per lookup, after the SQL narrowing (usually a handful); a cap keeps a
# pathological value (e.g. one address shared by a whole apartment block) from costing seconds.
MAX_CANDIDATES = 200
MAX_NAMED = 3

KIND_LABEL = {
    "tax_id": "SSN/TIN",
    "licence": "driver's licence",
    "phone": "phone",
    "email": "email",
    "address": "address",
    "bank_account": "bank account",
}


@dataclass(frozen=True)
class Event:
    name: str
    member_id: int | None = None
    account_id: int | None = None
    actor_id: int | None = None
    occurred_at: datetime.datetime = field(default_factory=timezone.now)
    fields: tuple[str, ...] = ()
    old_indexes: dict = field(default_factory=dict)
    new_indexes: dict = field(default_factory=dict)
    # Event-specific ids and facts: {"checklist": {...}}, {"alert_id": 3}, {"failures": 3}, ...
    payload: dict = field(default_factory=dict)


@dataclass
class Fired:
    version: RuleVersion
    evidence: list[str]

    def as_dict(self) -> dict:
        return {
            "code": self.version.rule.code,
            "category": self.version.rule.category,
            "version": self.version.number,
            "version_id": self.version.pk,
            "weight": self.version.weight,
            "minimum_outcome": self.version.minimum_outcome,
            "evidence": self.evidence,
        }


@dataclass
class Result:
    event: Event
    score: int
    outcome: str
    fired: list[Fired]
    program_version: str
    warn_threshold: int
    hold_threshold: int

    @property
    def codes(self) -> list[str]:
        return [item.version.rule.code for item in self.fired]


def _member_list(numbers: list[str]) -> str:
    shown = ", ".join(numbers[:MAX_NAMED])
    more = len(numbers) - MAX_NAMED
    return f"{shown} and {more} more" if more > 0 else shown


def _days(delta: datetime.timedelta) -> str:
    days = delta.days
    return "the same day" if days == 0 else ("1 day" if days == 1 else f"{days} days")


# The hot-path SQL, kept as constants so the opening prefetch runs exactly the lazy lookups' SQL.
# A kind not looked for is passed as NULL, which equals nothing.
# The registry's blind indexes are short on purpose (12 bits: at a million members ~250 members share
# each value), so each indexed equality is narrowed in SQL by something that equal values must share:
# SSN/TIN by the clear last four digits, phone by the stored E.164 form, address by ZIP5 and the first
# word of the street line (any spelling that canonicalises to the same word). The survivors are then
# confirmed in Python by canonical form. A narrowing term never excludes a true duplicate.
_CANDIDATES_SQL = (
    "SELECT id, member_number, mailing_line1, mailing_line2, mailing_city, mailing_state, mailing_postal_code, phone, "
    "tax_id_index, address_index, phone_index, ssn AS ssn_cipher, tin AS tin_cipher FROM members_member "
    "WHERE ((tax_id_index = %s AND ssn_last4 = %s) "
    "OR (address_index = %s AND left(mailing_postal_code, 5) = %s "
    "AND (%s::text[] IS NULL OR upper(substring(replace(mailing_line1, '.', '') from '[A-Za-z0-9]+')) = ANY(%s::text[]))) "
    "OR (phone_index = %s AND phone = %s)) AND id <> %s ORDER BY id LIMIT %s"
)
# Two branches rather than one OR, so each uses the index on index_value (an OR with a subquery
# turns into a sequential scan of the whole fraud list).
_FRAUD_PROBE = (
    "SELECT id FROM redflags_knownfraudentry WHERE active AND index_value = ANY(%s) "
    "UNION SELECT id FROM redflags_knownfraudentry WHERE active AND %s AND kind = 'bank_account' AND index_value IN "
    "(SELECT bank_account_index FROM members_financialaccount WHERE member_id = %s AND is_active AND bank_account_index <> '')"
)
_NOTICES_SQL = (
    "(SELECT received_at, kind, agency, 'cra' AS source FROM redflags_consumerreportalert WHERE member_id = %s AND received_at >= %s ORDER BY received_at DESC LIMIT 200) "
    "UNION ALL (SELECT received_at, reporter, '', 'notice' FROM redflags_identitytheftnotice WHERE member_id = %s AND received_at >= %s ORDER BY received_at DESC LIMIT 200)"
)
_OPENING_PREFETCH_SQL = (
    "SELECT 'm', c.id, c.member_number, c.mailing_line1, c.mailing_line2, c.mailing_city, c.mailing_state, c.mailing_postal_code, c.phone, "  # noqa: S608 - constants only
    "c.tax_id_index, c.address_index, c.phone_index, c.ssn_cipher, c.tin_cipher, NULL::timestamptz FROM ("
    + _CANDIDATES_SQL
    + ") AS c "
    "UNION ALL SELECT 'f', f.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM ("
    + _FRAUD_PROBE
    + ") AS f "
    "UNION ALL SELECT n.source, NULL, n.kind, n.agency, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, n.received_at FROM ("
    + _NOTICES_SQL
    + ") AS n"
)


def _first_word_spellings(line1: str) -> list[str] | None:
    """Every upper-case first word of a street line that canonicalises to this line's first word.

    ``None`` (no narrowing) when the canonical first word is rewritten from other characters (a leading
    "#" becomes APT, "P O BOX" becomes PO BOX), so a true duplicate is never filtered out.
    """
    words = crypto._address_words(line1).split()  # noqa: SLF001 - the registry's own canonicaliser
    if not words:
        return None
    first = words[0]
    if first in ("APT", "PO", "P", "BOX") or "#" in line1:
        return None
    spellings = {first} | {raw for raw, canonical in crypto._ADDRESS_WORDS.items() if canonical == first}  # noqa: SLF001
    return sorted(spellings)


class Candidate:
    """Another member found by blind index; ciphertexts decrypted only if a detector asks."""

    def __init__(self, row: dict):
        self._row = row
        self.pk = row["id"]
        self.member_number = row["member_number"]
        self.mailing_line1, self.mailing_line2 = row["mailing_line1"], row["mailing_line2"]
        self.mailing_city, self.mailing_state, self.mailing_postal_code = (
            row["mailing_city"],
            row["mailing_state"],
            row["mailing_postal_code"],
        )
        self.phone = row["phone"]
        self.email = self.drivers_licence_number = self.drivers_licence_state = None

    def _decrypt(self, name: str) -> str | None:
        value = self._row.get(name)
        return crypto.fernet().decrypt(bytes(value)).decode() if value is not None else None

    @cached_property
    def ssn(self) -> str | None:
        return self._decrypt("ssn_cipher")

    @cached_property
    def tin(self) -> str | None:
        return self._decrypt("tin_cipher")


class Context:
    """What the detectors look at for one event, loaded lazily and once."""

    def __init__(self, event: Event, *, now: datetime.datetime | None = None, account=None, checklist=None):
        self.event = event
        self.now = now or timezone.now()
        if account is not None:
            self.__dict__["account"] = account
        if checklist is not None:
            self.__dict__["checklist"] = checklist

    @cached_property
    def account(self):
        from accounts.models import Account

        if not self.event.account_id:
            return None
        return Account.objects.select_related("member").filter(pk=self.event.account_id).first()

    @cached_property
    def member(self):
        from members.models import Member

        if self.account is not None and (not self.event.member_id or self.event.member_id == self.account.member_id):
            return self.account.member
        if not self.event.member_id:
            return None
        return Member.objects.filter(pk=self.event.member_id).first()

    @cached_property
    def checklist(self) -> VerificationChecklist | None:
        data = self.event.payload.get("checklist")
        if data:
            known = {f.name for f in VerificationChecklist._meta.concrete_fields}
            return VerificationChecklist(
                **{key: value for key, value in data.items() if key in known and not key.endswith("_id")}
            )
        if self.event.name == OPENING and self.event.account_id:
            return VerificationChecklist.objects.filter(account_id=self.event.account_id).first()
        return None

    # --- canonical values of the member (compared, never shown) -----------------------------

    def canonical_values(self, member, kind: str) -> set[str]:
        values: set[str] = set()
        try:
            if kind == "tax_id":
                for raw in (member.ssn, member.tin):
                    if raw:
                        values.add(crypto.canonical("tax_id", raw))
            elif kind == "address":
                if member.mailing_line1:
                    values.add(
                        crypto.canonical(
                            "address",
                            (
                                member.mailing_line1,
                                member.mailing_line2,
                                member.mailing_city,
                                member.mailing_state,
                                member.mailing_postal_code,
                            ),
                        )
                    )
            elif kind == "phone":
                if member.phone:
                    values.add(crypto.canonical("phone", member.phone))
            elif kind == "email":
                if member.email:
                    values.add(crypto.canonical("email", member.email))
            elif kind == "licence":
                if member.drivers_licence_number and member.drivers_licence_state:
                    values.add(
                        crypto.canonical("licence", (member.drivers_licence_number, member.drivers_licence_state))
                    )
            elif kind == "bank_account":
                for account in member.financial_accounts.filter(is_active=True).exclude(bank_account_index=""):
                    if account.routing_number and account.account_number:
                        values.add(crypto.canonical("bank_account", (account.routing_number, account.account_number)))
        except crypto.CanonicalisationError:
            pass
        return values

    @cached_property
    def member_indexes(self) -> dict[str, set[str]]:
        member = self.member
        if member is None:
            return {}
        indexes = {
            "tax_id": {member.tax_id_index},
            "licence": {member.licence_index},
            "phone": {member.phone_index},
            "email": {member.email_index},
            "address": {member.address_index},
        }
        return {kind: {value for value in values if value} for kind, values in indexes.items()}

    @cached_property
    def bank_account_indexes(self) -> set[str]:
        if self.member is None:
            return set()
        return set(
            self.member.financial_accounts.filter(is_active=True)
            .exclude(bank_account_index="")
            .values_list("bank_account_index", flat=True)
        )

    @cached_property
    def indexes_to_check(self) -> dict[str, set[str]]:
        """At opening every identifier; on a change only the kinds that changed."""
        if self.event.name == OPENING:
            return self.member_indexes
        changed = {kind for kind, value in self.event.new_indexes.items() if value}
        return {kind: values for kind, values in self.member_indexes.items() if kind in changed and values}

    @cached_property
    def _fraud_probe_args(self) -> tuple[list[str], bool]:
        values = sorted({value for kind_values in self.indexes_to_check.values() for value in kind_values})
        check_bank = self.member is not None and self.event.name in (OPENING, "member.financial_account_added")
        return values, check_bank

    @cached_property
    def fraud_ids(self) -> list[int]:
        values, check_bank = self._fraud_probe_args
        if not values and not check_bank:
            return []
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM ({_FRAUD_PROBE}) AS probe",  # noqa: S608 - constant SQL
                [values, check_bank, self.member.pk if self.member is not None else 0],
            )
            return [row[0] for row in cursor.fetchall()]

    @cached_property
    def fraud_matches(self) -> list[KnownFraudEntry]:
        """Fraud-list entries whose blind index matches, confirmed against the canonical value.

        One indexed lookup; the member's bank-account indexes join in as a subquery so an opening
        does not pay a separate round trip for them.
        """
        wanted = self.indexes_to_check
        check_bank = self._fraud_probe_args[1]
        ids = self.fraud_ids
        if not ids:  # the usual case: one cheap probe, no decryption
            return []
        matches = []
        for entry in KnownFraudEntry.objects.filter(pk__in=ids):
            if entry.kind == "bank_account":
                if not check_bank or entry.index_value not in self.bank_account_indexes:
                    continue
            elif entry.kind not in wanted or entry.index_value not in wanted[entry.kind]:
                continue
            if entry.value and entry.value in self.canonical_values(self.member, entry.kind):
                matches.append(entry)
        return matches

    @cached_property
    def candidates(self) -> dict[str, list]:
        """Other members sharing this member's SSN/TIN, address or phone blind index: one query.

        The three indexed equality lookups are OR-ed (a BitmapOr in PostgreSQL) so an opening pays
        one round trip; each row is sorted into the kinds whose index it shares.
        """
        member = self.member
        if member is None or not self._candidate_wanted:
            return {"tax_id": [], "address": [], "phone": []}
        wanted = self._candidate_wanted
        with connection.cursor() as cursor:
            cursor.execute(_CANDIDATES_SQL, [*self._candidate_params, member.pk, MAX_CANDIDATES * 3])
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        return self._sort_candidates(rows, wanted)

    @cached_property
    def _candidate_wanted(self) -> dict[str, str]:
        member = self.member
        fields = {"tax_id": "tax_id_index", "address": "address_index", "phone": "phone_index"}
        wanted = {kind: getattr(member, field) for kind, field in fields.items() if getattr(member, field)}
        if self.event.name != OPENING:
            wanted = {kind: value for kind, value in wanted.items() if kind in self._changed_kinds}
        return wanted

    @cached_property
    def _candidate_params(self) -> list:
        """Parameters of _CANDIDATES_SQL; a kind not looked for gets NULL, which equals nothing."""
        member, wanted = self.member, self._candidate_wanted
        tax = wanted.get("tax_id")
        address = wanted.get("address")
        zip5, first_words = None, None
        if address:
            zip5 = crypto.ascii_digits(member.mailing_postal_code)[:5]
            first_words = _first_word_spellings(member.mailing_line1)
        phone = wanted.get("phone")
        try:
            e164 = crypto.canonical("phone", member.phone) if phone and member.phone else None
        except crypto.CanonicalisationError:
            e164 = None
        return [
            tax,
            member.ssn_last4 if tax else None,
            address,
            zip5,
            first_words,
            first_words,
            phone if e164 else None,
            e164,
        ]

    @staticmethod
    def _sort_candidates(rows: list[dict], wanted: dict[str, str]) -> dict[str, list]:
        fields = {"tax_id": "tax_id_index", "address": "address_index", "phone": "phone_index"}
        result: dict[str, list] = {"tax_id": [], "address": [], "phone": []}
        for row in rows:
            candidate = Candidate(row)
            for kind, value in wanted.items():
                if row[fields[kind]] == value:
                    result[kind].append(candidate)
        return result

    def prefetch_opening(self) -> None:
        """An opening needs candidates, the fraud-list probe and the member's notices: one round trip.

        The three lookups are the same SQL the lazy properties run, joined with UNION ALL; their
        results are stored in the same cached properties, so detectors do not know the difference.
        """
        member = self.member
        if member is None or self.event.name != OPENING:
            return
        wanted = self._candidate_wanted
        values, check_bank = self._fraud_probe_args
        since = self.now - datetime.timedelta(days=3650)
        with connection.cursor() as cursor:
            cursor.execute(
                _OPENING_PREFETCH_SQL,
                [
                    *self._candidate_params,
                    member.pk,
                    MAX_CANDIDATES * 3,
                    values,
                    check_bank,
                    member.pk,
                    member.pk,
                    since,
                    member.pk,
                    since,
                ],
            )
            rows = cursor.fetchall()
        candidates, fraud_ids, notices = [], [], []
        for src, pk, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, b1, b2, when in rows:
            if src == "m":
                candidates.append(
                    {
                        "id": pk,
                        "member_number": t1,
                        "mailing_line1": t2,
                        "mailing_line2": t3,
                        "mailing_city": t4,
                        "mailing_state": t5,
                        "mailing_postal_code": t6,
                        "phone": t7,
                        "tax_id_index": t8,
                        "address_index": t9,
                        "phone_index": t10,
                        "ssn_cipher": b1,
                        "tin_cipher": b2,
                    }
                )
            elif src == "f":
                fraud_ids.append(pk)
            else:
                notices.append({"received_at": when, "kind": t1, "agency": t2, "source": src})
        notices.sort(key=lambda row: row["received_at"], reverse=True)
        self.__dict__["candidates"] = self._sort_candidates(candidates, wanted)
        self.__dict__["fraud_ids"] = fraud_ids
        self.__dict__["member_notices"] = notices

    @cached_property
    def member_notices(self) -> list[dict]:
        """CRA alerts and identity-theft notices about this member (newest first), in one query.

        Looks back ten years; each detector applies its own window.
        """
        if self.member is None:
            return []
        since = self.now - datetime.timedelta(days=3650)
        with connection.cursor() as cursor:
            cursor.execute(_NOTICES_SQL + " ORDER BY 1 DESC", [self.member.pk, since, self.member.pk, since])
            return [
                {"received_at": when, "kind": kind, "agency": agency, "source": source}
                for when, kind, agency, source in cursor.fetchall()
            ]

    @cached_property
    def _changed_kinds(self) -> set[str]:
        kinds = set(self.event.new_indexes)
        if self.event.name in ("member.identifiers_changed", TAX_ID_SCAN):
            kinds.add("tax_id")
        return kinds

    def duplicates(self, kind: str, index_field: str = "") -> list:
        """Other members whose blind index equals this member's, confirmed by canonical value."""
        member = self.member
        if member is None:
            return []
        mine = self.canonical_values(member, kind)
        if not mine:
            return []
        return [candidate for candidate in self.candidates[kind] if self.canonical_values(candidate, kind) & mine]


# --- detectors ---------------------------------------------------------------------------------

Detector = Callable[[Context, dict], list[str]]


@dataclass(frozen=True)
class DetectorSpec:
    code: str
    events: frozenset[str]
    detect: Detector


DETECTORS: dict[str, DetectorSpec] = {}


def detector(code: str, events: Iterable[str]):
    def register(function: Detector) -> Detector:
        DETECTORS[code] = DetectorSpec(code=code, events=frozenset(events), detect=function)
        return function

    return register


def _checklist_flag(attribute: str, text: str) -> Detector:
    def detect(ctx: Context, params: dict) -> list[str]:
        checklist = ctx.checklist
        return [text] if checklist is not None and getattr(checklist, attribute) else []

    return detect


detector("A1_FORGED_ID", {OPENING})(
    _checklist_flag("document_appears_forged", "staff recorded the identification as appearing forged or altered")
)
detector("A2_PHOTO_MISMATCH", {OPENING})(
    _checklist_flag(
        "photo_or_description_mismatch",
        "staff recorded that the photo or description does not match the person presenting it",
    )
)
detector("A3_DOCUMENTS_INCONSISTENT", {OPENING})(
    _checklist_flag(
        "other_documents_inconsistent",
        "staff recorded other documentation (signature, check) inconsistent with customer information",
    )
)
detector("A4_APPLICATION_ALTERED", {OPENING})(
    _checklist_flag("application_altered", "staff recorded the application as altered, forged or reassembled")
)
detector("B1_INCONSISTENT_WITH_SOURCES", {OPENING})(
    _checklist_flag(
        "inconsistent_with_other_sources", "staff recorded identifying information inconsistent with other sources"
    )
)


@detector("B2_INCONSISTENT_WITH_APPLICANT", {OPENING})
def _b2(ctx: Context, params: dict) -> list[str]:
    checklist = ctx.checklist
    if checklist is None:
        return []
    evidence = []
    if checklist.stated_ssn_last4_matches is False:
        evidence.append("the SSN last 4 the applicant stated differs from the SSN given on the application")
    if checklist.stated_date_of_birth_matches is False:
        evidence.append("the birth date the applicant stated differs from the one given on the application")
    if checklist.ssn_issued_before_birth:
        evidence.append("the SSN was issued before the applicant's date of birth")
    return evidence


_FRAUD_EVENTS = {
    OPENING,
    "member.address_changed",
    "member.phone_changed",
    "member.email_changed",
    "member.identifiers_changed",
    "member.financial_account_added",
}


@detector("B3_KNOWN_FRAUD", _FRAUD_EVENTS)
def _b3(ctx: Context, params: dict) -> list[str]:
    return [
        f"{KIND_LABEL[entry.kind]} matches known-fraud list entry #{entry.pk} ({entry.source})"
        for entry in ctx.fraud_matches
        if entry.listing == KnownFraudEntry.Listing.FRAUDULENT_APPLICATION
    ]


@detector("B4_CONSISTENT_WITH_FRAUD", {OPENING, "member.address_changed", "member.phone_changed"})
def _b4(ctx: Context, params: dict) -> list[str]:
    import phonenumbers

    evidence = [
        f"{KIND_LABEL[entry.kind]} is on the list of invalid or fictitious values (entry #{entry.pk}, {entry.source})"
        for entry in ctx.fraud_matches
        if entry.listing == KnownFraudEntry.Listing.FICTITIOUS
    ]
    member = ctx.member
    if member is not None and member.phone and (ctx.event.name == OPENING or "phone" in ctx.event.new_indexes):
        try:
            valid = phonenumbers.is_valid_number(phonenumbers.parse(member.phone, "US"))
        except phonenumbers.NumberParseException:
            valid = False
        if not valid:
            evidence.append("the phone number on file is not a valid number")
    if ctx.event.name == OPENING and ctx.checklist is not None and ctx.checklist.address_appears_fictitious:
        evidence.append("staff recorded the billing address as appearing fictitious")
    return evidence


@detector("B5_SSN_SHARED", {OPENING, "member.identifiers_changed", TAX_ID_SCAN})
def _b5(ctx: Context, params: dict) -> list[str]:
    if ctx.event.name not in (OPENING, TAX_ID_SCAN) and "tax_id" not in ctx.event.new_indexes:
        return []
    others = ctx.duplicates("tax_id", "tax_id_index")
    if not others:
        return []
    label = "SSN" if ctx.member.ssn else "TIN"
    return [f"{label} matches member {_member_list([other.member_number for other in others])}"]


@detector("B6_ADDRESS_OR_PHONE_SHARED", {OPENING, "member.address_changed", "member.phone_changed"})
def _b6(ctx: Context, params: dict) -> list[str]:
    evidence = []
    for kind, index_field in (("address", "address_index"), ("phone", "phone_index")):
        if ctx.event.name != OPENING and kind not in ctx.event.new_indexes:
            continue
        others = ctx.duplicates(kind, index_field)
        if others:
            evidence.append(f"{kind} matches member {_member_list([other.member_number for other in others])}")
    return evidence


@detector("B7_INCOMPLETE_AFTER_REMINDER", {OPENING})
def _b7(ctx: Context, params: dict) -> list[str]:
    checklist = ctx.checklist
    if checklist is None or not checklist.reminded_of_missing_information:
        return []
    missing = list(checklist.missing_items or [])
    member = ctx.member
    if member is not None and member.kind == "person":
        if not member.date_of_birth and "date of birth" not in missing:
            missing.append("date of birth")
        if not member.tax_id_index and "SSN" not in missing:
            missing.append("SSN")
    if not missing:
        return []
    return [f"still missing after a reminder: {', '.join(sorted(missing))}"]


@detector("B8_INCONSISTENT_WITH_FILE", {OPENING, CALLER_VERIFICATION_FAILED})
def _b8(ctx: Context, params: dict) -> list[str]:
    if ctx.event.name == CALLER_VERIFICATION_FAILED:
        failures = ctx.event.payload.get("failures", 0)
        items = ", ".join(ctx.event.payload.get("failed_items", []))
        return [
            f"{failures} failed caller verifications within {ctx.event.payload.get('window_hours', 24)} hours (last failed: {items})"
        ]
    if ctx.checklist is not None and ctx.checklist.inconsistent_with_file:
        return ["staff recorded identifying information not consistent with what is on file for this member"]
    return []


@detector("C1_CHANGE_AFTER_ADDRESS_CHANGE", {"member.name_changed", "account.party_added"})
def _c1(ctx: Context, params: dict) -> list[str]:
    from redflags.models import ObservedEvent

    member = ctx.member
    if member is None:
        return []
    window = datetime.timedelta(days=int(params.get("window_days", 30)))
    at = ctx.event.occurred_at
    change = (
        ObservedEvent.objects.filter(
            member_id=member.pk, event="member.address_changed", occurred_at__gte=at - window, occurred_at__lte=at
        )
        .order_by("-occurred_at")
        .first()
    )
    if change is None:
        return []
    what = (
        "a new authorized party was added"
        if ctx.event.name == "account.party_added"
        else "the account holder's name was changed"
    )
    return [f"address changed {_days(at - change.occurred_at)} before {what}"]


_PAYMENT_EVENTS = {"account.bill_recorded", "account.payment_recorded", "account.payment_returned", PAYMENT_SWEEP}


def _bill_history(account, today: datetime.date):
    bills = list(account.bills.exclude(status="void").order_by("issued_on", "id"))
    payments = list(account.payments.filter(returned=False).order_by("received_at"))
    return bills, payments


@detector("C2_NEW_ACCOUNT_PAYMENT_PATTERN", _PAYMENT_EVENTS)
def _c2(ctx: Context, params: dict) -> list[str]:
    account = ctx.account
    if account is None or account.opened_at is None:
        return []
    if ctx.now - account.opened_at > datetime.timedelta(days=int(params.get("new_account_days", 120))):
        return []
    today = timezone.localdate(ctx.now)
    bills, payments = _bill_history(account, today)
    overdue = [bill for bill in bills if bill.status == "open" and bill.due_on < today]
    if not overdue:
        return []
    if not payments:
        return [
            f"new account (opened {timezone.localdate(account.opened_at)}): first bill due {overdue[0].due_on} not paid"
        ]
    if len(payments) == 1 and overdue[-1].due_on > timezone.localdate(payments[0].received_at):
        return [f"new account: only the initial payment was made; bill due {overdue[-1].due_on} unpaid"]
    return []


@detector("C3_LATE_AFTER_TIMELY", _PAYMENT_EVENTS)
def _c3(ctx: Context, params: dict) -> list[str]:
    account = ctx.account
    if account is None:
        return []
    needed = int(params.get("timely_bills", 6))
    today = timezone.localdate(ctx.now)
    bills, payments = _bill_history(account, today)
    if len(bills) < needed + 1:
        return []
    latest = bills[-1]
    paid_by_bill: dict[int, datetime.date] = {}
    for payment in payments:
        if payment.bill_id:
            day = timezone.localdate(payment.received_at)
            paid_by_bill[payment.bill_id] = min(day, paid_by_bill.get(payment.bill_id, day))
    prior = bills[-(needed + 1) : -1]
    if not all(bill.pk in paid_by_bill and paid_by_bill[bill.pk] <= bill.due_on for bill in prior):
        return []
    if latest.status == "open" and latest.due_on < today:
        return [f"bill due {latest.due_on} unpaid after {needed} bills paid on time"]
    paid = paid_by_bill.get(latest.pk)
    if paid is not None and paid > latest.due_on:
        return [
            f"bill due {latest.due_on} paid {(paid - latest.due_on).days} days late after {needed} bills paid on time"
        ]
    return []


@detector("C4_MAIL_RETURNED_REPEATEDLY", {"account.mail_returned"})
def _c4(ctx: Context, params: dict) -> list[str]:
    from accounts.models import ReturnedMail

    member = ctx.member
    if member is None:
        return []
    days = int(params.get("window_days", 90))
    since = timezone.localdate(ctx.now) - datetime.timedelta(days=days)
    count = ReturnedMail.objects.filter(member_id=member.pk, returned_on__gte=since).count()
    if count < int(params.get("count", 2)):
        return []
    return [f"{count} pieces of mail returned as undeliverable within {days} days"]


@detector("C5_STATEMENTS_NOT_RECEIVED", {"account.statement_not_received"})
def _c5(ctx: Context, params: dict) -> list[str]:
    return ["the member reported that paper statements are not arriving"]


def _incident(kind: str, label: str) -> Detector:
    def detect(ctx: Context, params: dict) -> list[str]:
        if ctx.event.payload.get("incident_kind") != kind:
            return []
        incident = SecurityIncident.objects.filter(pk=ctx.event.payload.get("incident_id")).first()
        when = f" on {timezone.localdate(incident.occurred_at)}" if incident else ""
        return [f"{label} recorded (incident #{ctx.event.payload.get('incident_id')}{when})"]

    return detect


detector("C6_UNAUTHORIZED_ACTIVITY_NOTICE", {SECURITY_INCIDENT})(
    _incident("unauthorized_activity", "notice of unauthorized activity on this account")
)
detector("C7_SYSTEM_BREACH", {SECURITY_INCIDENT})(
    _incident("system_breach", "breach of the co-op's computer system affecting this account")
)
detector("C8_UNAUTHORIZED_ACCESS", {SECURITY_INCIDENT})(
    _incident("unauthorized_access", "unauthorized access to this account's information")
)


@detector("D1_IDENTITY_THEFT_NOTICE", {IDENTITY_THEFT_NOTICE, OPENING})
def _d1(ctx: Context, params: dict) -> list[str]:
    if ctx.event.name == IDENTITY_THEFT_NOTICE:
        notice = IdentityTheftNotice.objects.filter(pk=ctx.event.payload.get("notice_id")).first()
        if notice is None:
            return []
        return [
            f"notice of possible identity theft from {notice.get_reporter_display().lower()} on {timezone.localdate(notice.received_at)}"
        ]
    member = ctx.member
    if member is None:
        return []
    since = ctx.now - datetime.timedelta(days=int(params.get("window_days", 365)))
    notices = [row for row in ctx.member_notices if row["source"] == "notice" and row["received_at"] >= since]
    if not notices:
        return []
    return [
        f"this member was the subject of an identity-theft notice on {timezone.localdate(notices[0]['received_at'])}"
    ]


def _cra(kinds: set[str]) -> Detector:
    def detect(ctx: Context, params: dict) -> list[str]:
        if ctx.event.name == CRA_ALERT:
            if ctx.event.payload.get("alert_kind") not in kinds:
                return []
            alert = ConsumerReportAlert.objects.filter(pk=ctx.event.payload.get("alert_id")).first()
            if alert is None:
                return []
            return [
                f"{alert.get_kind_display().lower()} reported by {alert.agency} on {timezone.localdate(alert.received_at)}"
            ]
        member = ctx.member
        if member is None:
            return []
        since = ctx.now - datetime.timedelta(days=int(params.get("window_days", 365)))
        alerts = [alert for alert in _recent_alerts(ctx, since) if alert["kind"] in kinds]
        if not alerts:
            return []
        latest = alerts[0]
        label = ConsumerReportAlert.Kind(latest["kind"]).label.lower()
        return [f"{label} on file from {latest['agency']} ({timezone.localdate(latest['received_at'])})"]

    return detect


def _recent_alerts(ctx: Context, since: datetime.datetime) -> list:
    return [row for row in ctx.member_notices if row["source"] == "cra" and row["received_at"] >= since]


detector("CRA1_FRAUD_OR_ACTIVE_DUTY_ALERT", {CRA_ALERT, OPENING})(_cra({"fraud_alert", "active_duty_alert"}))
detector("CRA2_CREDIT_FREEZE", {CRA_ALERT, OPENING})(_cra({"credit_freeze"}))
detector("CRA3_ADDRESS_DISCREPANCY", {CRA_ALERT, OPENING})(_cra({"address_discrepancy"}))
detector("CRA4_INCONSISTENT_REPORT_PATTERN", {CRA_ALERT, OPENING})(_cra({"inconsistent_pattern"}))

assert set(DETECTORS) == {entry["code"] for entry in CATALOGUE}, "every catalogue rule needs a detector"  # noqa: S101


# --- evaluation --------------------------------------------------------------------------------


def program_settings() -> ProgramSettings:
    settings, _ = ProgramSettings.objects.get_or_create(pk=1)
    return settings


def active_versions() -> list[RuleVersion]:
    return list(RuleVersion.objects.filter(status=RuleVersion.Status.ACTIVE).select_related("rule"))


_SETTINGS_FIELDS = (
    "program_version",
    "warn_threshold",
    "hold_threshold",
    "caller_failures_to_flag",
    "caller_failure_window_hours",
)


# Active versions by id. A version that has ever been live is immutable (a database trigger refuses
# any change but its retirement), so a cached object for an id that is still active is exact.
_VERSION_CACHE: dict[int, RuleVersion] = {}


def settings_and_active_versions() -> tuple[ProgramSettings, list[RuleVersion]]:
    """The thresholds and the ids of the active rule set in one small query, read fresh every time.

    An activation, retirement or threshold change therefore applies to the very next event in every
    process; only the version objects themselves are reused (see _VERSION_CACHE).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.program_version, s.warn_threshold, s.hold_threshold, s.caller_failures_to_flag, s.caller_failure_window_hours, "
            "(SELECT array_agg(v.id ORDER BY v.id) FROM redflags_ruleversion v WHERE v.status = 'active') "
            "FROM redflags_programsettings s WHERE s.id = 1"
        )
        row = cursor.fetchone()
    if row is None:
        return program_settings(), active_versions()
    settings = ProgramSettings(pk=1, **dict(zip(_SETTINGS_FIELDS, row[:5], strict=True)))
    ids = list(row[5] or [])
    missing = [pk for pk in ids if pk not in _VERSION_CACHE]
    if missing:
        for version in RuleVersion.objects.filter(pk__in=missing).select_related("rule"):
            _VERSION_CACHE[version.pk] = version
    return settings, [_VERSION_CACHE[pk] for pk in ids if pk in _VERSION_CACHE]


def clear_version_cache() -> None:
    _VERSION_CACHE.clear()


def outcome_for(score: int, fired: list[Fired], settings: ProgramSettings) -> str:
    outcome = Outcome.RECORD
    if score >= settings.hold_threshold:
        outcome = Outcome.HOLD
    elif score >= settings.warn_threshold:
        outcome = Outcome.WARN
    for item in fired:
        if Outcome.rank(item.version.minimum_outcome) > Outcome.rank(outcome):
            outcome = item.version.minimum_outcome
    return str(outcome)


def evaluate(
    event: Event,
    *,
    versions: list[RuleVersion] | None = None,
    settings: ProgramSettings | None = None,
    context: Context | None = None,
    now: datetime.datetime | None = None,
) -> Result:
    """Score one event. ``versions`` replaces the active set (dry runs); nothing is written."""
    if settings is None and versions is None:
        settings, versions = settings_and_active_versions()
    settings = settings or program_settings()
    versions = active_versions() if versions is None else versions
    ctx = context or Context(event, now=now)
    fired: list[Fired] = []
    for version in sorted(versions, key=lambda v: v.rule.code):
        spec = DETECTORS.get(version.rule.code)
        if spec is None or event.name not in spec.events:
            continue
        evidence = spec.detect(ctx, version.parameters or {})
        if evidence:
            fired.append(Fired(version=version, evidence=evidence))
    score = sum(item.version.weight for item in fired)
    return Result(
        event=event,
        score=score,
        outcome=outcome_for(score, fired, settings),
        fired=fired,
        program_version=settings.program_version,
        warn_threshold=settings.warn_threshold,
        hold_threshold=settings.hold_threshold,
    )


def caller_failures(member_id: int, *, since: datetime.datetime) -> int:
    return CallerVerificationAttempt.objects.filter(member_id=member_id, at__gte=since, passed=False).count()
