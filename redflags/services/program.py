"""The program itself: who may act (permission and current training), thresholds, program changes
decided by the board, and the annual review.

Every write here is the Program Administrator's (``redflags.manage_program``), except training
acknowledgements, which the admin's add permission guards. An analyst acts on Red Flags only with a
signed acknowledgement of the current program version (``require_current_training``).
"""

from __future__ import annotations

import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from members.actors import Actor, actor_id_of, actor_name, signed_in_user
from members.audit import audit_record
from members.models import User
from redflags import engine
from redflags.models import AnnualReview, ProgramChange, ProgramSettings, TrainingAcknowledgement
from redflags.selectors import annual_review_report

# --- who may act ---------------------------------------------------------------------------------


def require_permission(actor: Actor, permission: str, refusal: str) -> User:
    """The signed-in user holding ``permission``; anyone else (anonymous, the system) is refused."""
    user = signed_in_user(actor)
    if user is None or not user.has_perm(permission):
        raise PermissionDenied(refusal)
    return user


def has_current_training(user: Actor) -> bool:
    version = engine.program_settings().program_version
    user_id = actor_id_of(user)
    if user_id is None:
        return False
    return TrainingAcknowledgement.objects.filter(user_id=user_id, program_version=version).exists()


def require_current_training(user: Actor) -> None:
    if not has_current_training(user):
        version = engine.program_settings().program_version
        raise PermissionDenied(
            f"{actor_name(user)} has no signed acknowledgement of program version {version}; "
            "the Program Administrator must record training before this person can act on Red Flags."
        )


def training_acknowledge(
    *, user: User, trained_by: Actor, program_version: str | None = None
) -> TrainingAcknowledgement:
    """Record that ``user`` was trained on the program version (the current one unless named)."""
    version = program_version or engine.program_settings().program_version
    with transaction.atomic():
        ack, created = TrainingAcknowledgement.objects.get_or_create(
            user=user, program_version=version, defaults={"trained_by": signed_in_user(trained_by)}
        )
        if created:
            audit_record(
                actor=trained_by,
                action="redflags.training_acknowledged",
                obj=ack,
                fields=["user", "program_version"],
                detail={"user_id": user.pk, "program_version": version},
            )
    return ack


# --- thresholds and program changes --------------------------------------------------------------


def program_settings_check(*, warn_threshold: int | None, hold_threshold: int | None) -> None:
    """The thresholds' rule, for the service and for the form that shows it before anything is saved."""
    if warn_threshold is None or hold_threshold is None or not 0 < warn_threshold <= hold_threshold:
        raise ValidationError(
            {"warn_threshold": "The warning threshold must be above zero and at most the hold threshold."}
        )


def program_settings_update(
    *,
    actor: Actor,
    warn_threshold: int,
    hold_threshold: int,
    program_version: str | None = None,
    caller_failures_to_flag: int | None = None,
    reason: str = "",
) -> ProgramSettings:
    """Set the thresholds (and the program version, the caller-failure count); each change audited."""
    user = require_permission(actor, "redflags.manage_program", "only the Program Administrator sets thresholds")
    program_settings_check(warn_threshold=warn_threshold, hold_threshold=hold_threshold)
    with transaction.atomic():
        settings = ProgramSettings.objects.select_for_update(no_key=True).get_or_create(pk=1)[0]
        changed = []
        for name, value in (
            ("warn_threshold", warn_threshold),
            ("hold_threshold", hold_threshold),
            ("program_version", program_version),
            ("caller_failures_to_flag", caller_failures_to_flag),
        ):
            if value is not None and getattr(settings, name) != value:
                setattr(settings, name, value)
                changed.append(name)
        settings.updated_at, settings.updated_by = timezone.now(), user
        settings.save(update_fields=[*changed, "updated_at", "updated_by"])
        audit_record(
            actor=actor,
            action="redflags.settings_changed",
            obj=settings,
            fields=changed,
            reason=reason,
            detail={name: getattr(settings, name) for name in changed},
        )
    return settings


