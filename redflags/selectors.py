"""Reads of the Red Flags program used by more than one screen: the annual review report."""

from __future__ import annotations

import datetime
import statistics
from collections import Counter

from django.db.models import Count, Q
from django.utils import timezone

from redflags.cases.selectors import rule_precision
from redflags.models import (
    AnnualReview,
    CallerVerificationAttempt,
    ConsumerReportAlert,
    Flag,
    IdentityTheftNotice,
    Outcome,
    ProgramChange,
    Response,
    ReviewItem,
    RiskAssessment,
    Rule,
    RuleVersion,
    SecurityIncident,
    TrainingAcknowledgement,
)


def year_bounds(year: int) -> tuple[datetime.datetime, datetime.datetime]:
    tz = timezone.get_current_timezone()
    return (datetime.datetime(year, 1, 1, tzinfo=tz), datetime.datetime(year + 1, 1, 1, tzinfo=tz))


def annual_review_report(*, year: int) -> dict:
    """What the Program Administrator considers once a year and presents to the board."""
    start, end = year_bounds(year)
    in_year = {"created_at__gte": start, "created_at__lt": end}
    titles = dict(Rule.objects.values_list("code", "title"))

    flags = (
        Flag.objects.filter(**in_year)
        .values("category", "code")
        .annotate(count=Count("id"))
        .order_by("category", "code")
    )
    responses = (
        Response.objects.filter(at__gte=start, at__lt=end).values("kind").annotate(count=Count("id")).order_by("kind")
    )
    kind_labels = dict(Response.Kind.choices)
    resolved = list(
        ReviewItem.objects.filter(resolved_at__gte=start, resolved_at__lt=end).values_list("created_at", "resolved_at")
    )
    hours = [(done - made).total_seconds() / 3600 for made, done in resolved if done is not None]
    outcomes = Counter(RiskAssessment.objects.filter(**in_year).values_list("outcome", flat=True))
    closed_by_program = Response.objects.filter(at__gte=start, at__lt=end, kind=Response.Kind.CLOSE_ACCOUNT).count()
    denied_by_program = Response.objects.filter(at__gte=start, at__lt=end, kind=Response.Kind.DO_NOT_OPEN).count()
    law = list(
        Response.objects.filter(at__gte=start, at__lt=end, kind=Response.Kind.NOTIFY_LAW_ENFORCEMENT).values(
            "agency", "case_number", "at"
        )
    )
    incidents = Counter(
        SecurityIncident.objects.filter(recorded_at__gte=start, recorded_at__lt=end).values_list("kind", flat=True)
    )
    notices = Counter(
        IdentityTheftNotice.objects.filter(received_at__gte=start, received_at__lt=end).values_list(
            "reporter", flat=True
        )
    )
    alerts = Counter(
        ConsumerReportAlert.objects.filter(received_at__gte=start, received_at__lt=end).values_list("kind", flat=True)
    )
    rule_changes = [
        {
            "code": version.rule.code,
            "version": version.number,
            "change": "activated" if version.activated_at and start <= version.activated_at < end else "retired",
            "at": (
                version.activated_at
                if version.activated_at and start <= version.activated_at < end
                else version.retired_at
            ),
            "weight": version.weight,
            "minimum_outcome": version.minimum_outcome,
            "notes": version.notes,
        }
        for version in RuleVersion.objects.select_related("rule")
        .filter(_between("activated_at", start, end) | _between("retired_at", start, end))
        .exclude(number=1, notes__startswith="Version 1 from the program")
        .order_by("activated_at")
    ]
    program_changes = list(
        ProgramChange.objects.filter(recommended_at__gte=start, recommended_at__lt=end).order_by("recommended_at")
    )
    review = AnnualReview.objects.filter(year=year).first()
    attempts = CallerVerificationAttempt.objects.filter(at__gte=start, at__lt=end)
    return {
        "year": year,
        "period_start": start.date(),
        "period_end": (end - datetime.timedelta(days=1)).date(),
        "generated_at": timezone.now(),
        "flags_by_type": [{**row, "title": titles.get(row["code"], "")} for row in flags],
        "flags_total": sum(row["count"] for row in flags),
        # Each rule's precision from the cases resolved in the year with a label (redflags/cases).
        "precision_by_rule": [
            {**row, "title": titles.get(row["code"], "")} for row in rule_precision(start=start, end=end)
        ],
        "assessments_by_outcome": {key: outcomes.get(key, 0) for key in ("record", "warn", "hold")},
        "responses": [{**row, "label": kind_labels.get(row["kind"], row["kind"])} for row in responses],
        "resolved_items": len(hours),
        "median_hours_to_resolution": round(statistics.median(hours), 1) if hours else None,
        "mean_hours_to_resolution": round(statistics.fmean(hours), 1) if hours else None,
        "open_items_now": ReviewItem.objects.filter(status=ReviewItem.Status.OPEN).count(),
        "accounts_closed_by_program": closed_by_program,
        "openings_denied_by_program": denied_by_program,
        "law_enforcement_notifications": law,
        "incidents": {dict(SecurityIncident.Kind.choices)[key]: value for key, value in incidents.items()},
        "identity_theft_notices": {
            dict(IdentityTheftNotice.Reporter.choices)[key]: value for key, value in notices.items()
        },
        "cra_alerts": {dict(ConsumerReportAlert.Kind.choices)[key]: value for key, value in alerts.items()},
        "rule_changes": rule_changes,
        "program_changes": program_changes,
        "training_acknowledgements": TrainingAcknowledgement.objects.filter(
            acknowledged_at__gte=start, acknowledged_at__lt=end
        ).count(),
        "caller_verifications": attempts.count(),
        "caller_verification_failures": attempts.filter(passed=False).count(),
        **_review_parts(review),
        "assessments_by_outcome_rows": [(label, outcomes.get(key, 0)) for key, label in Outcome.choices],
        "time_zone": timezone.get_current_timezone_name(),
        "pending_program_changes": list(ProgramChange.objects.filter(decision=ProgramChange.Decision.PENDING)),
    }


