"""Reads of Red Flags case work: inboxes, a member's timeline, members without identity verification,
and each rule's precision from labelled cases (the annual review)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.models import Account
from members import roles
from members.models import AuditEvent, Member, User
from redflags.cases.models import Case, CaseNote
from redflags.models import (
    CallerVerificationAttempt,
    ConsumerReportAlert,
    Flag,
    IdentityTheftNotice,
    Response,
    ReviewItem,
    VerificationChecklist,
)

# The inbox each role works (members.roles names the groups).
ROLE_INBOXES = {
    roles.RED_FLAG_ANALYST: Case.Inbox.ANALYST,
    roles.PROGRAM_ADMINISTRATOR: Case.Inbox.PROGRAM_ADMINISTRATOR,
}


def inboxes_of(user: User) -> list[str]:
    names = set(user.groups.values_list("name", flat=True))
    return [inbox for role, inbox in ROLE_INBOXES.items() if role in names]


def case_inbox(*, user: User, mine: bool = False, page_size: int = 100) -> QuerySet[Case]:
    """Open cases of the user's inboxes (or assigned to them), soonest due first (partial index)."""
    open_cases = Case.objects.exclude(status=Case.Status.RESOLVED)
    if mine:
        queryset = open_cases.filter(assignee=user)
    else:
        queryset = open_cases.filter(inbox__in=inboxes_of(user))
    return queryset.select_related("member", "assignee").defer(*MEMBER_CIPHERTEXTS).order_by("due_at", "id")[:page_size]


MEMBER_CIPHERTEXTS = [
    f"member__{name}"
    for name in (
        "ssn",
        "tin",
        "date_of_birth",
        "drivers_licence_number",
        "passport_number",
        "alien_registration_number",
        "credit_notes",
    )
]


def case_age_days(case: Case, now: datetime.datetime | None = None) -> int:
    return ((now or timezone.now()) - case.opened_at).days


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime.datetime
    kind: str
    text: str


def member_timeline(*, member: Member) -> list[TimelineEntry]:
    """Openings, changes, alerts, responses, notices, caller verifications and case notes, newest first."""
    account_ids = [str(pk) for pk in Account.objects.filter(member=member).values_list("pk", flat=True)]
    entries: list[TimelineEntry] = []
    audit = AuditEvent.objects.filter(
        (Q(object_type="members.member", object_id=str(member.pk)) & ~Q(action__startswith="access."))
        | Q(object_type="accounts.account", object_id__in=account_ids)
    ).values_list("at", "action", "actor_label")
    entries += [
        TimelineEntry(at, "change" if "open" not in action else "opening", f"{action} by {who}")
        for at, action, who in audit
    ]
    for item in ReviewItem.objects.filter(Q(member=member) | Q(account__member=member)).select_related("assessment"):
        codes = ", ".join(entry["code"] for entry in item.assessment.fired)
        entries.append(TimelineEntry(item.created_at, "alert", f"alert #{item.pk} ({item.outcome}): {codes}"))
    for response in Response.objects.filter(Q(review_item__member=member) | Q(review_item__account__member=member)):
        entries.append(
            TimelineEntry(response.at, "response", f"{response.get_kind_display()} (alert #{response.review_item_id})")
        )
    for notice in IdentityTheftNotice.objects.filter(member=member):
        entries.append(
            TimelineEntry(notice.received_at, "notice", f"identity-theft notice from {notice.get_reporter_display()}")
        )
    for alert in ConsumerReportAlert.objects.filter(member=member):
        entries.append(TimelineEntry(alert.received_at, "notice", f"{alert.get_kind_display()} from {alert.agency}"))
    for attempt in CallerVerificationAttempt.objects.filter(member=member):
        passed = ", ".join(sorted(k for k, ok in attempt.results.items() if ok)) or "none"
        verdict = "verified" if attempt.passed else "not verified"
        entries.append(TimelineEntry(attempt.at, "caller verification", f"{verdict} (factors matched: {passed})"))
    for note in CaseNote.objects.filter(case__member=member).select_related("author"):
        who = note.author.get_username() if note.author else "system"
        entries.append(TimelineEntry(note.at, note.kind, f"case #{note.case_id}: {note.text} ({who})"))
    return sorted(entries, key=lambda entry: entry.at, reverse=True)


def members_without_verification() -> QuerySet[Member]:
    """Members with a live account none of whose openings recorded an identity verification."""
    verified = VerificationChecklist.objects.filter(account__member=OuterRef("pk")).filter(
        Q(identity_document_reviewed=True) | Q(business_documentation_reviewed=True)
    )
    live = Account.objects.filter(member=OuterRef("pk"), status__in=("open", "pending", "suspended"))
    return (
        Member.objects.filter(Exists(live))
        .exclude(Exists(verified))
        .defer(*[name.removeprefix("member__") for name in MEMBER_CIPHERTEXTS])
        .order_by("member_number")
    )


def rule_precision(*, start: datetime.datetime, end: datetime.datetime) -> list[dict]:
    """Per rule, of the labelled cases resolved in the period: how many of its alerts were confirmed."""
    rows: dict[str, dict] = {}
    flags = Flag.objects.filter(
        assessment__review_item__case_alert__case__resolved_at__gte=start,
        assessment__review_item__case_alert__case__resolved_at__lt=end,
    ).values_list("code", "assessment__review_item__case_alert__case__label")
    for code, label in flags:
        row = rows.setdefault(code, {"code": code, "confirmed": 0, "false_positive": 0})
        if label in (Case.Label.CONFIRMED, Case.Label.FALSE_POSITIVE):
            row[label] += 1
    for row in rows.values():
        labelled = row["confirmed"] + row["false_positive"]
        row["precision"] = round(row["confirmed"] / labelled, 2) if labelled else None
    return sorted(rows.values(), key=lambda row: row["code"])
