"""Human words for what the disclosure log stores as codes (issue 15.4): the categories' own names from the
Privacy Policy, the kinds of basis, and basis references written as staff say them. The log keeps its
codes (they are hash-chained and machine-searchable); screens show these labels."""

from __future__ import annotations

import re

from disclosures.models import DataCategory, LegalBasis, Purpose

CATEGORY_LABELS = dict(DataCategory.choices)
PURPOSE_LABELS = dict(Purpose.choices)
BASIS_KIND_LABELS = {
    "consent": "Member's consent",
    "membership_list": "Membership list (proper purpose)",
    "aggregated": "Aggregated data",
    **dict(LegalBasis.Kind.choices),
}
_KIND_LABELS_BY_CODE = dict(LegalBasis.Kind.choices)
_REFERENCE = re.compile(
    r"consent:recipient=\d+,purpose=(?P<purpose>\w+)"
    r"|consent:(?P<consent>\d+)"
    r"|membership_list:(?P<request>\d+)"
    r"|legal_basis:(?P<basis>\d+)(?: (?P<kind>[a-z_]+))?"
)


def categories_label(codes) -> str:
    return ", ".join(CATEGORY_LABELS.get(code, code) for code in codes or [])


def basis_kind_label(kind: str) -> str:
    return BASIS_KIND_LABELS.get(kind, kind.replace("_", " ").capitalize()) if kind else "None"


def _reference(match: re.Match) -> str:
    if match.group("purpose"):
        return f"the members' consents ({PURPOSE_LABELS.get(match.group('purpose'), match.group('purpose'))})"
    if match.group("consent"):
        return f"consent no. {match.group('consent')}"
    if match.group("request"):
        return f"membership-list request no. {match.group('request')}"
    kind = match.group("kind")
    label = _KIND_LABELS_BY_CODE.get(kind or "", "")
    return f"legal basis no. {match.group('basis')}" + (f" ({label})" if label else (f" {kind}" if kind else ""))


def reference_label(text: str) -> str:
    """A basis reference or a refusal reason with its codes in words: ``legal_basis:2 subpoena 2026-CV-118``
    becomes ``legal basis no. 2 (Subpoena ...) 2026-CV-118``."""
    return _REFERENCE.sub(_reference, text or "")
