"""The Red Flags section of the member's page (members/glance.py): the member's open review-queue items
and held openings. Every staff screen shows that a Red Flag exists; the rules and evidence behind it, and
the link to respond, only to those who work the queue."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone

from members.glance import GlancePanel, GlanceSection, register
from redflags import selectors


def red_flags_section(*, member, user) -> GlanceSection:
    items = selectors.open_review_items_for_member(member=member)
    may_see_rules = user.has_perm("redflags.view_reviewitem")
    rows = []
    for item in items:
        about = item.account.account_number if item.account_id else "the member"
        held = " (opening held)" if item.account_id and item.account.on_hold else ""
        why = (
            "; ".join(f"{fired['code']}: {' / '.join(fired['evidence'])}" for fired in item.assessment.fired)
            if may_see_rules
            else "Ask a Red Flag Analyst."
        )
        opened = f"{timezone.localtime(item.created_at):%b %d, %Y}"
        link = (
            ("Respond", reverse("admin:redflags_reviewitem_respond", args=[item.pk]))
            if user.has_perm("redflags.work_queue")
            else ""
        )
        rows.append((opened, f"{item.get_outcome_display()}{held}", about, why, link))
    return GlanceSection(
        title="Open Red Flags",
        columns=("Since", "Outcome", "About", "Why", ""),
        rows=rows,
        empty="No open Red Flags.",
        alert=bool(items),
        wide=bool(items),
        note="Do not discuss or change the member's account details until the Red Flag is resolved; "
        "verify the caller first (Caller verification)."
        if items
        else "",
    )


def register_panels() -> None:
    register(GlancePanel("redflags", 5, "members.view_member", red_flags_section))
