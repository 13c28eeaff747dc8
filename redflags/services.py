"""Every write of the Red Flags program: scoring results, responses, rules, training, notices.

Each function is keyword-only, runs in one transaction and leaves an audit row in it. Changes to
accounts (warning, hold, deny, close) go through the registry's services (``redflags.registry``),
never a raw ``save()``, so they are audited and signalled like any other account change.
"""

from __future__ import annotations

import datetime
import hmac
import time
import uuid

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from members import crypto, fernet_bulk
from members.audit import audit_record
from redflags import engine, registry
from redflags.catalogue import CATALOGUE
from redflags.models import (
    AnnualReview,
    CallerVerificationAttempt,
    ConsumerReportAlert,
    Flag,
    IdentityTheftNotice,
    KnownFraudEntry,
    ObservedEvent,
    Outcome,
    ProgramChange,
    ProgramSettings,
    Response,
    ReviewItem,
    RiskAssessment,
    Rule,
    RuleVersion,
    SecurityIncident,
    TrainingAcknowledgement,
    VerificationChecklist,
)

# --- catalogue ---------------------------------------------------------------------------------


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


# --- events and assessments --------------------------------------------------------------------

CHECKLIST_FIELDS = [
    field.name
    for field in VerificationChecklist._meta.concrete_fields
    if field.name not in {"id", "account", "recorded_by", "recorded_at"}
]


# The registry's account_open docstring spells two items its own way.
CHECKLIST_ALIASES = {"id_document": "identity_document_type", "id_document_checked": "identity_document_reviewed"}


def checklist_fields(checklist) -> dict:
    """The checklist as plain data (from a VerificationChecklist or the registry's dict)."""
    if checklist is None:
        return {}
    if isinstance(checklist, VerificationChecklist):
        return {name: getattr(checklist, name) for name in CHECKLIST_FIELDS}
    data = {CHECKLIST_ALIASES.get(name, name): value for name, value in checklist.items()}
    return {name: data[name] for name in CHECKLIST_FIELDS if name in data}


def event_record(event: engine.Event, *, key: uuid.UUID | None = None) -> tuple[ObservedEvent, bool]:
    """Remember an event. With a caller's key (a task re-delivery) an existing row is returned."""
    fields = {
        "event": event.name,
        "member_id": event.member_id,
        "account_id": event.account_id,
        "fields": list(event.fields),
        "old_indexes": dict(event.old_indexes),
        "new_indexes": dict(event.new_indexes),
        "payload": dict(event.payload),
        "actor_id": event.actor_id,
        "occurred_at": event.occurred_at,
    }
    if key is None:  # a fresh event (an opening, a notice): one INSERT, nothing to look up
        return ObservedEvent.objects.create(key=uuid.uuid4(), **fields), True
    return ObservedEvent.objects.get_or_create(key=key, defaults=fields)


def _review_account(ctx: engine.Context):
    if ctx.account is not None:
        return ctx.account
    if ctx.member is None:
        return None
    from accounts.models import Account

    live = list(Account.objects.filter(member_id=ctx.member.pk, status__in=["pending", "open", "suspended"])[:2])
    return live[0] if len(live) == 1 else None


def assessment_create(
    *, result: engine.Result, observed: ObservedEvent, ctx: engine.Context, apply: bool = True
) -> RiskAssessment:
    """Persist a result: the assessment, one Flag per fired rule, a review item when queued.

    For an opening, the outcome is applied by setting attributes on the account instance the
    registry's opening service is holding (it saves them). For a change the warning is placed
    through the registry's service.
    """
    member = ctx.member
    account = _review_account(ctx)
    assessment = RiskAssessment.objects.create(
        event=observed,
        event_name=result.event.name,
        member=member,
        account=account,
        score=result.score,
        outcome=result.outcome,
        fired=[item.as_dict() for item in result.fired],
        program_version=result.program_version,
        warn_threshold=result.warn_threshold,
        hold_threshold=result.hold_threshold,
    )
    Flag.objects.bulk_create(
        [
            Flag(
                assessment=assessment,
                rule_version=item.version,
                code=item.version.rule.code,
                category=item.version.rule.category,
                weight=item.version.weight,
                evidence="; ".join(item.evidence),
            )
            for item in result.fired
        ]
    )
    queued = result.outcome != Outcome.RECORD
    if queued:
        ReviewItem.objects.create(assessment=assessment, member=member, account=account, outcome=result.outcome)
    audit_record(
        actor=None,
        actor_label="system:redflags",
        action="redflags.assessed",
        obj=assessment,
        detail={
            "event": result.event.name,
            "score": result.score,
            "outcome": result.outcome,
            "rules": [f"{item.version.rule.code}@v{item.version.number}" for item in result.fired],
            "account_id": account.pk if account else None,
            "member_id": member.pk if member else None,
        },
    )
    if apply and queued and result.event.name != engine.OPENING:
        accounts = [account] if account is not None else registry.live_accounts(member)
        for target in accounts:
            if not target.red_flag_warning:
                registry.set_warning(account=target, warning=True, reason=f"Red Flags assessment #{assessment.pk}")
    return assessment


