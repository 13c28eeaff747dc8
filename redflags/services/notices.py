"""What staff record for the program: the fraud list, CRA alerts, identity-theft notices, incidents.

Each record is written with its audit row and scored in the same transaction (the program's own
writes are not deferred to Celery): a CRA alert or a notice raises its CRA/D1 flag at once, an
incident one assessment per affected account. The fraud list keeps a blind index to find matches and
the encrypted canonical value to confirm them and to re-index after a key rotation; it never shows
the value again.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from members import crypto
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import Member, User
from redflags.events import CRA_ALERT, IDENTITY_THEFT_NOTICE, SECURITY_INCIDENT
from redflags.models import ConsumerReportAlert, IdentityTheftNotice, KnownFraudEntry, SecurityIncident
from redflags.services.assessments import program_event_assess


def _recorder(actor: Actor) -> User:
    """Notices and incidents are recorded by a signed-in staff member, whose name the record keeps."""
    user = signed_in_user(actor)
    if user is None:
        raise PermissionDenied("a notice or incident is recorded by a signed-in staff member")
    return user


def fraud_entry_add(*, kind: str, value: str | tuple, listing: str, source: str, actor: Actor) -> KnownFraudEntry:
    """Add a value to the fraud or fictitious list: stored as a blind index and encrypted, never shown."""
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
            kind=kind,
            index_value=index,
            value=canonical,
            listing=listing,
            source=source.strip(),
            added_by=signed_in_user(actor),
        )
        audit_record(
            actor=actor,
            action="redflags.fraud_entry_added",
            obj=entry,
            fields=["kind", "index_value", "value"],
            detail={"kind": kind, "listing": listing},
        )
    return entry


def _index_input(kind: str, canonical_value: str) -> str | tuple:
    """A stored canonical value in the form ``crypto.blind_index`` accepts for its kind."""
    return tuple(canonical_value.split("|")) if kind == "address" else canonical_value


def fraud_list_reindex() -> int:
    """Recompute the fraud list's blind indexes (after the registry rotated the index key or changed
    its width). The canonical values are kept encrypted for exactly this and for confirming matches."""
    changed = 0
    with transaction.atomic():
        for entry in KnownFraudEntry.objects.select_for_update(no_key=True).order_by("id"):
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


def cra_alert_record(
    *,
    member: Member,
    kind: str,
    agency: str,
    actor: Actor = None,
    source: str = ConsumerReportAlert.Source.STAFF,
    account: Account | None = None,
    notes: str = "",
    received_at: datetime.datetime | None = None,
) -> ConsumerReportAlert:
    """Record a consumer reporting agency's alert (staff or the API) and score it (CRA1-CRA4)."""
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
            recorded_by=signed_in_user(actor),
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
        program_event_assess(
            CRA_ALERT,
            member_id=member.pk,
            account_id=account.pk if account else None,
            actor=actor,
            payload={"alert_id": alert.pk, "alert_kind": kind},
        )
    return alert


def identity_theft_notice_record(
    *,
    reporter: str,
    summary: str,
    actor: Actor,
    member: Member | None = None,
    account: Account | None = None,
    received_at: datetime.datetime | None = None,
) -> IdentityTheftNotice:
    """Record a notice of possible identity theft about a member or an account and score it (D1)."""
    if reporter not in IdentityTheftNotice.Reporter.values:
        raise ValidationError({"reporter": "unknown reporter"})
    if not summary.strip():
        raise ValidationError({"summary": "describe the notice"})
    if member is None and account is None:
        raise ValidationError({"member": "say which member or account the notice is about"})
    if account is not None and member is not None and account.member_id != member.pk:
        raise ValidationError({"account": "the account belongs to another member"})
    recorder = _recorder(actor)
    member_id = member.pk if member is not None else account.member_id  # type: ignore[union-attr]  # one is set
    with transaction.atomic():
        notice = IdentityTheftNotice.objects.create(
            member_id=member_id,
            account=account,
            reporter=reporter,
            summary=summary.strip(),
            recorded_by=recorder,
            received_at=received_at or timezone.now(),
        )
        audit_record(
            actor=actor,
            action="redflags.identity_theft_notice_recorded",
            obj=notice,
            fields=["reporter", "summary"],
            detail={"reporter": reporter, "member_id": member_id},
        )
        program_event_assess(
            IDENTITY_THEFT_NOTICE,
            member_id=member_id,
            account_id=account.pk if account else None,
            actor=actor,
            payload={"notice_id": notice.pk},
        )
    return notice


def security_incident_record(
    *,
    kind: str,
    description: str,
    actor: Actor,
    accounts: Iterable[Account] = (),
    occurred_at: datetime.datetime | None = None,
) -> SecurityIncident:
    """Record a security incident (C6-C8) and score each affected account."""
    if kind not in SecurityIncident.Kind.values:
        raise ValidationError({"kind": "unknown incident kind"})
    if not description.strip():
        raise ValidationError({"description": "describe the incident"})
    accounts = list(accounts)
    recorder = _recorder(actor)
    with transaction.atomic():
        incident = SecurityIncident.objects.create(
            kind=kind, description=description.strip(), recorded_by=recorder, occurred_at=occurred_at or timezone.now()
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
            program_event_assess(
                SECURITY_INCIDENT,
                member_id=account.member_id,
                account_id=account.pk,
                actor=actor,
                payload={"incident_id": incident.pk, "incident_kind": kind},
            )
    return incident
