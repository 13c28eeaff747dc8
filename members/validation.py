"""Validation of registry input: one place for the rules, field-level messages, nothing half-saved.

Every path (services, admin forms, API serializers, the CIS import) calls these before writing. Each
``clean_*`` returns the canonical value to store or raises ``django.core.exceptions.ValidationError``;
``Collector`` gathers errors per field so a caller gets all of them at once as
``ValidationError({"ssn": [...], "phone": [...]})`` and the service writes nothing.

Messages never echo the rejected value (it may be somebody's real SSN typed into the wrong box).
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from members.crypto import CanonicalisationError, ascii_digits, canonical_phone, nfkc

US_STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI".split()
)
# Numbers the SSA has voided or that circulate as examples (Woolworth wallet card, the 1940s ad card).
_VOIDED_SSNS = frozenset({"078051120", "219099999"})
# EIN prefixes the IRS has never assigned (irs.gov "How EINs are assigned and valid EIN prefixes").
_INVALID_EIN_PREFIXES = frozenset(
    {"00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70", "78", "79", "89", "96", "97"}
)

_SSN_SHAPE = re.compile(r"^[0-9]{3}[- ]?[0-9]{2}[- ]?[0-9]{4}$")
_EIN_SHAPE = re.compile(r"^[0-9]{2}-?[0-9]{7}$")
_DIGITS_SEPARATORS = re.compile(r"^[0-9 \-]+$")
# Compiled once: re.match(str, ...) pays a cache lookup per call, measurable at 100,000 import rows.
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_ZIP = re.compile(r"^[0-9]{5}(-?[0-9]{4})?$")
_SPACE_OR_HYPHEN = re.compile(r"[\s\-]")
_LICENCE = re.compile(r"^[A-Z0-9]{4,20}$")
_SPACE = re.compile(r"\s")
_PASSPORT = re.compile(r"^[A-Z0-9]{6,9}$")
_ALIEN_REGISTRATION = re.compile(r"^A?[0-9]{7,9}$")
_ROUTING = re.compile(r"^[0-9]{9}$")
MINIMUM_AGE_YEARS = 18
MAXIMUM_AGE_YEARS = 120


def clean_ssn(value: str) -> str:
    """Nine ASCII digits per SSA rules: no area 000, 666 or 900-999, no group 00, no serial 0000."""
    text = nfkc(value)
    if not _SSN_SHAPE.match(text):
        raise ValidationError("Enter a Social Security number as nine digits (123-45-6789).", code="ssn_format")
    digits = ascii_digits(text)
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in {"000", "666"} or area >= "900":
        raise ValidationError(
            "This is not a valid Social Security number: the first three digits are never issued.", code="ssn_area"
        )
    if group == "00":
        raise ValidationError(
            "This is not a valid Social Security number: the middle two digits cannot be 00.", code="ssn_group"
        )
    if serial == "0000":
        raise ValidationError(
            "This is not a valid Social Security number: the last four digits cannot be 0000.", code="ssn_serial"
        )
    if digits in _VOIDED_SSNS:
        raise ValidationError("This Social Security number was voided by the SSA.", code="ssn_voided")
    return digits


def clean_ein(value: str) -> str:
    text = nfkc(value)
    if not _EIN_SHAPE.match(text):
        raise ValidationError("Enter an employer identification number as nine digits (12-3456789).", code="ein_format")
    digits = ascii_digits(text)
    if digits[:2] in _INVALID_EIN_PREFIXES:
        raise ValidationError(
            "This is not a valid employer identification number: the IRS does not issue that prefix.", code="ein_prefix"
        )
    return digits


def clean_date_of_birth(value: datetime.date | str, *, today: datetime.date | None = None) -> datetime.date:
    if isinstance(value, str):
        text = nfkc(value)
        if not _ISO_DATE.match(text):
            raise ValidationError("Enter the date of birth as YYYY-MM-DD.", code="dob_format")
        try:
            value = datetime.date.fromisoformat(text)
        except ValueError:
            raise ValidationError("Enter a real calendar date of birth.", code="dob_format") from None
    if isinstance(value, datetime.datetime):
        value = value.date()
    today = today or timezone.localdate()
    if value > today:
        raise ValidationError("The date of birth is in the future.", code="dob_future")
    age = today.year - value.year - ((today.month, today.day) < (value.month, value.day))
    if age < MINIMUM_AGE_YEARS:
        raise ValidationError(f"A member must be at least {MINIMUM_AGE_YEARS} years old.", code="dob_too_young")
    if age > MAXIMUM_AGE_YEARS:
        raise ValidationError("The date of birth is implausibly long ago.", code="dob_too_old")
    return value


# Numbers that circulate as examples or that legacy systems put in when the real number was not known:
# they pass the SSA's shape rules but belong to nobody (or to too many people), so an import reports them
# like a never-issued number rather than making unrelated members "share an SSN" (Red Flag B5).
_EXAMPLE_SSNS = frozenset({"123456789", "987654320", "987654321", "012345678", "078051120", "219099999"})
_PHONE_EXTENSION = re.compile(
    r"^(?P<phone>.*?\d)\s*[,;]?\s*(?:ext\.?|extension|x|#)\s*(?P<extension>\d{1,8})\s*$", re.I
)


def clean_imported_ssn(value: str) -> str:
    """``clean_ssn`` plus the placeholders a legacy system holds for "unknown": one digit repeated
    (111-11-1111) and the well-known example and test numbers. Used by the CIS import and migration."""
    digits = clean_ssn(value)
    if len(set(digits)) == 1 or digits in _EXAMPLE_SSNS:
        raise ValidationError(
            "This is a placeholder or example Social Security number, not a member's.", code="ssn_placeholder"
        )
    return digits


def split_phone_extension(value: str) -> tuple[str, str]:
    """``("(217) 555-0140", "2201")`` for ``"(217) 555-0140 ext. 2201"`` (also ``x2201``, ``#2201``,
    ``extension 2201``); ``(value, "")`` when there is none. The import keeps the extension in its own
    field instead of letting the phone cleaner drop it."""
    if not value or not any(char in value for char in "xXtT#"):
        return value, ""
    found = _PHONE_EXTENSION.match(nfkc(value))
    return (found.group("phone"), found.group("extension")) if found else (value, "")


def clean_phone_extension(value: str) -> str:
    text = nfkc(value).strip()
    if text and not (text.isascii() and text.isdigit() and len(text) <= 8):
        raise ValidationError("Enter the phone extension as up to eight digits.", code="phone_extension")
    return text


def clean_phone(value: str) -> str:
    try:
        return canonical_phone(value)
    except CanonicalisationError:
        raise ValidationError(
            "Enter a valid phone number, e.g. (217) 555-0123 or +1 217 555 0123.", code="phone"
        ) from None


# A strict subset of what Django's EmailValidator accepts (dot-atom local part without the rarer
# symbols, LDH domain labels, an alphabetic TLD). Addresses of this shape (nearly all real ones) skip
# the validator, whose per-call overhead was a fifth of the CIS import's validation time; anything
# else still goes through Django's validator. tests/registry/test_validation_email.py checks the subset.
_PLAIN_EMAIL = re.compile(
    r"^[a-z0-9_%+\-]+(?:\.[a-z0-9_%+\-]+)*@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\Z"
)


def clean_email(value: str) -> str:
    text = nfkc(value).casefold()
    if len(text) <= 320 and _PLAIN_EMAIL.match(text):
        return text
    try:
        validate_email(text)
    except ValidationError:
        raise ValidationError("Enter a valid email address.", code="email") from None
    return text


def clean_state(value: str) -> str:
    state = nfkc(value).upper()
    if state not in US_STATES:
        raise ValidationError("Enter a two-letter US state or territory code.", code="state")
    return state


def clean_postal_code(value: str) -> str:
    text = nfkc(value)
    if not _ZIP.match(text):
        raise ValidationError("Enter a ZIP code as 5 digits or ZIP+4 (62701-1234).", code="postal_code")
    digits = ascii_digits(text)
    return digits if len(digits) == 5 else f"{digits[:5]}-{digits[5:]}"


def clean_address_line(value: str, *, required: bool = True) -> str:
    text = " ".join(nfkc(value).split())
    if required and not text:
        raise ValidationError("This part of the address is required.", code="required")
    if len(text) > 200:
        raise ValidationError("Keep this line under 200 characters.", code="max_length")
    return text


def clean_optional_address_line(value: str) -> str:
    """A second address line: may be empty."""
    return clean_address_line(value, required=False)


def clean_licence_number(value: str) -> str:
    text = _SPACE_OR_HYPHEN.sub("", nfkc(value).upper())
    if not _LICENCE.match(text):
        raise ValidationError("Enter the licence number as 4-20 letters and digits.", code="licence")
    return text


def clean_passport_number(value: str) -> str:
    text = _SPACE.sub("", nfkc(value).upper())
    if not _PASSPORT.match(text):
        raise ValidationError("Enter a passport number as 6-9 letters and digits.", code="passport")
    return text


def clean_alien_registration_number(value: str) -> str:
    text = _SPACE_OR_HYPHEN.sub("", nfkc(value).upper())
    if not _ALIEN_REGISTRATION.match(text):
        raise ValidationError(
            "Enter an alien registration number as A followed by 7-9 digits.", code="alien_registration"
        )
    return "A" + text.lstrip("A")


def clean_member_number(value: str) -> str:
    """Up to 20 ASCII letters, digits and hyphens, stored upper-case (searches match it exactly)."""
    number = nfkc(value).upper()
    if not number or len(number) > 20 or not number.isascii() or not number.replace("-", "").isalnum():
        raise ValidationError("A member number is up to 20 letters and digits.", code="member_number")
    return number


def clean_routing_number(value: str) -> str:
    text = nfkc(value)
    if not _ROUTING.match(text):
        raise ValidationError("Enter a routing number as nine digits.", code="routing_format")
    weights = (3, 7, 1) * 3
    if sum(int(digit) * weight for digit, weight in zip(text, weights, strict=True)) % 10:
        raise ValidationError("This routing number fails the ABA check digit.", code="routing_checksum")
    return text


def clean_bank_account_number(value: str) -> str:
    text = nfkc(value)
    if not _DIGITS_SEPARATORS.match(text) or not 4 <= len(ascii_digits(text)) <= 17:
        raise ValidationError("Enter a bank account number as 4-17 digits.", code="bank_account")
    return ascii_digits(text)


def clean_amount(value: Any, *, allow_zero: bool = False) -> Decimal:
    try:
        amount = Decimal(str(nfkc(str(value))))
    except (InvalidOperation, ValueError):
        raise ValidationError("Enter an amount such as 112.40.", code="amount") from None
    if not amount.is_finite() or amount.as_tuple().exponent < -2:
        raise ValidationError("Enter an amount with at most two decimal places.", code="amount")
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationError("The amount must be greater than zero.", code="amount")
    return amount


_T = TypeVar("_T")


class Collector:
    """Runs cleaners per field, keeps every message, raises once: ``ValidationError({field: [...]})``."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.cleaned: dict[str, Any] = {}

    def clean(self, field: str, cleaner: Callable[..., Any], value: Any, **kwargs) -> Any:
        try:
            result = cleaner(value, **kwargs)
        except ValidationError as exc:
            self.errors.setdefault(field, []).extend(exc.messages)
            return None
        self.cleaned[field] = result
        return result

    def add(self, field: str, message: str) -> None:
        self.errors.setdefault(field, []).append(message)

    def raise_if_errors(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)

    def require(self, value: _T | None) -> _T:
        """``value`` once every error is raised: a cleaner that failed returned ``None`` and added an error,
        so after ``raise_if_errors`` a ``None`` here is a caller's bug, refused rather than passed on."""
        self.raise_if_errors()
        if value is None:
            raise ValueError("a cleaned value is missing although no field error was collected")
        return value


# Bidirectional overrides/isolates and zero-width characters (Trojan Source, CVE-2021-42574): in a name
# they reorder or hide what staff read on a screen, in a letter or an export. Any other invisible
# formatting character (Unicode category Cf) is refused with them.
_HIDDEN_FORMAT = {0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, *range(0x202A, 0x202F)}
_HIDDEN_FORMAT |= set(range(0x2066, 0x206A))


def hidden_format_characters(text: str) -> list[str]:
    """The invisible or direction-changing characters in ``text``, as ``U+202E`` names."""
    found = []
    for ch in text:
        if ord(ch) in _HIDDEN_FORMAT or unicodedata.category(ch) == "Cf":
            label = f"U+{ord(ch):04X}"
            if label not in found:
                found.append(label)
    return found


def name_problem(text: str) -> str:
    """A message naming the invisible or direction-changing characters of a name, or ``""`` if none."""
    hidden = hidden_format_characters(text)
    if not hidden:
        return ""
    return (
        f"The name contains an invisible or text-direction character ({', '.join(hidden)}); type the name without it."
    )