# The periodic review's considerations (the program document's list), in its order, then the recommendation.
NARRATIVE_FIELDS = (
    ("experiences", "The co-op's experiences with identity theft"),
    ("changes_in_methods", "Changes in identity theft methods"),
    ("changes_in_detection", "Changes in identity theft detection and prevention methods"),
    ("changes_in_accounts", "Changes in the types of accounts the co-op maintains"),
    ("changes_in_arrangements", "Changes in the co-op's business arrangements with other entities"),
    ("recommended_changes", "Recommended changes to the program"),
)


def _review_parts(review: AnnualReview | None) -> dict:
    """What the Program Administrator recorded for the year: the narrative under the program's headings,
    whether changes are warranted, who prepared it and when (empty when nothing is recorded yet)."""
    if review is None:
        return {
            "review": None,
            "narrative": [],
            "changes_warranted": None,
            "prepared_by": "",
            "prepared_at": None,
            "recommended_changes": "",
        }
    return {
        "review": review,
        "narrative": _narrative(review),
        "changes_warranted": review.changes_warranted,
        "prepared_by": _person(review.prepared_by),
        "prepared_at": review.prepared_at,
        "recommended_changes": review.recommended_changes,
    }


def _narrative(review: AnnualReview | None) -> list[dict]:
    if review is None:
        return []
    return [{"heading": heading, "text": (getattr(review, name) or "").strip()} for name, heading in NARRATIVE_FIELDS]


def _person(user) -> str:
    return (user.get_full_name() or user.username) if user is not None else ""


def _between(field: str, start, end):
    return Q(**{f"{field}__gte": start, f"{field}__lt": end})


def annual_review_rows(report: dict) -> list[list[str]]:
    """The report as (section, item, value) rows for CSV and PDF."""
    rows: list[list[str]] = [
        ["period", "from", str(report["period_start"])],
        ["period", "to", str(report["period_end"])],
    ]
    for row in report["flags_by_type"]:
        rows.append(["flags by type", f"{row['code']} {row['title']}", str(row["count"])])
    rows.append(["flags by type", "total", str(report["flags_total"])])
    for row in report["precision_by_rule"]:
        precision = "" if row["precision"] is None else f"{row['precision']:.2f}"
        rows.append(
            [
                "precision by rule (labelled cases)",
                f"{row['code']} {row['title']}",
                f"{precision} ({row['confirmed']} confirmed, {row['false_positive']} false positive)",
            ]
        )
    for key, value in report["assessments_by_outcome"].items():
        rows.append(["assessments by outcome", key, str(value)])
    for row in report["responses"]:
        rows.append(["responses", row["label"], str(row["count"])])
    rows += [
        ["time to resolution", "items resolved", str(report["resolved_items"])],
        ["time to resolution", "median hours", str(report["median_hours_to_resolution"] or "")],
        ["time to resolution", "mean hours", str(report["mean_hours_to_resolution"] or "")],
        ["queue", "open items now", str(report["open_items_now"])],
        ["accounts", "closed by the program", str(report["accounts_closed_by_program"])],
        ["accounts", "openings denied by the program", str(report["openings_denied_by_program"])],
    ]
    for item in report["law_enforcement_notifications"]:
        rows.append(["law enforcement notified", item["agency"], item["case_number"]])
    for section in ("incidents", "identity_theft_notices", "cra_alerts"):
        for key, value in report[section].items():
            rows.append([section.replace("_", " "), key, str(value)])
    for change in report["rule_changes"]:
        rows.append(
            [
                "rule changes",
                f"{change['code']} v{change['version']} {change['change']}",
                f"weight {change['weight']}, {change['minimum_outcome']}",
            ]
        )
    for change in report["program_changes"]:
        rows.append(["program changes", change.title, change.get_decision_display()])
    rows += [
        ["training", "acknowledgements signed", str(report["training_acknowledgements"])],
        ["caller verification", "attempts", str(report["caller_verifications"])],
        ["caller verification", "failures", str(report["caller_verification_failures"])],
    ]
    for part in report.get("narrative", []):
        rows.append(["narrative", part["heading"], part["text"]])
    if not report.get("narrative"):
        rows.append(["recommended changes", "", report["recommended_changes"]])
    for change in report["pending_program_changes"]:
        rows.append(["recommended changes", "awaiting the board", change.title])
    return rows


def open_review_items_for_member(*, member) -> list[ReviewItem]:
    """The member's open review-queue items (about the member or one of their accounts), newest first."""
    return list(
        ReviewItem.objects.filter(
            Q(member_id=member.pk) | Q(account__member_id=member.pk), status=ReviewItem.Status.OPEN
        )
        .select_related("assessment", "account")
        .only(
            "created_at",
            "outcome",
            "status",
            "account__account_number",
            "account__on_hold",
            "assessment__score",
            "assessment__fired",
            "assessment__event_name",
        )
        .order_by("-created_at")[:20]
    )