def opening_assess(*, account, actor=None, checklist=None) -> RiskAssessment:
    """Score an opening synchronously, inside the registry's opening transaction.

    Sets ``red_flag_warning`` / ``on_hold`` / ``status_reason`` on the instance; the registry saves.
    """
    fields = checklist_fields(checklist)
    recorder = actor if getattr(actor, "pk", None) else None
    if fields and account.pk and recorder is not None:
        # The account was created a moment ago in this transaction: it has no checklist yet.
        VerificationChecklist.objects.create(account_id=account.pk, recorded_by=recorder, **fields)
    event = engine.Event(
        name=engine.OPENING,
        member_id=account.member_id,
        account_id=account.pk,
        actor_id=getattr(actor, "pk", None),
        payload={"checklist": _json_safe(fields)} if fields else {},
    )
    ctx = engine.Context(event, account=account)
    if fields:
        ctx.__dict__["checklist"] = VerificationChecklist(**fields)
    ctx.prefetch_opening()
    result = engine.evaluate(event, context=ctx)
    observed, _ = event_record(event)
    assessment = assessment_create(result=result, observed=observed, ctx=ctx)
    if result.outcome in (Outcome.WARN, Outcome.HOLD):
        account.red_flag_warning = True
    if result.outcome == Outcome.HOLD:
        account.on_hold = True
        if hasattr(account, "status_reason"):
            account.status_reason = f"Held pending identity verification (Red Flags assessment #{assessment.pk})"
    return assessment


def _json_safe(data: dict) -> dict:
    return {
        key: (value.isoformat() if isinstance(value, datetime.date | datetime.datetime) else value)
        for key, value in data.items()
    }


def change_payload(change) -> dict:
    """A RegistryChange as JSON for the Celery task, with a key that makes the task idempotent."""
    return {
        "key": str(uuid.uuid4()),
        "event": change.event,
        "member_id": change.member_id,
        "account_id": change.account_id,
        "fields": list(change.fields),
        "old_indexes": dict(change.old_indexes),
        "new_indexes": dict(change.new_indexes),
        "actor_id": change.actor_id,
        "occurred_at": change.occurred_at.isoformat(),
    }


def change_assess(*, payload: dict) -> RiskAssessment | None:
    """Score one registry change after commit. Safe to run twice: the event key is unique."""
    event = engine.Event(
        name=payload["event"],
        member_id=payload.get("member_id"),
        account_id=payload.get("account_id"),
        actor_id=payload.get("actor_id"),
        occurred_at=datetime.datetime.fromisoformat(payload["occurred_at"]),
        fields=tuple(payload.get("fields", ())),
        old_indexes=payload.get("old_indexes", {}),
        new_indexes=payload.get("new_indexes", {}),
        payload=payload.get("payload", {}),
    )
    return event_assess(event=event, key=uuid.UUID(payload["key"]))


def event_assess(*, event: engine.Event, key: uuid.UUID | None = None) -> RiskAssessment | None:
    with transaction.atomic():
        observed, created = event_record(event, key=key)
        if not created and observed.assessments.exists():
            return None
        ctx = engine.Context(event)
        if ctx.member is None and event.member_id is None and ctx.account is not None:
            event = engine.Event(**{**event.__dict__, "member_id": ctx.account.member_id})
            ctx = engine.Context(event)
        result = engine.evaluate(event, context=ctx)
        return assessment_create(result=result, observed=observed, ctx=ctx)


def payment_sweep(*, today: datetime.date | None = None) -> int:
    """Daily: score accounts whose bill became overdue yesterday (C2/C3 need the *absence* of a payment)."""
    from accounts.models import Bill

    today = today or timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    account_ids = set(Bill.objects.filter(status="open", due_on=yesterday).values_list("account_id", flat=True))
    done = 0
    for account_id in sorted(account_ids):
        key = uuid.uuid5(uuid.NAMESPACE_URL, f"memberguard:payment_sweep:{account_id}:{today.isoformat()}")
        if event_assess(event=engine.Event(name=engine.PAYMENT_SWEEP, account_id=account_id), key=key) is not None:
            done += 1
    return done


