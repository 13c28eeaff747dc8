"""The member's consent: recording it, revoking it, and which consents are in force for a release.

Secondary purposes need written consent (seed 001): the written form, or the member's own signed-in
portal session. A phone call is recorded but can authorise a primary purpose only. Imaging and
telephone recordings can never be released on consent (seed 000 F.1), and law enforcement never holds
a consent: it needs legal process (bases.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from disclosures.models import (
    NOT_CONSENTABLE,
    PRIMARY_PURPOSES,
    SECONDARY_PURPOSES,
    Consent,
    NoticeText,
    Purpose,
    Recipient,
    text_sha256,
)
from disclosures.services.categories import clean_categories
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import Member

WRITTEN_CHANNELS = frozenset({Consent.Channel.WRITTEN, Consent.Channel.PORTAL})


@transaction.atomic
def consent_grant(
    *,
    actor: Actor,
    member: Member,
    recipient: Recipient,
    categories: Iterable[str],
    purpose: str,
    channel: str,
    evidence: str = "",
    purpose_detail: str = "",
    expires_at: datetime | None = None,
    notice_text: NoticeText | None = None,
    notice_shown: str = "",
) -> Consent:
    """Record a member's consent. Secondary purposes need written consent (seed 001): the written form or
    the member's own signed-in portal session; a phone call is recorded but cannot authorise them.

    A consent given in the portal keeps its evidence (issue 14.5): ``notice_text``, the version shown,
    and ``notice_shown``, the words exactly as the member read them (with the member's choices filled
    in); the record keeps both and their SHA-256. Staff-recorded consents may name a version too."""
    cats = clean_categories(categories)
    excluded = sorted(set(cats) & NOT_CONSENTABLE)
    if excluded:
        raise ValidationError(
            "Imaging and telephone recordings cannot be released on a member's consent (seed 000 F.1): "
            + ", ".join(excluded)
        )
    if purpose not in Purpose.values or purpose not in (PRIMARY_PURPOSES | SECONDARY_PURPOSES):
        raise ValidationError(f"{purpose!r} is not a purpose a member can consent to.")
    if channel not in Consent.Channel.values:
        raise ValidationError(f"Unknown consent channel {channel!r}.")
    if purpose in SECONDARY_PURPOSES and channel not in WRITTEN_CHANNELS:
        raise ValidationError(
            "A secondary purpose needs the member's written consent (written form or the member portal), "
            "not a phone call."
        )
    if channel == Consent.Channel.PORTAL and (notice_text is None or not notice_shown.strip()):
        raise ValidationError("A consent given in the portal keeps the notice the member read: version and wording.")
    if notice_text is None and notice_shown:
        raise ValidationError("Name the notice version the wording comes from.")
    if channel != Consent.Channel.PORTAL and not evidence.strip():
        raise ValidationError("Record the evidence: the form reference or the call id.")
    if not recipient.is_active:
        raise ValidationError("The recipient is not active.")
    if recipient.kind == Recipient.Kind.LAW_ENFORCEMENT:
        raise ValidationError("Releases to law enforcement need legal process, not a consent record.")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ValidationError("The consent would already be expired.")
    consent = Consent.objects.create(
        member=member,
        recipient=recipient,
        categories=cats,
        purpose=purpose,
        purpose_detail=purpose_detail,
        channel=channel,
        evidence=evidence.strip(),
        granted_at=now,
        expires_at=expires_at,
        recorded_by=signed_in_user(actor),
        notice_text=notice_text,
        notice_shown=notice_shown,
        notice_sha256=text_sha256(notice_shown) if notice_text is not None else "",
    )
    audit_record(
        actor=actor,
        action="consent.granted",
        obj=consent,
        fields=["categories", "purpose", "channel", "expires_at"],
        detail={
            "member_id": member.pk,
            "recipient_id": recipient.pk,
            "categories": cats,
            "purpose": purpose,
            "channel": channel,
            "notice_text_id": notice_text.pk if notice_text is not None else None,
        },
    )
    return consent


@transaction.atomic
def consent_revoke(*, actor: Actor, consent: Consent, channel: str, reason: str = "") -> Consent:
    """Revocation keeps the record (status revoked, when and by whom) and stops the next release."""
    consent = Consent.objects.select_for_update(no_key=True).get(pk=consent.pk)
    if consent.revoked_at:
        raise ValidationError("This consent is already revoked.")
    if channel not in Consent.Channel.values:
        raise ValidationError(f"Unknown channel {channel!r}.")
    consent.revoked_at = timezone.now()
    consent.revoked_by = signed_in_user(actor)
    consent.revocation_channel = channel
    consent.save(update_fields=["revoked_at", "revoked_by", "revocation_channel"])
    audit_record(
        actor=actor,
        action="consent.revoked",
        obj=consent,
        fields=["revoked_at", "revoked_by"],
        reason=reason,
        detail={"member_id": consent.member_id, "recipient_id": consent.recipient_id, "channel": channel},
    )
    return consent


def active_consents(*, recipient: Recipient, purpose: str, categories: list[str]) -> QuerySet[Consent]:
    """The consents that authorise a release to ``recipient`` for ``purpose`` covering every category,
    now: granted, not revoked, not expired, and written when the purpose is secondary."""
    now = timezone.now()
    queryset = Consent.objects.filter(
        recipient=recipient,
        purpose=purpose,
        revoked_at__isnull=True,
        categories__contains=categories,
        granted_at__lte=now,
    ).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    if purpose in SECONDARY_PURPOSES:
        queryset = queryset.filter(channel__in=WRITTEN_CHANNELS)
    return queryset


_IN_FORCE_COLUMNS = (
    "id",
    "member_id",
    "recipient_id",
    "categories",
    "purpose",
    "channel",
    "granted_at",
    "expires_at",
    "revoked_at",
)


def consent_read(*, consent_id: int) -> Consent | None:
    """One consent's columns that say whether it is in force (``consent_in_force``), read afresh in one
    plain query (the export gate's hot path); its other columns load on first use."""
    columns = tuple(field.attname for field in Consent._meta.concrete_fields if field.attname in _IN_FORCE_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM {Consent._meta.db_table} WHERE id = %s",  # noqa: S608 - the model's
            [consent_id],
        )
        row = cursor.fetchone()
    return Consent.from_db(connection.alias, columns, row) if row else None


def consent_reread(consent: Consent) -> None:
    """Every column of ``consent`` read afresh into it (also one held only by id), in one plain query: the
    export gate reads a consent at the moment of each release, and Connect My Data releases many. Raises
    ``Consent.DoesNotExist`` when it is gone. (The consent's columns need no conversion from the driver's
    values; ``tests/disclosures/test_consent_in_force.py`` compares the result with the ORM's.)"""
    fields = Consent._meta.concrete_fields
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(str(field.column) for field in fields)} FROM {Consent._meta.db_table} WHERE id = %s",  # noqa: S608
            [consent.pk],
        )
        row = cursor.fetchone()
    if row is None:
        raise Consent.DoesNotExist(f"consent #{consent.pk} is not on record")
    for field, value in zip(fields, row, strict=True):
        setattr(consent, field.attname, value)


