"""Masked representations of registry values, shared by admin, API, CSV exports and the portal.

The masked forms are built from columns kept in clear for that purpose (``ssn_last4``,
``FinancialAccount.last4``, licence state), so list pages never decrypt anything. Full values appear
only through a reveal (members.services.member_reveal), which is permissioned, reasoned, time-limited
and audited. Which rule masks which field is declared in members/identifiers.py (``SensitiveField.mask``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from members import identifiers
from members.identifiers import Mask, SensitiveField
from members.models import FinancialAccount, Member

MASK = "********"
ON_FILE = "on file (masked)"
NOT_ON_FILE = ""


def mask_ssn(last4: str) -> str:
    return f"***-**-{last4}" if last4 else NOT_ON_FILE


def mask_tin(last4: str) -> str:
    return f"**-***{last4}" if last4 else NOT_ON_FILE


def mask_tax_id(member: Member) -> str:
    """``***-**-6789`` for a person's SSN, ``**-***6789`` for a business TIN, from ``ssn_last4`` only."""
    return mask_tax_id_of(member.kind, member.ssn_last4)


def mask_tax_id_of(kind: str, last4: str) -> str:
    """:func:`mask_tax_id` from the two columns it reads (for lists that read plain values)."""
    if not last4:
        return NOT_ON_FILE
    return mask_tin(last4) if kind == Member.Kind.BUSINESS else mask_ssn(last4)


def mask_presence(has_value: bool, prefix: str = "") -> str:
    if not has_value:
        return NOT_ON_FILE
    return f"{prefix} {MASK}".strip()


def mask_date_of_birth(has_value: bool) -> str:
    return "**/**/****" if has_value else NOT_ON_FILE


def mask_licence(member: Member) -> str:
    return mask_presence(bool(member.licence_index), member.drivers_licence_state)


def mask_bank_account(last4: str) -> str:
    return f"****{last4}" if last4 else NOT_ON_FILE


def mask_financial_account(financial: FinancialAccount) -> str:
    label = "card" if financial.kind == FinancialAccount.Kind.CARD else "bank"
    return f"{label} {mask_bank_account(financial.last4)}".strip()


def _has_date_of_birth(member: Member) -> bool:
    # Selectors annotate ``has_date_of_birth`` (an IS NOT NULL test) so lists never load the ciphertext.
    annotated = getattr(member, "has_date_of_birth", None)
    if annotated is not None:
        return bool(annotated)
    if "date_of_birth" in member.__dict__:
        return member.__dict__["date_of_birth"] is not None
    return member.kind == Member.Kind.PERSON


def _on_file(instance: Any, field: SensitiveField) -> str:
    # The field's blind index says whether a value is on file, without decrypting it.
    return mask_presence(bool(getattr(instance, field.index)))


def _date(instance: Any, field: SensitiveField) -> str:
    if field.name == "date_of_birth":
        return mask_date_of_birth(_has_date_of_birth(instance))
    return mask_date_of_birth(getattr(instance, field.name) is not None)


# One rule per ``identifiers.Mask``: (the instance, its declared field) -> what staff see by default.
MASK_RULES: dict[Mask, Callable[[Any, SensitiveField], str]] = {
    Mask.CLEAR: lambda instance, field: str(getattr(instance, field.name) or ""),
    Mask.TAX_ID_PERSON: lambda member, field: (
        NOT_ON_FILE if member.kind == Member.Kind.BUSINESS else mask_ssn(member.ssn_last4)
    ),
    Mask.TAX_ID_BUSINESS: lambda member, field: (
        mask_tin(member.ssn_last4) if member.kind == Member.Kind.BUSINESS else NOT_ON_FILE
    ),
    Mask.DATE: _date,
    Mask.LICENCE: lambda member, field: mask_licence(member),
    Mask.ON_FILE: _on_file,
    Mask.FINANCIAL_ACCOUNT: lambda financial, field: mask_financial_account(financial),
    Mask.HIDDEN: lambda instance, field: NOT_ON_FILE,
}


def masked_value(instance: Any, field: SensitiveField) -> str:
    """What staff see of one declared field by default."""
    return MASK_RULES[field.mask](instance, field)


def masked_member(member: Member) -> dict[str, str]:
    """The identifying information of a member as staff see it by default (no decryption): one entry per
    ``shown_as`` key of the declared identifiers (``tax_id``, ``date_of_birth``, ``drivers_licence``, ...);
    fields sharing a key (SSN, TIN) show whichever applies."""
    shown: dict[str, str] = {}
    for field in identifiers.identifier_fields():
        if field.shown_as:
            shown[field.shown_as] = shown.get(field.shown_as) or masked_value(member, field)
    return shown