# --- shared SSN/TIN scan (members loaded without an opening: the legacy CIS import) ------------------

TAX_ID_SCAN_CHUNK = 10_000
_B5 = "B5_SSN_SHARED"


class TaxIdScanError(RuntimeError):
    """The scan cannot read a member's SSN/TIN (it names the member id, never a value)."""


def _canonical_tax_id(plain: bytes) -> bytes | None:
    # Stored values are the validated nine ASCII digits; anything else goes through the canonicaliser.
    if len(plain) == 9 and plain.isdigit():
        return plain
    try:
        return crypto.canonical_tax_id(plain.decode()).encode() if plain else None
    except (crypto.CanonicalisationError, UnicodeDecodeError):
        return None  # not a taxpayer number: it cannot match anyone (B5 would not match it either)


def _decrypt_by_id(keys: list[bytes], pairs: list[tuple[int, bytes]]) -> dict[int, bytes]:
    """``{member id: plaintext}`` for ``(member id, token)`` pairs, in one bulk call."""
    if not pairs:
        return {}
    ids = [pk for pk, _ in pairs]
    try:
        plaintexts, _ = fernet_bulk.decrypt_many(keys, [token for _, token in pairs])
    except fernet_bulk.BulkInvalidToken as exc:
        raise TaxIdScanError(
            f"member id {ids[exc.index]}: its SSN/TIN does not decrypt under any configured Fernet key"
        ) from None
    return dict(zip(ids, plaintexts, strict=True))


def shared_tax_id_groups(*, chunk: int = TAX_ID_SCAN_CHUNK) -> tuple[int, list[list[int]]]:
    """``(members read, groups)``: every set of two or more members with the same SSN/TIN, by member id.

    Set-based: every member's taxpayer number is decrypted in bulk (``members.fernet_bulk``, ~2 µs a
    value; keyset pages by id) and grouped by its canonical form, so a match is confirmed by value, not
    by the 12-bit blind index (which ~25 members share at 100,000 members). The taxpayer number is the one the
    registry indexes, ``ssn or tin`` (members.services), so an SSN and a business TIN with the same nine
    digits are one number, as for B5 at opening. The plaintexts live only in this function's memory.
    """
    keys = crypto.derived_fernet_keys()
    first_of: dict[bytes, int] = {}
    groups: dict[int, list[int]] = {}
    read, last_id = 0, 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT id, ssn, tin FROM members_member WHERE id > %s AND (ssn IS NOT NULL OR tin IS NOT NULL) ORDER BY id LIMIT %s",
                [last_id, chunk],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            last_id = rows[-1][0]
            read += len(rows)
            values = _decrypt_by_id(keys, [(pk, bytes(ssn)) for pk, ssn, _ in rows if ssn is not None])
            # A member without an SSN is indexed by its TIN (members.services: ``ssn or tin``).
            values.update(
                _decrypt_by_id(
                    keys, [(pk, bytes(tin)) for pk, _, tin in rows if tin is not None and not values.get(pk)]
                )
            )
            for pk, _, _ in rows:
                value = _canonical_tax_id(values.get(pk) or b"")
                if value is None:
                    continue
                first = first_of.setdefault(value, pk)
                if first != pk:
                    groups.setdefault(first, [first]).append(pk)
            values.clear()
    first_of.clear()
    return read, list(groups.values())


def _already_flagged(group_of: dict[int, list[int]]) -> set[int]:
    """Members the scan leaves alone: an open B5 review item, or a B5 flag raised after every other
    member of their group existed (the opening or an earlier scan already reported this group, and a
    resolved item stays resolved). A new member joining the group makes it news again."""
    ids = list(group_of)
    if not ids:
        return set()
    open_items = set(
        ReviewItem.objects.filter(
            member_id__in=ids, status=ReviewItem.Status.OPEN, assessment__flags__code=_B5
        ).values_list("member_id", flat=True)
    )
    latest: dict[int, datetime.datetime] = {}
    for member_id, at in Flag.objects.filter(code=_B5, assessment__member_id__in=ids).values_list(
        "assessment__member_id", "assessment__created_at"
    ):
        latest[member_id] = max(at, latest.get(member_id, at))
    from members.models import Member

    created = dict(
        Member.objects.filter(pk__in={pk for group in group_of.values() for pk in group}).values_list(
            "pk", "created_at"
        )
    )
    covered = {
        pk
        for pk, at in latest.items()
        if all(created.get(other) and created[other] <= at for other in group_of[pk] if other != pk)
    }
    return open_items | covered


