"""Access to member records as events in the audit trail: record views, list views and reveals.

A reveal shows one full identifier for ``REVEAL_SECONDS`` to a user holding the field's declared
permission (members/identifiers.py), after a typed reason that itself may not contain an identifier;
denied attempts are recorded too.
"""

from __future__ import annotations

import datetime
import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from members import identifiers
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.crypto import nfkc
from members.models import Member, RevealGrant

# How long a revealed value stays visible.
REVEAL_SECONDS = 300
MINIMUM_REASON_LENGTH = 10
# Fields a reveal may expose, with the permission each needs (declared in members/identifiers.py).
REVEALABLE_FIELDS = identifiers.revealable()
_LOOKS_LIKE_IDENTIFIER = re.compile(r"[0-9][0-9 \-]{6,}[0-9]")


_DIGIT_RUN = re.compile(r"\d[\d\- ]{3,}\d")
_LICENCE_LIKE = re.compile(r"^(\s*(?:licen[cs]e\s*:?\s*)?[A-Za-z]{2}\s*[:/ ]\s*)([A-Za-z0-9\- ]{4,24})$")


def masked_search_term(term: str) -> str:
    """What a staff member searched, for the access log: names and words as typed; any run of five or more
    digits (an SSN, TIN, phone or account number) and a licence number keep only their last four."""
    term = " ".join(nfkc(term or "").split())[:200]
    licence = _LICENCE_LIKE.match(term)
    if licence and any(ch.isdigit() for ch in licence.group(2)):
        return licence.group(1) + "\u2022" * max(len(licence.group(2)) - 4, 1) + licence.group(2)[-4:]

    def mask(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group(0))
        return match.group(0) if len(digits) < 5 else "\u2022" * (len(digits) - 4) + digits[-4:]

    return _DIGIT_RUN.sub(mask, term)


def member_record_view(*, actor: Actor, member: Member, channel: str = "admin", ip_address: str | None = None) -> None:
    """Every staff view of a member's record leaves an ``access.view_member`` row."""
    with transaction.atomic():
        audit_record(
            actor=actor, action="access.view_member", obj=member, detail={"channel": channel}, ip_address=ip_address
        )


def member_list_view(
    *, actor: Actor, member_ids: list[int], channel: str = "admin", query: str = "", ip_address: str | None = None
) -> None:
    """A list page showing members (masked) is recorded once, naming the ids shown."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="access.list_members",
            object_type="members.member",
            detail={
                "channel": channel,
                "member_ids": member_ids[:200],
                "searched": bool(query),
                "search": masked_search_term(query),
            },
            ip_address=ip_address,
        )


def member_reveal(
    *, actor: Actor, member: Member, field_name: str, reason: str, channel: str = "admin", ip_address: str | None = None
) -> RevealGrant:
    """Show one full value for ``REVEAL_SECONDS``: needs the permission and a typed reason; audited."""
    permission = REVEALABLE_FIELDS.get(field_name)
    if permission is None:
        raise ValidationError({"field_name": ["This field cannot be revealed."]})
    user = signed_in_user(actor)
    if user is None or not user.has_perm(permission):
        with transaction.atomic():
            audit_record(
                actor=actor,
                action="access.reveal_denied",
                obj=member,
                fields=[field_name],
                detail={"channel": channel},
                ip_address=ip_address,
            )
        raise PermissionDenied("You do not have permission to reveal identifying information.")
    reason = " ".join(nfkc(reason or "").split())
    if len(reason) < MINIMUM_REASON_LENGTH:
        raise ValidationError(
            {"reason": [f"Type why you need the full value (at least {MINIMUM_REASON_LENGTH} characters)."]}
        )
    if _LOOKS_LIKE_IDENTIFIER.search(reason):
        raise ValidationError({"reason": ["Do not type identifying numbers into the reason."]})
    with transaction.atomic():
        grant = RevealGrant.objects.create(
            user=user,
            member=member,
            field_name=field_name,
            reason=reason,
            expires_at=timezone.now() + datetime.timedelta(seconds=REVEAL_SECONDS),
        )
        audit_record(
            actor=actor,
            action="access.reveal",
            obj=member,
            fields=[field_name],
            reason=reason,
            detail={"channel": channel, "expires_at": grant.expires_at.isoformat()},
            ip_address=ip_address,
        )
    return grant


def staff_session_expire(*, user, idle_seconds: int, ip_address: str | None = None) -> None:
    """A staff session ended for inactivity (config.middleware.StaffIdleTimeout): one ``auth.idle_logout`` row."""
    with transaction.atomic():
        audit_record(
            actor=user,
            action="auth.idle_logout",
            obj=user,
            detail={"idle_seconds": idle_seconds},
            ip_address=ip_address,
        )
