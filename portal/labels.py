"""Human labels for what the portal shows: the Privacy Policy's categories, the basis of a release, and
who received the member's data. The stored values are codes ("A1_contact", "membership_list",
"consent"); a member sees words.

Privacy of others (issue 14 item 6): a membership-list release names the member who asked for the list
in the disclosure log (the auditor needs it); the member whose name was on the list sees only "a
fellow member's request for the membership list", never who.
"""

from __future__ import annotations

from disclosures.models import DataCategory, LegalBasis, Purpose

# "A.1 Contact information" -> "Contact information": the policy's section number is for staff.
CATEGORY_LABELS: dict[str, str] = {value: label.split(" ", 1)[1] for value, label in DataCategory.choices}

BASIS_LABELS: dict[str, str] = {
    "consent": "Your consent",
    "membership_list": "The co-op's bylaws (membership list for a proper purpose)",
    "member_access": "Your own request",
    "member_copy": "Your own request (a full copy you downloaded)",
    **{value: str(label) for value, label in LegalBasis.Kind.choices},
}

FORMAT_LABELS = {"csv": "spreadsheet (CSV)", "json": "data file (JSON)", "pdf": "PDF", "xml": "Green Button (XML)"}

FELLOW_MEMBER_LIST_REQUEST = "A fellow member's request for the membership list"


def category_labels(values) -> list[str]:
    return [CATEGORY_LABELS.get(value, "Other information") for value in values or ()]


def basis_label(kind: str) -> str:
    return BASIS_LABELS.get(kind, "As our Privacy Policy allows")


def purpose_label(value: str) -> str:
    """The purpose without the staff prefix ("Secondary: research" -> "Research")."""
    try:
        label = str(Purpose(value).label)
    except ValueError:
        return ""
    label = label.split(": ", 1)[1] if ": " in label else label
    label = label.replace(" (seed 000 G)", "")
    return label[:1].upper() + label[1:]


def release_recipient(entry) -> str:
    """Who received a release, as the member may see it: never another member."""
    if entry.basis_kind == "membership_list" or entry.purpose == Purpose.MEMBERSHIP_LIST:
        return FELLOW_MEMBER_LIST_REQUEST
    if entry.basis_kind in ("member_access", LegalBasis.Kind.MEMBER_REQUEST) or entry.purpose == Purpose.MEMBER_ACCESS:
        return "You (at your request)"
    return entry.recipient_label or "A recipient the law allows"


def release_rows(entries) -> list[dict]:
    return [
        {
            "at": entry.at,
            "recipient": release_recipient(entry),
            "basis": basis_label(entry.basis_kind),
            "purpose": purpose_label(entry.purpose),
            "categories": category_labels(entry.categories),
        }
        for entry in entries
    ]