def shared_tax_id_scan(*, member_ids=None, actor_label: str = "system:redflags.tax_id_scan") -> dict:
    """Red Flag B5 for members who never had an opening scored (bulk-loaded by the CIS import).

    Finds every group of members sharing one SSN/TIN across the whole registry (``shared_tax_id_groups``);
    ``member_ids`` limits which members are *reported* (those just imported), matching is always against
    everyone. Each reported member gets an ordinary event (``engine.TAX_ID_SCAN``) scored by the engine,
    so B5 confirms the match again by its own candidate lookup and the active rule version, thresholds,
    review queue, account warning and audit apply as for any flag; the evidence names the other member
    numbers, never the number. Members with an open B5 item, or already flagged for this group, are
    skipped, and the event key (member and group) makes a concurrent re-run a no-op. One audit row with
    the counts, in the transaction of everything the scan writes.
    """
    started = time.monotonic()
    members_checked, groups = shared_tax_id_groups()
    wanted = None if member_ids is None else set(member_ids)
    group_of = {pk: group for group in groups for pk in group if wanted is None or pk in wanted}
    flagged = assessed = skipped = 0
    with transaction.atomic():
        already = _already_flagged(group_of)
        for pk in sorted(group_of):
            if pk in already:
                skipped += 1
                continue
            group = sorted(group_of[pk])
            key = uuid.uuid5(uuid.NAMESPACE_URL, f"memberguard:tax_id_scan:{pk}:{','.join(map(str, group))}")
            event = engine.Event(name=engine.TAX_ID_SCAN, member_id=pk, payload={"group_size": len(group)})
            assessment = event_assess(event=event, key=key)
            if assessment is None:
                skipped += 1
                continue
            assessed += 1
            if any(item["code"] == _B5 for item in assessment.fired):
                flagged += 1
        counts = {
            "members_checked": members_checked,
            "groups_found": len(groups),
            "members_in_groups": sum(len(group) for group in groups),
            "members_reported": len(group_of),
            "members_assessed": assessed,
            "members_flagged": flagged,
            "members_already_flagged": skipped,
            "limited_to_members": None if wanted is None else len(wanted),
            "seconds": round(time.monotonic() - started, 2),
        }
        audit_record(
            actor=None,
            actor_label=actor_label,
            action="redflags.tax_id_scan",
            object_type="members.member",
            detail=counts,
        )
    return counts


# --- staff-recorded signals: checklist, notices, incidents, CRA alerts, fraud list ----------------


def fraud_entry_add(*, kind: str, value, listing: str, source: str, actor) -> KnownFraudEntry:
    if kind not in KnownFraudEntry.Kind.values:
        raise ValidationError({"kind": "unknown kind"})
    if listing not in KnownFraudEntry.Listing.values:
        raise ValidationError({"listing": "unknown listing"})
    if not source.strip():
        raise ValidationError({"source": "say which case or report this comes from"})
    try:
        canonical = crypto.canonical(kind, value)
        index = crypto.blind_index(kind, value)
    except crypto.CanonicalisationError as exc:
        raise ValidationError({"value": str(exc)}) from None
    with transaction.atomic():
        entry = KnownFraudEntry.objects.create(
            kind=kind, index_value=index, value=canonical, listing=listing, source=source.strip(), added_by=actor
        )
        audit_record(
            actor=actor,
            action="redflags.fraud_entry_added",
            obj=entry,
            fields=["kind", "index_value", "value"],
            detail={"kind": kind, "listing": listing},
        )
    return entry


def _index_input(kind: str, canonical_value: str):
    """A stored canonical value in the form ``crypto.blind_index`` accepts for its kind."""
    return tuple(canonical_value.split("|")) if kind == "address" else canonical_value


def fraud_list_reindex() -> int:
    """Recompute the fraud list's blind indexes (after the registry rotated the index key or changed
    its width). The canonical values are kept encrypted for exactly this and for confirming matches."""
    changed = 0
    with transaction.atomic():
        for entry in KnownFraudEntry.objects.select_for_update().order_by("id"):
            if not entry.value:
                continue
            try:
                index = crypto.blind_index(entry.kind, _index_input(entry.kind, entry.value))
            except crypto.CanonicalisationError:
                continue
            if index != entry.index_value:
                entry.index_value = index
                entry.save(update_fields=["index_value"])
                changed += 1
        audit_record(
            actor=None,
            actor_label="system:redflags",
            action="redflags.fraud_list_reindexed",
            object_type="redflags.knownfraudentry",
            detail={"changed": changed},
        )
    return changed


