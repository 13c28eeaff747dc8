"""Caller verification (internal procedure 7): what the caller states against the record, per item.

Staff type what the caller states; each item is compared with the record (SSN last four in constant
time, the date of birth of this one member decrypted, address and phone through their canonical forms
and blind index) and answered match / no match. Nothing stated is stored, returned or logged: the
attempt keeps the results per item. The Nth failure within the program's window raises B8
(inconsistent with what is on file), once per window.
"""

from __future__ import annotations

import datetime
import hmac
from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from members import crypto
from members.audit import audit_record
from members.models import Member, User
from redflags import engine
from redflags.events import CALLER_VERIFICATION_FAILED
from redflags.models import CallerVerificationAttempt, ObservedEvent, ProgramSettings
from redflags.services.assessments import program_event_assess


def _same(left: str, right: str) -> bool:
    return bool(left) and bool(right) and hmac.compare_digest(left.encode(), right.encode())


def _ssn_last4_matches(member: Member, stated: str) -> bool:
    digits = crypto.ascii_digits(stated)
    return len(digits) == 4 and _same(digits, member.ssn_last4)


def _date_of_birth_matches(member: Member, stated: datetime.date) -> bool:
    return member.date_of_birth is not None and stated == member.date_of_birth


def _address_matches(member: Member, stated: tuple) -> bool:
    on_file = (
        member.mailing_line1,
        member.mailing_line2,
        member.mailing_city,
        member.mailing_state,
        member.mailing_postal_code,
    )
    try:
        return _same(crypto.blind_index("address", stated), member.address_index) and crypto.canonical(
            "address", stated
        ) == crypto.canonical("address", on_file)
    except crypto.CanonicalisationError:
        return False


def _phone_matches(member: Member, stated: str) -> bool:
    try:
        return _same(
            crypto.canonical("phone", stated),
            crypto.canonical("phone", member.phone) if member.phone else "",
        )
    except crypto.CanonicalisationError:
        return False


# The items a caller can state, in the order the page shows the answers, each with its comparison.
CALLER_ITEMS: dict[str, Callable[[Member, Any], bool]] = {
    "ssn_last4": _ssn_last4_matches,
    "date_of_birth": _date_of_birth_matches,
    "address": _address_matches,
    "phone": _phone_matches,
}


# Independent factors: what only the member should know (SSN last 4, date of birth) and where the
# member can be reached (address, phone). Address and phone are both in a phone book and caller ID can
# be spoofed, so a verification passes only with at least two matching factors of which at least one
# is a knowledge factor: never on the phone number alone, nor on address and phone together.
KNOWLEDGE_FACTORS = frozenset({"ssn_last4", "date_of_birth"})
FACTORS_NEEDED = 2


def caller_verification_passed(results: dict[str, bool]) -> bool:
    """Every stated item matched, at least two did, and at least one is a knowledge factor."""
    matched = {item for item, ok in results.items() if ok}
    return all(results.values()) and len(matched) >= FACTORS_NEEDED and bool(matched & KNOWLEDGE_FACTORS)


def caller_verify(*, member: Member, staff: User, stated: dict) -> dict[str, bool]:
    """Compare what the caller states with the record; answer match / no match per item.

    Only items the caller stated are checked; at least two, one of them the SSN last 4 or the date
    of birth (``caller_verification_passed``). Nothing stated is stored or returned; the attempt keeps
    which factors passed. Repeated failures within the program's window raise B8 (inconsistent with
    what is on file). ``staff`` is the actor: a signed-in staff member (``verify_caller`` permission).
    """
    given = {item for item in CALLER_ITEMS if stated.get(item)}
    if len(given) < FACTORS_NEEDED or not given & KNOWLEDGE_FACTORS:
        raise ValidationError(
            "ask the caller for at least two items, one of them the SSN last 4 or the date of birth: "
            "a phone number (or an address) alone never verifies a caller"
        )
    results = {item: matches(member, stated[item]) for item, matches in CALLER_ITEMS.items() if item in given}
    passed = caller_verification_passed(results)
    settings = engine.program_settings()
    with transaction.atomic():
        attempt = CallerVerificationAttempt.objects.create(member=member, staff=staff, results=results, passed=passed)
        audit_record(
            actor=staff,
            action="redflags.caller_verification",
            obj=attempt,
            fields=sorted(results),
            detail={
                "member_id": member.pk,
                "passed": passed,
                "results": {key: ("match" if ok else "no match") for key, ok in results.items()},
                "factors_passed": sorted(key for key, ok in results.items() if ok),
            },
        )
        if not passed:
            _flag_repeated_failures(member=member, staff=staff, results=results, settings=settings)
    return results


def _flag_repeated_failures(
    *, member: Member, staff: User, results: dict[str, bool], settings: ProgramSettings
) -> None:
    """B8 once the failures within the window reach the program's count (once per window)."""
    since = timezone.now() - datetime.timedelta(hours=settings.caller_failure_window_hours)
    failures = CallerVerificationAttempt.objects.filter(member_id=member.pk, at__gte=since, passed=False).count()
    if failures < settings.caller_failures_to_flag:
        return
    already = ObservedEvent.objects.filter(
        event=CALLER_VERIFICATION_FAILED, member_id=member.pk, occurred_at__gte=since
    ).exists()
    if already:
        return
    program_event_assess(
        CALLER_VERIFICATION_FAILED,
        member_id=member.pk,
        account_id=None,
        actor=staff,
        payload={
            "failures": failures,
            "window_hours": settings.caller_failure_window_hours,
            "failed_items": sorted(k for k, ok in results.items() if not ok),
        },
    )
