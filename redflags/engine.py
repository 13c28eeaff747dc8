"""The Red Flags rule engine: a plain service, callable and testable without signals or HTTP.

``evaluate(event)`` runs every active rule version whose detector applies to the event and returns a
``Result``: the score (sum of the weights of the rules that fired), the outcome (from the program's
thresholds and each fired rule's minimum outcome) and, per fired rule, the version and evidence a
person can read. It writes nothing; ``redflags.services`` persists results.

The engine is three modules: this one (thresholds, the active rule set, scoring), ``redflags.context``
(what the detectors look at, loaded lazily and once; its SQL in ``redflags.lookups``) and
``redflags.detectors`` (one function per rule, keyed by the rule's stable code). A rule version
carries only weight, minimum outcome and parameters, so the Program Administrator can draft, dry-run
and activate a change without new code; a new kind of detector is a code change in the detectors
module and an entry in the catalogue, nothing here.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import connection

from members.signals import EVENTS as REGISTRY_EVENTS
from redflags.context import Context
from redflags.detectors import DETECTORS
from redflags.events import Event
from redflags.models import Outcome, ProgramSettings, RuleVersion

# Registry events (members/signals.py EVENTS) the program watches: every one some detector listens
# to. Every one of them is scored.
WATCHED_REGISTRY_EVENTS = frozenset(
    name for spec in DETECTORS.values() for name in spec.events if name in REGISTRY_EVENTS
)


@dataclass
class Fired:
    version: RuleVersion
    evidence: list[str]
    # A snoozed rule (redflags.cases.RuleSnooze, approved by a second person) is recorded but adds no
    # weight and raises no outcome until the snooze expires.
    snoozed: bool = False

    def as_dict(self) -> dict:
        return {
            "code": self.version.rule.code,
            "category": self.version.rule.category,
            "version": self.version.number,
            "version_id": self.version.pk,
            "weight": self.version.weight,
            "minimum_outcome": self.version.minimum_outcome,
            "evidence": self.evidence,
            **({"snoozed": True} if self.snoozed else {}),
        }


@dataclass
class Result:
    event: Event
    score: int
    outcome: str
    fired: list[Fired]
    program_version: str
    warn_threshold: int
    hold_threshold: int

    @property
    def codes(self) -> list[str]:
        return [item.version.rule.code for item in self.fired]


def program_settings() -> ProgramSettings:
    settings, _ = ProgramSettings.objects.get_or_create(pk=1)
    return settings


def active_versions() -> list[RuleVersion]:
    return list(RuleVersion.objects.filter(status=RuleVersion.Status.ACTIVE).select_related("rule"))


_SETTINGS_FIELDS = (
    "program_version",
    "warn_threshold",
    "hold_threshold",
    "caller_failures_to_flag",
    "caller_failure_window_hours",
)


# Active versions by id. A version that has ever been live is immutable (a database trigger refuses
# any change but its retirement), so a cached object for an id that is still active is exact.
_VERSION_CACHE: dict[int, RuleVersion] = {}


# Rule ids snoozed as of the last ``settings_and_active_versions`` call in this process (same query).
_SNOOZED: set[int] = set()


def settings_and_active_versions() -> tuple[ProgramSettings, list[RuleVersion]]:
    """The thresholds and the ids of the active rule set in one small query, read fresh every time.

    An activation, retirement or threshold change therefore applies to the very next event in every
    process; only the version objects themselves are reused (see _VERSION_CACHE).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.program_version, s.warn_threshold, s.hold_threshold, s.caller_failures_to_flag, "
            "s.caller_failure_window_hours, "
            "(SELECT array_agg(v.id ORDER BY v.id) FROM redflags_ruleversion v WHERE v.status = 'active'), "
            "(SELECT array_agg(z.rule_id) FROM redflags_cases_rulesnooze z "
            "WHERE z.status = 'active' AND z.expires_at > now()) "
            "FROM redflags_programsettings s WHERE s.id = 1"
        )
        row = cursor.fetchone()
    if row is None:
        return program_settings(), active_versions()
    settings = ProgramSettings(pk=1, **dict(zip(_SETTINGS_FIELDS, row[:5], strict=True)))
    ids = list(row[5] or [])
    _SNOOZED.clear()
    _SNOOZED.update(row[6] or [])
    missing = [pk for pk in ids if pk not in _VERSION_CACHE]
    if missing:
        for version in RuleVersion.objects.filter(pk__in=missing).select_related("rule"):
            _VERSION_CACHE[version.pk] = version
    return settings, [_VERSION_CACHE[pk] for pk in ids if pk in _VERSION_CACHE]


def outcome_for(score: int, fired: list[Fired], settings: ProgramSettings) -> str:
    outcome = Outcome.RECORD
    if score >= settings.hold_threshold:
        outcome = Outcome.HOLD
    elif score >= settings.warn_threshold:
        outcome = Outcome.WARN
    for item in fired:
        if Outcome.rank(item.version.minimum_outcome) > Outcome.rank(outcome):
            outcome = item.version.minimum_outcome
    return str(outcome)


def evaluate(
    event: Event,
    *,
    versions: list[RuleVersion] | None = None,
    settings: ProgramSettings | None = None,
    context: Context | None = None,
    now: datetime.datetime | None = None,
) -> Result:
    """Score one event. ``versions`` replaces the active set (dry runs); nothing is written."""
    if settings is None and versions is None:
        settings, versions = settings_and_active_versions()
    settings = settings or program_settings()
    versions = active_versions() if versions is None else versions
    ctx = context or Context(event, now=now)
    fired: list[Fired] = []
    for version in sorted(versions, key=lambda v: v.rule.code):
        spec = DETECTORS.get(version.rule.code)
        if spec is None or event.name not in spec.events:
            continue
        evidence = spec.detect(ctx, version.parameters or {})
        if evidence:
            fired.append(Fired(version=version, evidence=evidence, snoozed=version.rule_id in _SNOOZED))
    counted = [item for item in fired if not item.snoozed]
    score = sum(item.version.weight for item in counted)
    return Result(
        event=event,
        score=score,
        outcome=outcome_for(score, counted, settings),
        fired=fired,
        program_version=settings.program_version,
        warn_threshold=settings.warn_threshold,
        hold_threshold=settings.hold_threshold,
    )