def _notice_event(name: str, *, member_id, account_id, actor, payload: dict) -> RiskAssessment | None:
    return event_assess(
        event=engine.Event(
            name=name, member_id=member_id, account_id=account_id, actor_id=getattr(actor, "pk", None), payload=payload
        )
    )


def cra_alert_record(
    *,
    member,
    kind: str,
    agency: str,
    actor=None,
    source: str = ConsumerReportAlert.Source.STAFF,
    account=None,
    notes: str = "",
    received_at=None,
) -> ConsumerReportAlert:
    if kind not in ConsumerReportAlert.Kind.values:
        raise ValidationError({"kind": f"one of {', '.join(ConsumerReportAlert.Kind.values)}"})
    if not agency.strip():
        raise ValidationError({"agency": "name the consumer reporting agency"})
    if account is not None and account.member_id != member.pk:
        raise ValidationError({"account": "the account belongs to another member"})
    with transaction.atomic():
        alert = ConsumerReportAlert.objects.create(
            member=member,
            account=account,
            kind=kind,
            agency=agency.strip(),
            source=source,
            recorded_by=actor if getattr(actor, "pk", None) else None,
            notes=notes,
            received_at=received_at or timezone.now(),
        )
        audit_record(
            actor=actor,
            action="redflags.cra_alert_recorded",
            obj=alert,
            fields=["kind", "agency"],
            detail={"kind": kind, "source": source, "member_id": member.pk},
        )
        _notice_event(
            engine.CRA_ALERT,
            member_id=member.pk,
            account_id=account.pk if account else None,
            actor=actor,
            payload={"alert_id": alert.pk, "alert_kind": kind},
        )
    return alert


def identity_theft_notice_record(
    *, reporter: str, summary: str, actor, member=None, account=None, received_at=None
) -> IdentityTheftNotice:
    if reporter not in IdentityTheftNotice.Reporter.values:
        raise ValidationError({"reporter": "unknown reporter"})
    if not summary.strip():
        raise ValidationError({"summary": "describe the notice"})
    if member is None and account is None:
        raise ValidationError({"member": "say which member or account the notice is about"})
    if account is not None and member is not None and account.member_id != member.pk:
        raise ValidationError({"account": "the account belongs to another member"})
    member_id = member.pk if member is not None else account.member_id
    with transaction.atomic():
        notice = IdentityTheftNotice.objects.create(
            member_id=member_id,
            account=account,
            reporter=reporter,
            summary=summary.strip(),
            recorded_by=actor,
            received_at=received_at or timezone.now(),
        )
        audit_record(
            actor=actor,
            action="redflags.identity_theft_notice_recorded",
            obj=notice,
            fields=["reporter", "summary"],
            detail={"reporter": reporter, "member_id": member_id},
        )
        _notice_event(
            engine.IDENTITY_THEFT_NOTICE,
            member_id=member_id,
            account_id=account.pk if account else None,
            actor=actor,
            payload={"notice_id": notice.pk},
        )
    return notice


def security_incident_record(*, kind: str, description: str, actor, accounts=(), occurred_at=None) -> SecurityIncident:
    if kind not in SecurityIncident.Kind.values:
        raise ValidationError({"kind": "unknown incident kind"})
    if not description.strip():
        raise ValidationError({"description": "describe the incident"})
    accounts = list(accounts)
    with transaction.atomic():
        incident = SecurityIncident.objects.create(
            kind=kind, description=description.strip(), recorded_by=actor, occurred_at=occurred_at or timezone.now()
        )
        incident.accounts.set(accounts)
        audit_record(
            actor=actor,
            action="redflags.security_incident_recorded",
            obj=incident,
            fields=["kind", "accounts"],
            detail={"kind": kind, "accounts": len(accounts)},
        )
        for account in accounts:
            _notice_event(
                engine.SECURITY_INCIDENT,
                member_id=account.member_id,
                account_id=account.pk,
                actor=actor,
                payload={"incident_id": incident.pk, "incident_kind": kind},
            )
    return incident


# --- caller verification (internal procedure 7) ---------------------------------------------------

CALLER_ITEMS = ("ssn_last4", "date_of_birth", "address", "phone")


def _same(left: str, right: str) -> bool:
    return bool(left) and bool(right) and hmac.compare_digest(left.encode(), right.encode())


