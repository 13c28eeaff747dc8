"""The detectors of the Red Flags program: one function per rule of the catalogue, keyed by its code.

Adding a Red Flag touches two files: its entry in ``redflags/catalogue.py`` (wording, weight, minimum
outcome, parameters) and its detector here, registered with ``@detector(code, events)``. The events a
detector names decide what is scored: a registry event (``members/signals.py``) named here is watched
(``engine.WATCHED_REGISTRY_EVENTS`` follows from this module), the program's own events are in
``redflags/events.py``. A detector reads the ``Context`` and the rule version's ``parameters`` and
returns evidence, never writes.

Evidence is text a person can read. It names other members by member number and says *which kind*
of identifier matched, never the value.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import phonenumbers
from django.utils import timezone

from accounts.models import ReturnedMail
from members.models import AuditEvent
from redflags.catalogue import CATALOGUE
from redflags.context import Context
from redflags.events import (
    ACCESS_ANOMALY,
    CALLER_VERIFICATION_FAILED,
    CRA_ALERT,
    IDENTITY_THEFT_NOTICE,
    IMPORT_SCAN,
    OPENING,
    PAYMENT_SWEEP,
    SECURITY_INCIDENT,
    TAX_ID_SCAN,
)
from redflags.models import (
    ConsumerReportAlert,
    IdentityTheftNotice,
    KnownFraudEntry,
    SecurityIncident,
)

# Evidence names at most this many other members ("M1, M2, M3 and 4 more").
MAX_NAMED = 3

KIND_LABEL = {
    "tax_id": "SSN/TIN",
    "licence": "driver's licence",
    "phone": "phone",
    "email": "email",
    "address": "address",
    "bank_account": "bank account",
}

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


def _member_list(numbers: list[str]) -> str:
    shown = ", ".join(numbers[:MAX_NAMED])
    more = len(numbers) - MAX_NAMED
    return f"{shown} and {more} more" if more > 0 else shown


def _days(delta: datetime.timedelta) -> str:
    days = delta.days
    return "the same day" if days == 0 else ("1 day" if days == 1 else f"{days} days")


def _checklist_flag(attribute: str, text: str) -> Detector:
    def detect(ctx: Context, params: dict) -> list[str]:
        checklist = ctx.checklist
        return [text] if checklist is not None and getattr(checklist, attribute) else []

    return detect


# Red Flags that are one item of the opening checklist: code -> (checklist item, evidence).
CHECKLIST_FLAGS = {
    "A1_FORGED_ID": ("document_appears_forged", "staff recorded the identification as appearing forged or altered"),
    "A2_PHOTO_MISMATCH": (
        "photo_or_description_mismatch",
        "staff recorded that the photo or description does not match the person presenting it",
    ),
    "A3_DOCUMENTS_INCONSISTENT": (
        "other_documents_inconsistent",
        "staff recorded other documentation (signature, check) inconsistent with customer information",
    ),
    "A4_APPLICATION_ALTERED": (
        "application_altered",
        "staff recorded the application as altered, forged or reassembled",
    ),
}
for _code, (_item, _evidence) in CHECKLIST_FLAGS.items():
    detector(_code, {OPENING})(_checklist_flag(_item, _evidence))


@detector("V1_IDENTITY_NOT_VERIFIED", {OPENING})
def _v1(ctx: Context, params: dict) -> list[str]:
    """Detection steps (1)-(3): the opening records how identity was verified, or it is held."""
    checklist = ctx.checklist
    if checklist is None:
        return ["no identity verification was recorded for this opening (detection steps 1-2)"]
    business = ctx.member is not None and ctx.member.kind == "business"
    missing = []
    if business and not checklist.business_documentation_reviewed:
        missing.append("no documentation showing the business entity exists was reviewed (step 3)")
    if not business and not checklist.identity_document_reviewed:
        missing.append("no driver's licence or other identification was copied and reviewed (step 2)")
    if not (checklist.documents_seen or checklist.identity_document_type):
        missing.append("no identity document type was recorded as seen")
    return [f"identity not verified at opening: {item}" for item in missing]


@detector("B1_INCONSISTENT_WITH_SOURCES", {OPENING})
def _b1(ctx: Context, params: dict) -> list[str]:
    checklist = ctx.checklist
    if checklist is None:
        return []
    evidence = []
    if checklist.inconsistent_with_other_sources:
        evidence.append("staff recorded identifying information inconsistent with other sources")
    if checklist.document_name_matches is False:
        evidence.append("the name on the identity document differs from the name on the application")
    return evidence


@detector("B2_INCONSISTENT_WITH_APPLICANT", {OPENING})
def _b2(ctx: Context, params: dict) -> list[str]:
    checklist = ctx.checklist
    if checklist is None:
        return []
    evidence = []
    if checklist.document_date_of_birth_matches is False:
        evidence.append("the birth date on the identity document differs from the one given on the application")
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
    IMPORT_SCAN,
    "member.online_access_enrolled",
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
    others = ctx.duplicates("tax_id")
    if not others:
        return []
    label = "SSN" if ctx.member.ssn else "TIN"
    return [f"{label} matches member {_member_list([other.member_number for other in others])}"]


@detector("B9_LICENCE_SHARED", {OPENING, "member.identifiers_changed"})
def _b9(ctx: Context, params: dict) -> list[str]:
    if ctx.event.name != OPENING and "licence" not in ctx.event.new_indexes:
        return []
    others = ctx.duplicates("licence")
    if not others:
        return []
    return [f"driver's licence matches member {_member_list([other.member_number for other in others])}"]


@detector("B6_ADDRESS_OR_PHONE_SHARED", {OPENING, "member.address_changed", "member.phone_changed", IMPORT_SCAN})
def _b6(ctx: Context, params: dict) -> list[str]:
    evidence = []
    for kind in ("address", "phone"):
        if ctx.event.name != OPENING and kind not in ctx.event.new_indexes:
            continue
        others = ctx.duplicates(kind)
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
        hours = ctx.event.payload.get("window_hours", 24)
        return [f"{failures} failed caller verifications within {hours} hours (last failed: {items})"]
    if ctx.checklist is not None and ctx.checklist.inconsistent_with_file:
        return ["staff recorded identifying information not consistent with what is on file for this member"]
    return []


_C1_WHAT = {
    "account.party_added": "a new authorized party was added",
    "member.name_changed": "the account holder's name was changed",
    "member.online_access_enrolled": "online access to the account was set up",
}


@detector("C1_CHANGE_AFTER_ADDRESS_CHANGE", set(_C1_WHAT))
def _c1(ctx: Context, params: dict) -> list[str]:
    """From the committed history (the audit trail), not from the events scored so far.

    The address change's audit row is written in the address change's own transaction, so it exists
    as soon as that change committed, whichever of the two after-commit tasks runs first.
    """
    member = ctx.member
    if member is None:
        return []
    window = datetime.timedelta(days=int(params.get("window_days", 30)))
    at = ctx.event.occurred_at
    change = (
        AuditEvent.objects.filter(
            object_type="members.member",
            object_id=str(member.pk),
            action="member.address_changed",
            at__gte=at - window,
            at__lte=at,
        )
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    if change is None:
        return []
    return [f"address changed {_days(at - change)} before {_C1_WHAT[ctx.event.name]}"]


_PAYMENT_EVENTS = {"account.bill_recorded", "account.payment_recorded", "account.payment_returned", PAYMENT_SWEEP}


def _bill_history(account):
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
    bills, payments = _bill_history(account)
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
    bills, payments = _bill_history(account)
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
_c8_incident = _incident("unauthorized_access", "unauthorized access to this account's information")


@detector("C8_UNAUTHORIZED_ACCESS", {SECURITY_INCIDENT, ACCESS_ANOMALY})
def _c8(ctx: Context, params: dict) -> list[str]:
    """An incident staff recorded, or the access-log scan (redflags/cases/access_scan.py)."""
    if ctx.event.name == ACCESS_ANOMALY:
        payload = ctx.event.payload
        return [
            f"access log: staff member {payload.get('staff')} viewed or revealed this member's record with no open "
            f"work (access anomaly #{payload.get('anomaly_id')})"
        ]
    return _c8_incident(ctx, params)


@detector("D1_IDENTITY_THEFT_NOTICE", {IDENTITY_THEFT_NOTICE, OPENING})
def _d1(ctx: Context, params: dict) -> list[str]:
    if ctx.event.name == IDENTITY_THEFT_NOTICE:
        notice = IdentityTheftNotice.objects.filter(pk=ctx.event.payload.get("notice_id")).first()
        if notice is None:
            return []
        reporter = notice.get_reporter_display().lower()
        return [f"notice of possible identity theft from {reporter} on {timezone.localdate(notice.received_at)}"]
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
            kind = alert.get_kind_display().lower()
            return [f"{kind} reported by {alert.agency} on {timezone.localdate(alert.received_at)}"]
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
