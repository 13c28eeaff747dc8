"""The program's rules: the catalogue synchronised into the database, and each rule's versions.

A rule version goes draft → (dry run) → active → retired. A version that has been live never changes
(a database trigger refuses it), so assessments, flags and responses can name the version behind a
decision. Only the Program Administrator (``redflags.manage_rules``) drafts, dry-runs, activates and
retires; ``catalogue_sync`` (after every migrate) only creates missing rules with an active version 1.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from members.actors import Actor
from members.audit import audit_record
from members.models import User
from redflags import engine
from redflags.catalogue import CATALOGUE
from redflags.context import Context
from redflags.detectors import DETECTORS
from redflags.events import Event
from redflags.models import ObservedEvent, Outcome, ProgramSettings, Rule, RuleVersion
from redflags.services.program import require_permission

# --- the catalogue -------------------------------------------------------------------------------


def catalogue_sync() -> int:
    """Create any catalogue rule that is missing, with an active version 1. Never edits a version."""
    created = 0
    with transaction.atomic():
        ProgramSettings.objects.get_or_create(pk=1)
        for entry in CATALOGUE:
            rule, was_created = Rule.objects.get_or_create(
                code=entry["code"],
                defaults={
                    "category": entry["category"],
                    "title": entry["title"],
                    "wording": entry["wording"],
                    "detects_on": entry["detects_on"],
                },
            )
            if was_created or not rule.versions.exists():
                RuleVersion.objects.create(
                    rule=rule,
                    number=1,
                    status=RuleVersion.Status.ACTIVE,
                    weight=entry["weight"],
                    minimum_outcome=entry["minimum_outcome"],
                    parameters=entry.get("parameters", {}),
                    notes="Version 1 from the program as approved by the board.",
                    activated_at=timezone.now(),
                )
                created += 1
        if created:
            audit_record(
                actor=None,
                actor_label="system:catalogue_sync",
                action="redflags.catalogue_sync",
                object_type="redflags.rule",
                detail={"created": created},
            )
    return created


# --- rule versions -------------------------------------------------------------------------------


def _rule_manager(actor: Actor) -> User:
    return require_permission(actor, "redflags.manage_rules", "only the Program Administrator manages rules")


def rule_version_draft(
    *,
    actor: Actor,
    rule: Rule,
    weight: int,
    minimum_outcome: str = Outcome.RECORD,
    parameters: dict | None = None,
    notes: str = "",
) -> RuleVersion:
    """A new draft version of a rule: weight, minimum outcome and parameters, no code."""
    user = _rule_manager(actor)
    if minimum_outcome not in Outcome.values:
        raise ValidationError({"minimum_outcome": "record, warn or hold"})
    if not 0 <= int(weight) <= 1000:
        raise ValidationError({"weight": "between 0 and 1000"})
    with transaction.atomic():
        number = (
            rule.versions.select_for_update(no_key=True).order_by("-number").values_list("number", flat=True).first()
            or 0
        ) + 1
        version = RuleVersion.objects.create(
            rule=rule,
            number=number,
            weight=weight,
            minimum_outcome=minimum_outcome,
            parameters=parameters or {},
            notes=notes,
            created_by=user,
        )
        audit_record(
            actor=actor,
            action="redflags.rule_drafted",
            obj=version,
            fields=["weight", "minimum_outcome", "parameters"],
            detail={"rule": rule.code, "number": number},
        )
    return version


def rule_version_dry_run(*, actor: Actor, version: RuleVersion, days: int = 365) -> dict:
    """How many accounts the draft would have queued over the past ``days`` of observed events.

    Past events are replayed against today's registry data (the program does not keep snapshots of
    members), with the draft standing in for the rule's active version; the same replay with the
    active set gives the comparison.
    """
    _rule_manager(actor)
    spec = DETECTORS[version.rule.code]
    since = timezone.now() - datetime.timedelta(days=days)
    active = engine.active_versions()
    with_draft = [v for v in active if v.rule_id != version.rule_id] + [version]
    settings = engine.program_settings()
    flagged_draft: set = set()
    flagged_active: set = set()
    fired_draft = 0
    events = ObservedEvent.objects.filter(occurred_at__gte=since, event__in=sorted(spec.events)).order_by("occurred_at")
    count = 0
    for observed in events.iterator():
        count += 1
        event = _replayed(observed)
        ctx = Context(event)
        draft_result = engine.evaluate(event, versions=with_draft, settings=settings, context=ctx)
        active_result = engine.evaluate(event, versions=active, settings=settings, context=ctx)
        target = observed.account_id or (f"member:{observed.member_id}" if observed.member_id else None)
        if version.rule.code in draft_result.codes:
            fired_draft += 1
        if draft_result.outcome != Outcome.RECORD:
            flagged_draft.add(target)
        if active_result.outcome != Outcome.RECORD:
            flagged_active.add(target)
    summary = {
        "days": days,
        "events": count,
        "draft_fired_on_events": fired_draft,
        "accounts_flagged_with_draft": len(flagged_draft),
        "accounts_flagged_now": len(flagged_active),
        "ran_at": timezone.now().isoformat(),
    }
    with transaction.atomic():
        if version.status == RuleVersion.Status.DRAFT:
            version.dry_run = summary
            version.save(update_fields=["dry_run"])
        audit_record(actor=actor, action="redflags.rule_dry_run", obj=version, detail=summary)
    return summary


def _replayed(observed: ObservedEvent) -> Event:
    """A remembered event as the engine takes it (the actor is not replayed)."""
    return Event(
        name=observed.event,
        member_id=observed.member_id,
        account_id=observed.account_id,
        occurred_at=observed.occurred_at,
        fields=tuple(observed.fields),
        old_indexes=observed.old_indexes,
        new_indexes=observed.new_indexes,
        payload=observed.payload,
    )


def rule_version_activate(*, actor: Actor, version: RuleVersion) -> RuleVersion:
    """Make a dry-run draft the rule's active version; the previous active version is retired."""
    user = _rule_manager(actor)
    with transaction.atomic():
        version = RuleVersion.objects.select_for_update(no_key=True).get(pk=version.pk)
        if version.status != RuleVersion.Status.DRAFT:
            raise ValidationError("only a draft can be activated")
        if not version.dry_run:
            raise ValidationError("run a dry run against past events before activating")
        previous = (
            RuleVersion.objects.select_for_update(no_key=True)
            .filter(rule_id=version.rule_id, status=RuleVersion.Status.ACTIVE)
            .first()
        )
        now = timezone.now()
        if previous is not None:
            previous.status, previous.retired_at = RuleVersion.Status.RETIRED, now
            previous.save(update_fields=["status", "retired_at"])
        version.status, version.activated_at, version.activated_by = RuleVersion.Status.ACTIVE, now, user
        version.save(update_fields=["status", "activated_at", "activated_by"])
        audit_record(
            actor=actor,
            action="redflags.rule_activated",
            obj=version,
            fields=["status"],
            detail={
                "rule": version.rule.code,
                "number": version.number,
                "replaces": previous.number if previous else None,
            },
        )
    return version


def rule_version_retire(*, actor: Actor, version: RuleVersion, reason: str = "") -> RuleVersion:
    """Take a version out of use (a retired version is kept: past decisions name it)."""
    _rule_manager(actor)
    with transaction.atomic():
        version = RuleVersion.objects.select_for_update(no_key=True).get(pk=version.pk)
        if version.status == RuleVersion.Status.RETIRED:
            raise ValidationError("already retired")
        version.status, version.retired_at = RuleVersion.Status.RETIRED, timezone.now()
        version.save(update_fields=["status", "retired_at"])
        audit_record(
            actor=actor,
            action="redflags.rule_retired",
            obj=version,
            fields=["status"],
            reason=reason,
            detail={"rule": version.rule.code, "number": version.number},
        )
    return version