def caller_verify(*, member, staff, stated: dict) -> dict[str, bool]:
    """Compare what the caller states with the record; answer match / no match per item.

    Only items the caller stated are checked. Nothing stated is stored or returned. Repeated failures
    within the program's window raise B8 (inconsistent with what is on file).
    """
    results: dict[str, bool] = {}
    if stated.get("ssn_last4"):
        digits = crypto.ascii_digits(stated["ssn_last4"])
        results["ssn_last4"] = len(digits) == 4 and _same(digits, member.ssn_last4)
    if stated.get("date_of_birth"):
        value = stated["date_of_birth"]
        results["date_of_birth"] = member.date_of_birth is not None and value == member.date_of_birth
    if stated.get("address"):
        try:
            results["address"] = _same(
                crypto.blind_index("address", stated["address"]), member.address_index
            ) and crypto.canonical("address", stated["address"]) == crypto.canonical(
                "address",
                (
                    member.mailing_line1,
                    member.mailing_line2,
                    member.mailing_city,
                    member.mailing_state,
                    member.mailing_postal_code,
                ),
            )
        except crypto.CanonicalisationError:
            results["address"] = False
    if stated.get("phone"):
        try:
            results["phone"] = _same(
                crypto.canonical("phone", stated["phone"]),
                crypto.canonical("phone", member.phone) if member.phone else "",
            )
        except crypto.CanonicalisationError:
            results["phone"] = False
    if not results:
        raise ValidationError("enter at least one item the caller stated")
    passed = all(results.values())
    settings = engine.program_settings()
    with transaction.atomic():
        attempt = CallerVerificationAttempt.objects.create(member=member, staff=staff, results=results, passed=passed)
        audit_record(
            actor=staff,
            action="redflags.caller_verification",
            obj=attempt,
            fields=sorted(results),
            detail={
                "member_id": member.pk,
                "passed": passed,
                "results": {key: ("match" if ok else "no match") for key, ok in results.items()},
            },
        )
        if not passed:
            since = timezone.now() - datetime.timedelta(hours=settings.caller_failure_window_hours)
            failures = engine.caller_failures(member.pk, since=since)
            if failures >= settings.caller_failures_to_flag:
                already = ObservedEvent.objects.filter(
                    event=engine.CALLER_VERIFICATION_FAILED, member_id=member.pk, occurred_at__gte=since
                ).exists()
                if not already:
                    _notice_event(
                        engine.CALLER_VERIFICATION_FAILED,
                        member_id=member.pk,
                        account_id=None,
                        actor=staff,
                        payload={
                            "failures": failures,
                            "window_hours": settings.caller_failure_window_hours,
                            "failed_items": sorted(k for k, ok in results.items() if not ok),
                        },
                    )
    return results


# --- training, program settings and changes ----------------------------------------------------


def has_current_training(user) -> bool:
    version = engine.program_settings().program_version
    return TrainingAcknowledgement.objects.filter(user_id=user.pk, program_version=version).exists()


def require_current_training(user) -> None:
    if not has_current_training(user):
        raise PermissionDenied(
            f"{user.get_username()} has no signed acknowledgement of program version {engine.program_settings().program_version}; "
            "the Program Administrator must record training before this person can act on Red Flags."
        )


