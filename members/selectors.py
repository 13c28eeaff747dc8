"""Reads of the registry shared by admin, API, portal, Red Flags and the auditor pages: the member list
without its ciphertexts, exact matches through the blind indexes (and the staff search built on them),
the access log, active reveals."""

from __future__ import annotations

import datetime
import re

from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, Q, QuerySet
from django.utils import timezone

from members.actors import Actor, signed_in_user
from members.crypto import CanonicalisationError, canonical, index_values, nfkc
from members.identifiers import BlindIndex, deferred, member_index_for
from members.models import AuditEvent, Member, RevealGrant, User
from members.validation import US_STATES

_DIGITS_ONLY = re.compile(r"^[0-9\- ]+$")
_LICENCE_TERM = re.compile(r"^(?:licen[cs]e\s*:?\s*)?([A-Za-z]{2})\s*[:/ ]\s*([A-Za-z0-9\- ]{4,24})$")
# Columns a list page never needs: loading them would decrypt every row (members/identifiers.py).
ENCRYPTED_MEMBER_FIELDS = deferred("members.Member")


def member_list(*, queryset: QuerySet[Member] | None = None) -> QuerySet[Member]:
    """Members without their ciphertexts, with ``has_date_of_birth`` for the masked display."""
    queryset = queryset if queryset is not None else Member.objects.all()
    return queryset.defer(*ENCRYPTED_MEMBER_FIELDS).annotate(
        has_date_of_birth=ExpressionWrapper(Q(date_of_birth__isnull=False), output_field=BooleanField())
    )


def member_for_user(user: Actor) -> Member | None:
    """The member record a portal login belongs to (``None`` for staff or an unlinked login)."""
    login = signed_in_user(user)
    return member_list().filter(user=login).first() if login is not None else None


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


def _exact(queryset, kind: str, term: str):
    # The blind index is truncated on purpose (docs/keys.md), so candidates are confirmed.
    return queryset.filter(pk__in=[member.pk for member in members_matching(kind, term)])


def is_identifier_term(term: str) -> bool:
    """Whether a search term is a full SSN/TIN or a licence (state:number): such a term never goes in a
    URL (it would sit in browser history, proxy and access logs); it is searched by POST or by a
    server-side token (members.search_tokens)."""
    term = nfkc(term or "")
    licence = _LICENCE_TERM.match(term)
    if licence and any(ch.isdigit() for ch in licence.group(2)) and licence.group(1).upper() in US_STATES:
        return True
    return bool(_DIGITS_ONLY.match(term)) and len(re.sub(r"[^0-9]", "", term)) == 9


def member_search(queryset: QuerySet[Member], term: str, user) -> QuerySet[Member]:
    """Search by member number, name prefix, phone, email, SSN/TIN last four, and (for permitted
    roles) exact SSN/TIN or licence through the blind index. Returns a filtered queryset."""
    term = nfkc(term)
    if not term:
        return queryset
    may_search_identifiers = user.has_perm("members.search_identifiers")
    if "@" in term:
        return _exact(queryset, "email", term)
    licence = _LICENCE_TERM.match(term)
    if licence and any(ch.isdigit() for ch in licence.group(2)) and licence.group(1).upper() in US_STATES:
        if not may_search_identifiers:
            raise PermissionDenied("Your role may not search by licence number.")
        found = members_matching("licence", (licence.group(2), licence.group(1)))
        return queryset.filter(pk__in=[member.pk for member in found])
    if _DIGITS_ONLY.match(term) and term.isascii():
        digits = re.sub(r"[^0-9]", "", term)
        if len(digits) == 4:
            return queryset.filter(ssn_last4=digits)
        if len(digits) == 9:
            if not may_search_identifiers:
                raise PermissionDenied("Your role may not search by full SSN/TIN.")
            found = members_matching("ssn", digits)
            return queryset.filter(pk__in=[member.pk for member in found])
        if len(digits) in (10, 11):
            return _exact(queryset, "phone", term)
    if term.startswith("+"):
        return _exact(queryset, "phone", term)
    # Member numbers are stored upper-case (the import and the number sequence write them so), so an
    # exact match on the upper-cased term finds them through the unique index; ``iexact`` compared
    # UPPER(member_number) on every row (a sequential scan, ~90 ms at 100,000 members, for every name
    # search too, since it is OR-ed with the name prefix). The term as typed covers any other casing.
    by_number = queryset.filter(member_number__in=sorted({term, term.upper()}))
    name = " ".join(term.upper().split())
    return by_number | queryset.filter(name_search__startswith=name)


def access_log(
    *,
    member: Member | int | None = None,
    actor: User | None = None,
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


def active_reveals(*, user: Actor, member: Member) -> dict[str, datetime.datetime]:
    """Fields of ``member`` this user may currently see in full, with when each reveal expires."""
    login = signed_in_user(user)
    if login is None:
        return {}
    grants = RevealGrant.objects.filter(user=login, member=member, expires_at__gt=timezone.now())
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