def program_change_recommend(*, actor: Actor, title: str, recommendation: str) -> ProgramChange:
    """The Program Administrator's recommendation, pending the board's decision."""
    user = require_permission(
        actor, "redflags.manage_program", "only the Program Administrator recommends program changes"
    )
    if not title.strip() or not recommendation.strip():
        raise ValidationError("a program change needs a title and the recommendation")
    with transaction.atomic():
        change = ProgramChange.objects.create(
            title=title.strip(), recommendation=recommendation.strip(), recommended_by=user
        )
        audit_record(
            actor=actor, action="redflags.program_change_recommended", obj=change, fields=["title", "recommendation"]
        )
    return change


def program_change_decide(
    *,
    actor: Actor,
    change: ProgramChange,
    decision: str,
    decided_on: datetime.date,
    board_reference: str,
    notes: str = "",
    new_program_version: str = "",
) -> ProgramChange:
    """Record the board's determination (accept, modify or reject).

    An accepted or modified change may name a new program version, which then becomes current.
    """
    require_permission(actor, "redflags.manage_program", "only the Program Administrator records the board's decision")
    if decision not in (
        ProgramChange.Decision.ACCEPTED,
        ProgramChange.Decision.MODIFIED,
        ProgramChange.Decision.REJECTED,
    ):
        raise ValidationError({"decision": "accepted, modified or rejected"})
    if not board_reference.strip():
        raise ValidationError({"board_reference": "cite the board's minutes or ordinance"})
    if change.decision != ProgramChange.Decision.PENDING:
        raise ValidationError("the board has already decided on this change")
    with transaction.atomic():
        change.decision, change.decided_on, change.board_reference = decision, decided_on, board_reference.strip()
        change.decision_notes, change.new_program_version = (
            notes,
            new_program_version if decision != ProgramChange.Decision.REJECTED else "",
        )
        change.save(
            update_fields=["decision", "decided_on", "board_reference", "decision_notes", "new_program_version"]
        )
        audit_record(
            actor=actor,
            action="redflags.program_change_decided",
            obj=change,
            fields=["decision", "decided_on", "board_reference"],
            detail={"decision": decision},
        )
        if change.new_program_version:
            settings = engine.program_settings()
            program_settings_update(
                actor=actor,
                warn_threshold=settings.warn_threshold,
                hold_threshold=settings.hold_threshold,
                program_version=change.new_program_version,
                reason=f"program change #{change.pk}",
            )
    return change


# --- the annual review ----------------------------------------------------------------------------

REVIEW_FIELDS = (
    "experiences",
    "changes_in_methods",
    "changes_in_detection",
    "changes_in_accounts",
    "changes_in_arrangements",
    "recommended_changes",
    "changes_warranted",
)


def annual_review_save(*, actor: Actor, year: int, **considerations: object) -> AnnualReview:
    """The Program Administrator's yearly consideration; the report figures are snapshotted with it."""
    user = require_permission(
        actor, "redflags.manage_program", "only the Program Administrator records the annual review"
    )
    unknown = set(considerations) - set(REVIEW_FIELDS)
    if unknown:
        raise ValidationError(f"unknown fields: {', '.join(sorted(unknown))}")
    if not 2000 <= int(year) <= 2100:
        raise ValidationError({"year": "year out of range"})
    report = annual_review_report(year=int(year))
    snapshot = {
        "flags_total": report["flags_total"],
        "flags_by_type": {row["code"]: row["count"] for row in report["flags_by_type"]},
        "assessments_by_outcome": report["assessments_by_outcome"],
        "responses": {row["kind"]: row["count"] for row in report["responses"]},
        "median_hours_to_resolution": report["median_hours_to_resolution"],
        "accounts_closed_by_program": report["accounts_closed_by_program"],
        "openings_denied_by_program": report["openings_denied_by_program"],
    }
    with transaction.atomic():
        review, created = AnnualReview.objects.select_for_update(no_key=True).get_or_create(
            year=int(year), defaults={"prepared_by": user}
        )
        for name, value in considerations.items():
            setattr(review, name, value)
        review.prepared_by, review.prepared_at, review.report = user, timezone.now(), snapshot
        review.save()
        audit_record(
            actor=actor,
            action="redflags.annual_review_saved",
            obj=review,
            fields=sorted(considerations),
            detail={"year": int(year), "created": created},
        )
    return review