def training_acknowledge(*, user, trained_by, program_version: str | None = None) -> TrainingAcknowledgement:
    version = program_version or engine.program_settings().program_version
    with transaction.atomic():
        ack, created = TrainingAcknowledgement.objects.get_or_create(
            user=user, program_version=version, defaults={"trained_by": trained_by}
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


def program_settings_update(
    *,
    actor,
    warn_threshold: int,
    hold_threshold: int,
    program_version: str | None = None,
    caller_failures_to_flag: int | None = None,
    reason: str = "",
) -> ProgramSettings:
    if not actor.has_perm("redflags.manage_program"):
        raise PermissionDenied("only the Program Administrator sets thresholds")
    if not 0 < warn_threshold <= hold_threshold:
        raise ValidationError("the warning threshold must be above zero and at most the hold threshold")
    with transaction.atomic():
        settings = ProgramSettings.objects.select_for_update().get_or_create(pk=1)[0]
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
        settings.updated_at, settings.updated_by = timezone.now(), actor
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


def program_change_recommend(*, actor, title: str, recommendation: str) -> ProgramChange:
    if not actor.has_perm("redflags.manage_program"):
        raise PermissionDenied("only the Program Administrator recommends program changes")
    if not title.strip() or not recommendation.strip():
        raise ValidationError("a program change needs a title and the recommendation")
    with transaction.atomic():
        change = ProgramChange.objects.create(
            title=title.strip(), recommendation=recommendation.strip(), recommended_by=actor
        )
        audit_record(
            actor=actor, action="redflags.program_change_recommended", obj=change, fields=["title", "recommendation"]
        )
    return change


def program_change_decide(
    *,
    actor,
    change: ProgramChange,
    decision: str,
    decided_on: datetime.date,
    board_reference: str,
    notes: str = "",
    new_program_version: str = "",
) -> ProgramChange:
    """Record the board's determination (accept, modify or reject); an accepted change may bump the program version."""
    if not actor.has_perm("redflags.manage_program"):
        raise PermissionDenied("only the Program Administrator records the board's decision")
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


REVIEW_FIELDS = (
    "experiences",
    "changes_in_methods",
    "changes_in_detection",
    "changes_in_accounts",
    "changes_in_arrangements",
    "recommended_changes",
    "changes_warranted",
)


def annual_review_save(*, actor, year: int, **considerations) -> AnnualReview:
    """The Program Administrator's yearly consideration; the report figures are snapshotted with it."""
    from redflags.selectors import annual_review_report

    if not actor.has_perm("redflags.manage_program"):
        raise PermissionDenied("only the Program Administrator records the annual review")
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
        review, created = AnnualReview.objects.select_for_update().get_or_create(
            year=int(year), defaults={"prepared_by": actor}
        )
        for name, value in considerations.items():
            setattr(review, name, value)
        review.prepared_by, review.prepared_at, review.report = actor, timezone.now(), snapshot
        review.save()
        audit_record(
            actor=actor,
            action="redflags.annual_review_saved",
            obj=review,
            fields=sorted(considerations),
            detail={"year": int(year), "created": created},
        )
    return review


# --- rule lifecycle ------------------------------------------------------------------------------


def _require_rule_manager(actor) -> None:
    if not actor.has_perm("redflags.manage_rules"):
        raise PermissionDenied("only the Program Administrator manages rules")


def rule_version_draft(
    *,
    actor,
    rule: Rule,
    weight: int,
    minimum_outcome: str = Outcome.RECORD,
    parameters: dict | None = None,
    notes: str = "",
) -> RuleVersion:
    _require_rule_manager(actor)
    if minimum_outcome not in Outcome.values:
        raise ValidationError({"minimum_outcome": "record, warn or hold"})
    if not 0 <= int(weight) <= 1000:
        raise ValidationError({"weight": "between 0 and 1000"})
    with transaction.atomic():
        number = (
            rule.versions.select_for_update().order_by("-number").values_list("number", flat=True).first() or 0
        ) + 1
        version = RuleVersion.objects.create(
            rule=rule,
            number=number,
            weight=weight,
            minimum_outcome=minimum_outcome,
            parameters=parameters or {},
            notes=notes,
            created_by=actor,
        )
        audit_record(
            actor=actor,
            action="redflags.rule_drafted",
            obj=version,
            fields=["weight", "minimum_outcome", "parameters"],
            detail={"rule": rule.code, "number": number},
        )
    return version


def rule_version_dry_run(*, actor, version: RuleVersion, days: int = 365) -> dict:
    """How many accounts the draft would have queued over the past ``days`` of observed events.

    Past events are replayed against today's registry data (the program does not keep snapshots of
    members), with the draft standing in for the rule's active version; the same replay with the
    active set gives the comparison.
    """
    _require_rule_manager(actor)
    spec = engine.DETECTORS[version.rule.code]
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
        event = engine.Event(
            name=observed.event,
            member_id=observed.member_id,
            account_id=observed.account_id,
            occurred_at=observed.occurred_at,
            fields=tuple(observed.fields),
            old_indexes=observed.old_indexes,
            new_indexes=observed.new_indexes,
            payload=observed.payload,
        )
        ctx = engine.Context(event)
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


def rule_version_activate(*, actor, version: RuleVersion) -> RuleVersion:
    _require_rule_manager(actor)
    with transaction.atomic():
        version = RuleVersion.objects.select_for_update().get(pk=version.pk)
        if version.status != RuleVersion.Status.DRAFT:
            raise ValidationError("only a draft can be activated")
        if not version.dry_run:
            raise ValidationError("run a dry run against past events before activating")
        previous = (
            RuleVersion.objects.select_for_update()
            .filter(rule_id=version.rule_id, status=RuleVersion.Status.ACTIVE)
            .first()
        )
        now = timezone.now()
        if previous is not None:
            previous.status, previous.retired_at = RuleVersion.Status.RETIRED, now
            previous.save(update_fields=["status", "retired_at"])
        version.status, version.activated_at, version.activated_by = RuleVersion.Status.ACTIVE, now, actor
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


def rule_version_retire(*, actor, version: RuleVersion, reason: str = "") -> RuleVersion:
    _require_rule_manager(actor)
    with transaction.atomic():
        version = RuleVersion.objects.select_for_update().get(pk=version.pk)
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


# --- review queue responses --------------------------------------------------------------------

RESOLVING = {
    Response.Kind.MONITOR,
    Response.Kind.DO_NOT_OPEN,
    Response.Kind.CLOSE_ACCOUNT,
    Response.Kind.NO_RESPONSE,
    Response.Kind.RELEASE_HOLD,
}


def review_respond(
    *,
    item: ReviewItem,
    actor,
    kind: str,
    notes: str = "",
    agency: str = "",
    case_number: str = "",
    justification: str = "",
) -> Response:
    """Record one response of the program to a queued Red Flag, and carry it out through the registry."""
    if not actor.has_perm("redflags.work_queue"):
        raise PermissionDenied("only a Red Flag Analyst works the review queue")
    require_current_training(actor)
    if kind not in Response.Kind.values:
        raise ValidationError({"kind": "unknown response"})
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update().select_related("assessment").get(pk=item.pk)
        if item.status == ReviewItem.Status.RESOLVED:
            raise ValidationError("this review item is already resolved")
        account = None
        if item.account_id:
            from accounts.models import Account

            account = Account.objects.select_for_update().get(pk=item.account_id)
        held = account is not None and account.on_hold
        if kind == Response.Kind.NOTIFY_LAW_ENFORCEMENT and not (agency.strip() and case_number.strip()):
            raise ValidationError("notifying law enforcement needs the agency and the case number")
        if kind == Response.Kind.NO_RESPONSE and not justification.strip():
            raise ValidationError("say why no response is warranted")
        if kind == Response.Kind.CONTACT_CUSTOMER and not notes.strip():
            raise ValidationError("note how and when the customer was contacted and what they said")
        if kind in (Response.Kind.MONITOR, Response.Kind.NO_RESPONSE) and held:
            raise ValidationError(
                "the opening is on hold: release it after verifying identity, or do not open the account"
            )
        if (
            kind
            in (
                Response.Kind.MONITOR,
                Response.Kind.DO_NOT_OPEN,
                Response.Kind.CLOSE_ACCOUNT,
                Response.Kind.RELEASE_HOLD,
            )
            and account is None
        ):
            raise ValidationError("this response needs an account; the flag is about the member only")
        if kind == Response.Kind.DO_NOT_OPEN and account.status != "pending":
            raise ValidationError("only an account that is not yet open can be refused")
        if kind == Response.Kind.CLOSE_ACCOUNT and account.status not in ("open", "suspended"):
            raise ValidationError("only an open or suspended account can be closed")
        if kind == Response.Kind.RELEASE_HOLD:
            if not held:
                raise ValidationError("the account is not on hold")
            if account.opened_by_id and account.opened_by_id == actor.pk:
                raise PermissionDenied("dual control: the person who opened the account cannot clear its hold")
            if not notes.strip():
                raise ValidationError("note how the identity was verified")
        response = Response.objects.create(
            review_item=item,
            kind=kind,
            actor=actor,
            notes=notes.strip(),
            agency=agency.strip(),
            case_number=case_number.strip(),
            justification=justification.strip(),
            rule_versions=[f"{entry['code']}@v{entry['version']}" for entry in item.assessment.fired],
        )
        reason = f"Red Flags review #{item.pk}: {response.get_kind_display()}"
        if kind == Response.Kind.MONITOR and not account.red_flag_warning:
            registry.set_warning(account=account, warning=True, reason=reason, actor=actor)
        elif kind == Response.Kind.DO_NOT_OPEN:
            registry.deny_opening(account=account, actor=actor, reason=reason)
        elif kind == Response.Kind.CLOSE_ACCOUNT:
            registry.close_account(account=account, actor=actor, reason=reason)
        elif kind == Response.Kind.RELEASE_HOLD:
            registry.release_hold(account=account, actor=actor, reason=reason)
        if kind in RESOLVING:
            item.status, item.resolved_at, item.resolved_by = ReviewItem.Status.RESOLVED, timezone.now(), actor
            item.save(update_fields=["status", "resolved_at", "resolved_by"])
        audit_record(
            actor=actor,
            action=f"redflags.response.{kind}",
            obj=response,
            fields=["kind", "notes", "agency", "case_number", "justification"],
            reason=notes or justification,
            detail={
                "review_item": item.pk,
                "account_id": item.account_id,
                "rule_versions": response.rule_versions,
                "resolved": kind in RESOLVING,
            },
        )
    return response


def open_items_for_account(account_id: int):
    return ReviewItem.objects.filter(Q(account_id=account_id), status=ReviewItem.Status.OPEN)