def consent_in_force(
    consent: Consent, *, recipient: Recipient, purpose: str, categories: list[str], at: datetime | None = None
) -> bool:
    """``active_consents``'s test applied to one consent already read (the same conditions, in Python):
    for a release that has just read its consent afresh and need not ask the database a second time.
    ``tests/disclosures/test_consent_in_force.py`` holds the two to the same answers."""
    at = at or timezone.now()
    return (
        consent.recipient_id == recipient.pk
        and consent.purpose == purpose
        and consent.revoked_at is None
        and set(categories) <= set(consent.categories)
        and consent.granted_at <= at
        and (consent.expires_at is None or consent.expires_at > at)
        and (purpose not in SECONDARY_PURPOSES or consent.channel in WRITTEN_CHANNELS)
    )


def consent_status_reason(
    *, recipient: Recipient, purpose: str, categories: list[str], member_ids: list[int], consent_id: int | None = None
) -> str:
    """Why the consent gate fails, in words an auditor can act on (revoked / expired / narrower / none)."""
    any_consent = Consent.objects.filter(recipient=recipient, member_id__in=member_ids).order_by("-granted_at")
    if consent_id is not None:
        any_consent = any_consent.filter(pk=consent_id)
    now = timezone.now()
    reasons = []
    for consent in any_consent[:5]:
        if consent.revoked_at:
            reasons.append(f"consent #{consent.pk} was revoked {consent.revoked_at:%Y-%m-%d}")
        elif consent.expires_at and consent.expires_at <= now:
            reasons.append(f"consent #{consent.pk} expired {consent.expires_at:%Y-%m-%d}")
        elif consent.purpose != purpose:
            reasons.append(f"consent #{consent.pk} is for another purpose ({consent.purpose})")
        elif not set(categories) <= set(consent.categories):
            missing = ", ".join(sorted(set(categories) - set(consent.categories)))
            reasons.append(f"consent #{consent.pk} does not cover {missing}")
        elif purpose in SECONDARY_PURPOSES and consent.channel not in WRITTEN_CHANNELS:
            reasons.append(f"consent #{consent.pk} was by phone; a secondary purpose needs written consent")
    return "; ".join(reasons) or "no consent on record"


def consents_destroy(ids: list[int]) -> None:
    """Retention (lapsed consents past their evidence period): the rows go. The caller, retention's
    purge, audits each batch with the ids and keeps them on its destruction ledger; the disclosure log's
    entries that named a consent keep their ``basis_ref`` text, which is the evidence of the release."""
    # The table is append-only for the application: the owner-run function is the one way to delete
    # (disclosures/migrations/0003), and it deletes only revoked or expired consents among ``ids``.
    with connection.cursor() as cursor:
        cursor.execute("SELECT memberguard_purge_lapsed_consents(%s::bigint[])", [list(ids)])
