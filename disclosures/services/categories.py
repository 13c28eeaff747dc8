"""What each data category releases, and the check every service runs on a list of categories.

``member_number`` keys every exported row. Identifiers outside every category (driver's licence,
passport, alien registration, bank accounts) are never exportable: no category names them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError

from disclosures.models import DataCategory
from members.identifiers import fields_in_data_category

C = DataCategory

# Seed 000 G: a membership list is names and mailing addresses, nothing else.
MEMBERSHIP_LIST_FIELDS = (
    "legal_name",
    "mailing_line1",
    "mailing_line2",
    "mailing_city",
    "mailing_state",
    "mailing_postal_code",
)
# Member-level columns per category. Contact and billing fields are declared with the member's fields
# (members/identifiers.py); capital totals are computed per member, and usage is exported on its own
# (monthly rows, or Green Button).
CATEGORY_FIELDS: dict[str, tuple[str, ...]] = {
    C.CONTACT: fields_in_data_category(C.CONTACT),
    C.BILLING: fields_in_data_category(C.BILLING),
    C.CAPITAL: ("capital_allocated_total", "capital_retired_total"),
    C.USAGE: ("account_number", "month", "channel", "kwh"),
}
# Categories MemberGuard does not hold (surveys, services data, imaging, recordings): consent may be
# recorded for A.5/A.6, but there is nothing here to release.
NOT_HELD = frozenset({C.SURVEYS, C.SERVICES, C.IMAGING, C.RECORDINGS})


def clean_categories(categories: Iterable[str]) -> list[str]:
    """The categories sorted and deduplicated, or ``ValidationError`` for none or an unknown one."""
    cats = sorted(set(categories))
    if not cats:
        raise ValidationError("Choose at least one data category.")
    unknown = [c for c in cats if c not in C.values]
    if unknown:
        raise ValidationError(f"Unknown data categories: {', '.join(unknown)}")
    return cats
