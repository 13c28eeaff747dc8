"""Reads of the registry shared by admin, API, portal, Red Flags and the auditor pages."""

from __future__ import annotations

import datetime

from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from members.crypto import CanonicalisationError, canonical, index_values
from members.identifiers import BlindIndex, deferred, member_index_for
from members.masking import masked_member
from members.models import AuditEvent, Member, RevealGrant

# Columns a list page never needs: loading them would decrypt every row (members/identifiers.py).
ENCRYPTED_MEMBER_FIELDS = deferred("members.Member")


def member_list(*, queryset: QuerySet[Member] | None = None) -> QuerySet[Member]:
    """Members without their ciphertexts, with ``has_date_of_birth`` for the masked display."""
    queryset = queryset if queryset is not None else Member.objects.all()
    return queryset.defer(*ENCRYPTED_MEMBER_FIELDS).annotate(
        has_date_of_birth=ExpressionWrapper(Q(date_of_birth__isnull=False), output_field=BooleanField())
    )


def member_for_user(user) -> Member | None:
    """The member record a portal login belongs to (``None`` for staff or an unlinked login)."""
    if not getattr(user, "is_authenticated", False):
        return None
    return member_list().filter(user=user).first()


def member_masked(member: Member) -> dict[str, str]:
    """Masked identifiers for any screen (the portal reuses this for a member's own record)."""
    return masked_member(member)


def _stored_canonical(index: BlindIndex, member: Member) -> str | None:
    value = index.value_of(member)
    if value is None:
        return None
    try:
        return canonical(index.kind, value)
    except CanonicalisationError:
        return None


def members_matching(kind: str, value, *, exclude_member_id: int | None = None) -> list[Member]:
    """Members whose ``kind`` value equals ``value`` exactly.

    The blind index finds candidates (it is truncated, so it has deliberate false positives); each
    candidate is confirmed by comparing canonical forms, decrypting only those few rows.
    """
    try:
        indexes = index_values(kind, value)
        wanted = canonical(kind, value)
    except CanonicalisationError:
        return []
    index = member_index_for(kind)
    candidates = Member.objects.filter(**{f"{index.column}__in": indexes})
    if exclude_member_id is not None:
        candidates = candidates.exclude(pk=exclude_member_id)
    return [member for member in candidates if _stored_canonical(index, member) == wanted]


def access_log(
    *,
    member: Member | int | None = None,
    actor=None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Who looked at or revealed what: ``AuditEvent`` rows whose action starts with ``access.``."""
    events = AuditEvent.objects.filter(action__startswith="access.").select_related("actor")
    if member is not None:
        member_id = member.pk if isinstance(member, Member) else member
        # Record views name the member in object_id; list pages and CSV exports list the ids they showed.
        events = events.filter(
            Q(object_type="members.member", object_id=str(member_id))
            | Q(action="access.list_members", detail__member_ids__contains=[member_id])
        )
    if actor is not None:
        events = events.filter(actor=actor)
    if since is not None:
        events = events.filter(at__gte=since)
    if until is not None:
        events = events.filter(at__lt=until)
    return events


def active_reveals(*, user, member: Member) -> dict[str, datetime.datetime]:
    """Fields of ``member`` this user may currently see in full, with when each reveal expires."""
    if not getattr(user, "is_authenticated", False):
        return {}
    grants = RevealGrant.objects.filter(user=user, member=member, expires_at__gt=timezone.now())
    reveals: dict[str, datetime.datetime] = {}
    for grant in grants:
        reveals[grant.field_name] = max(grant.expires_at, reveals.get(grant.field_name, grant.expires_at))
    return reveals


def member_count_estimate() -> int | None:
    """PostgreSQL's own idea of how many members there are, without counting them.

    The live-tuple statistic (``pg_stat_user_tables.n_live_tup``) follows every committed insert and
    delete; ``pg_class.reltuples`` (set by VACUUM/ANALYZE) stands in when the statistics have nothing.
    ``None`` when neither knows (a table never analysed, statistics reset): callers count exactly then.
    One catalog row, no table scan.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_stat_get_live_tuples(oid), reltuples FROM pg_class WHERE oid = %s::regclass",
            [connection.ops.quote_name(Member._meta.db_table)],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    live, reltuples = row
    if live:
        return int(live)
    if reltuples is not None and reltuples >= 0:
        return int(reltuples)
    return None
