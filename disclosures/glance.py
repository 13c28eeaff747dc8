"""The disclosures' sections of the member's page (members/glance.py): the member's consents, and the
releases that named them (for those who may read the disclosure log)."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from disclosures import selectors
from disclosures.models import DataCategory, Purpose
from members.glance import GlancePanel, GlanceSection, register

CATEGORY_LABELS = dict(DataCategory.choices)
PURPOSE_LABELS = dict(Purpose.choices)


def _day(moment) -> str:
    return f"{timezone.localtime(moment):%b %d, %Y}" if moment else ""


def _categories(codes) -> str:
    return ", ".join(CATEGORY_LABELS.get(code, code) for code in codes)


def consents_section(*, member, user) -> GlanceSection:
    consents = list(selectors.consents_of_member(member=member)[:10])
    rows = []
    for consent in consents:
        status = {"active": "Active", "revoked": "Revoked", "expired": "Expired"}[consent.status]
        if consent.status == "revoked":
            status += f" {_day(consent.revoked_at)}"
        elif consent.expires_at:
            status += (
                f" until {_day(consent.expires_at)}" if consent.status == "active" else f" {_day(consent.expires_at)}"
            )
        rows.append(
            (
                (consent.recipient.name, reverse("admin:disclosures_consent_change", args=[consent.pk])),
                PURPOSE_LABELS.get(consent.purpose, consent.purpose),
                _categories(consent.categories),
                f"{_day(consent.granted_at)} ({consent.get_channel_display().split(' (')[0].lower()})",
                status,
            )
        )
    return GlanceSection(
        title="Consents",
        columns=("Recipient", "Purpose", "Information", "Given", "Status"),
        rows=rows,
        empty="No consents on file.",
    )


def releases_section(*, member, user) -> GlanceSection:
    entries = selectors.releases_naming_member(member=member)
    return GlanceSection(
        title="Releases of the member's information",
        columns=("When", "Recipient", "Information", "Log entry"),
        rows=[
            (
                _day(entry.at),
                entry.recipient_label,
                _categories(entry.categories),
                f"No. {entry.seq}" + (" (notice withheld by legal order)" if entry.notice_withheld else ""),
            )
            for entry in entries
        ],
        empty="Nothing released.",
    )


def register_panels() -> None:
    register(
        GlancePanel("consents", 40, "disclosures.view_consent", consents_section),
        GlancePanel("releases", 50, "disclosures.view_disclosurelogentry", releases_section),
    )
