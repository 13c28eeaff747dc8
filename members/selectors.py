"""Reads of the registry shared by admin, API, portal, Red Flags and the auditor pages: the member list
without its ciphertexts, exact matches through the blind indexes (and the staff search built on them),
the access log, active reveals."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, PermissionDenied
from django.db import connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, F, FloatField, Func, Q, QuerySet, Value
from django.utils import timezone

from members.actors import Actor, signed_in_user
from members.crypto import CanonicalisationError, canonical, fold_for_search, index_values, nfkc
from members.identifiers import BlindIndex, deferred, member_index_for
from members.models import AuditEvent, Member, RevealGrant, User
from members.validation import US_STATES

# The mailing-address trigram index and the phone's b-tree leave out rows without a value (migrations 0012,
# 0014): a query through them must say so, or the planner cannot prove the index applies.
_HAS_MAILING_LINE = ~Q(mailing_line1="")
_NUMBER_LIKE = re.compile(r"^[0-9()\-. +]+$")
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
    return bool(_NUMBER_LIKE.match(term)) and _is_full_tax_id(term)


def _is_full_tax_id(term: str) -> bool:
    """Nine digits, written as an SSN/TIN is (a bracket, a plus or dots make it a phone number)."""
    looks_like_phone = "(" in term or term.startswith("+") or "." in term
    return len(re.sub(r"[^0-9]", "", term)) == 9 and not looks_like_phone


# How many candidates each way of matching a term (name, mailing address, service address, number) may bring
# before ranking: a common surname matches one member in twelve (~8,300 at 100,000), and ranking them all
# (``similarity`` per row, then a sort) was most of a search's time. Past the cap the list shows the capped
# set, ranked, and says that more matched (``SearchResult.more_than``).
SEARCH_CANDIDATE_CAP = 200


@dataclass(frozen=True)
class SearchResult:
    """The members a staff search found, ranked (``search_rank``); ``more_than`` is the cap when at least one
    way of matching found more members than it (the list is then a part of what matched: refine the search)."""

    members: QuerySet[Member]
    more_than: int | None = None


def member_search(queryset: QuerySet[Member], term: str, user) -> QuerySet[Member]:
    """The members of :func:`member_search_results`, for callers that show no "more than" note."""
    return member_search_results(queryset, term, user).members


def member_search_results(queryset: QuerySet[Member], term: str, user) -> SearchResult:
    """Staff search, ranked (``search_rank``, best first) and built so each branch uses an index.

    - an e-mail address; a phone number in any common format (``(217) 555-0003``, ``217.555.0003``,
      ``+1 217 555 0003``) or its last seven digits;
    - any word of the name, accent-insensitive ("jose nunez" finds "José Núñez"), or "Last, First";
    - part of a member number or account number (``00012``, ``M000``, ``A0000123``);
    - words of the mailing or service address (``12 Oak``);
    - the last four of the SSN/TIN; for roles that may, a full SSN/TIN or licence (``IL:D1234567``)
      through the blind index.

    Each way of matching brings at most ``SEARCH_CANDIDATE_CAP`` members (an index scan with a LIMIT);
    only those are ranked, so a search costs the same for a surname shared by thousands as for a rare one.
    """
    term = nfkc(term)
    if not term:
        return SearchResult(queryset)
    if "@" in term:
        return SearchResult(_ranked(_exact(queryset, "email", term)))
    licence = _LICENCE_TERM.match(term)
    if licence and any(ch.isdigit() for ch in licence.group(2)) and licence.group(1).upper() in US_STATES:
        if not user.has_perm("members.search_identifiers"):
            raise PermissionDenied("Your role may not search by licence number.")
        found = members_matching("licence", (licence.group(2), licence.group(1)))
        return SearchResult(_ranked(queryset.filter(pk__in=[member.pk for member in found])))
    if _NUMBER_LIKE.match(term) and term.isascii():
        return _number_search(queryset, term, user)
    return _word_search(queryset, term)


def _ranked(queryset: QuerySet[Member], rank=None) -> QuerySet[Member]:
    return queryset.annotate(search_rank=rank if rank is not None else Value(1.0, output_field=FloatField()))


class _Candidates:
    """Member ids gathered from several capped index paths in one statement, remembering whether any path
    was cut short.

    Each path is ``... LIMIT cap + 1`` with no sort. Given a LIMIT, PostgreSQL may prefer a sequential scan
    that stops at the cap: quick when the matches are spread through the table, but a member or account
    number is loaded in order, so its matches sit together and such a scan read 80,000 rows before the
    first ("00012": 143 ms). The statement runs with ``enable_seqscan`` off (for itself only), so every
    path is a trigram or b-tree index scan, whatever the LIMIT.
    """

    def __init__(self, queryset: QuerySet[Member]):
        self.searched = queryset
        self.queryset = queryset.order_by()  # no sort: each path stops at the cap in index order
        self.paths: list[tuple[str, list]] = []
        self.capped = False

    def where(self, condition: Q) -> None:
        """Members of the searched queryset (its filters kept) matching ``condition``, up to the cap."""
        query = self.queryset.filter(condition).values_list("pk", flat=True)[: SEARCH_CANDIDATE_CAP + 1].query
        try:
            sql, params = query.sql_with_params()
        except EmptyResultSet:  # e.g. ``pk__in=[]``: this path finds nobody
            return
        self.paths.append((sql, list(params)))

    def raw(self, sql: str, params: list) -> None:
        """A path in SQL giving member ids (one column, ``LIMIT`` cap + 1, one row per match): another
        table's, or an index expression the ORM cannot spell; the searched queryset's filters apply to
        them in the final query."""
        self.paths.append((sql, params))

    def _ids(self) -> set[int]:
        if not self.paths:
            return set()
        # Each piece is SQL Django compiled or a literal above, with its values as parameters.
        union = " UNION ALL ".join(
            f"(SELECT {number} AS path, found.* FROM ({sql}) AS found)"  # noqa: S608
            for number, (sql, _) in enumerate(self.paths)
        )
        params = [param for _, path_params in self.paths for param in path_params]
        already_atomic = connection.in_atomic_block
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(union, params)
            rows = cursor.fetchall()
            if already_atomic:  # SET LOCAL would last until the caller's transaction ends
                cursor.execute("RESET enable_seqscan")
        per_path: dict[int, int] = {}
        ids: set[int] = set()
        for number, member_id in rows:
            per_path[number] = per_path.get(number, 0) + 1
            if per_path[number] <= SEARCH_CANDIDATE_CAP:
                ids.add(member_id)
        self.capped = self.capped or any(count > SEARCH_CANDIDATE_CAP for count in per_path.values())
        return ids

    def result(self, rank=None) -> SearchResult:
        """The candidates in the searched queryset's own order (the caller sorts by ``search_rank``)."""
        ids = self._ids()
        members = self.searched.filter(pk__in=sorted(ids)) if ids else self.searched.none()
        return SearchResult(_ranked(members, rank), SEARCH_CANDIDATE_CAP if self.capped else None)


def _number_search(queryset: QuerySet[Member], term: str, user) -> SearchResult:
    """Digits with the punctuation phone numbers and SSNs are written with."""
    digits = re.sub(r"[^0-9]", "", term)
    looks_like_phone = "(" in term or term.startswith("+") or "." in term
    if _is_full_tax_id(term):
        if not user.has_perm("members.search_identifiers"):
            raise PermissionDenied("Your role may not search by full SSN/TIN.")
        found = members_matching("ssn", digits)
        return SearchResult(_ranked(queryset.filter(pk__in=[member.pk for member in found])))
    candidates = _Candidates(queryset)
    _partial_numbers(candidates, digits)
    if len(digits) == 4 and not looks_like_phone:
        candidates.where(Q(ssn_last4=digits))
    if len(digits) in (10, 11) or (looks_like_phone and len(digits) > 7):
        candidates.where(Q(pk__in=[member.pk for member in members_matching("phone", term)]))
        _phone_ending(candidates, digits[-10:])
    elif len(digits) == 7:
        _phone_ending(candidates, digits)  # a local number without its area code
    return candidates.result()


def _phone_ending(candidates: _Candidates, digits: str) -> None:
    """Members whose phone ends with ``digits``: the reversed number starts with them reversed, a range of
    the b-tree member_phone_tail_idx (``REVERSE(phone) text_pattern_ops WHERE phone <> ''``)."""
    candidates.raw(
        "SELECT id FROM members_member WHERE REVERSE(phone) LIKE %s AND phone <> '' LIMIT %s",
        [f"{digits[::-1]}%", SEARCH_CANDIDATE_CAP + 1],
    )


def _partial_numbers(candidates: _Candidates, fragment: str) -> None:
    """Members whose member number, or one of whose account numbers, starts or ends with ``fragment``.

    Staff type a number whole, its first characters (``M04319``) or its last digits without the leading
    zeros (``431977``). Both are ranges of a b-tree: the number's own pattern index for the start, and
    one on the reversed number for the end (members migration 0015, accounts migration 0011). A trigram
    index served "anywhere in the number" before, but digits make few distinct trigrams, each shared by
    most numbers, so a seven-digit fragment read most of the index (docs/registry.md).
    """
    if len(fragment) < 3:
        candidates.where(Q(member_number=fragment.upper()))
        return
    escaped = _like_escape(fragment.upper())
    ends = [f"{escaped}%", f"{escaped[::-1]}%"]
    candidates.raw(
        "SELECT id FROM members_member WHERE member_number LIKE %s OR REVERSE(member_number) LIKE %s LIMIT %s",
        [*ends, SEARCH_CANDIDATE_CAP + 1],
    )
    # Accounts live a layer above; the member registry reads only their numbers, by table.
    candidates.raw(
        "SELECT member_id FROM accounts_account WHERE account_number LIKE %s OR REVERSE(account_number) LIKE %s "
        "LIMIT %s",
        [*ends, SEARCH_CANDIDATE_CAP + 1],
    )


def _word_search(queryset: QuerySet[Member], term: str) -> SearchResult:
    """Every word of the term in the name (any order), or in the mailing or a service address."""
    if "," in term:  # "Last, First" -> the words of "First Last"
        last, first = term.split(",", 1)
        term = f"{first} {last}"
    folded = fold_for_search(term)
    words = folded.split()
    if not words:
        return SearchResult(_ranked(queryset.none()))
    by_name = Q()
    by_address = _HAS_MAILING_LINE
    for word in words:
        by_name &= Q(name_search__contains=word)
        by_address &= Q(mailing_line1__icontains=word)
    candidates = _Candidates(queryset)
    candidates.where(by_name)
    candidates.where(by_address)
    candidates.where(Q(member_number=folded))
    if len(words) == 1 and any(ch.isdigit() for ch in folded):  # a number is one word ("M000", "A0000123")
        _partial_numbers(candidates, folded)
    _service_address_members(candidates, words)
    # Ranked over the capped candidates only (a few hundred rows at most), never over every match.
    return candidates.result(Func(F("name_search"), Value(folded), function="similarity", output_field=FloatField()))


def _service_address_members(candidates: _Candidates, words: list[str]) -> None:
    """Members with an account at a premise whose service address holds every word (one row per account)."""
    patterns = [f"%{_like_escape(word)}%" for word in sorted(words, key=len, reverse=True)]
    # The longest word is the indexed condition (trigram index on UPPER(service_line1)); ALL checks the rest.
    candidates.raw(
        "SELECT a.member_id FROM accounts_account a JOIN accounts_premise p ON p.id = a.premise_id "
        "WHERE UPPER(p.service_line1) LIKE %s AND UPPER(p.service_line1) LIKE ALL(%s) LIMIT %s",
        [patterns[0], patterns, SEARCH_CANDIDATE_CAP + 1],
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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


# What each audited change of a member is called on the member's page and in its history.
CHANGE_LABELS = {
    "member.created": "Record created",
    "member.imported": "Record imported",
    "member.name_changed": "Legal name changed",
    "member.address_changed": "Mailing address changed",
    "member.phone_changed": "Phone changed",
    "member.email_changed": "E-mail changed",
    "member.identifiers_changed": "Identifying information changed",
    "member.status_changed": "Membership status changed",
    "member.login_linked": "Online login linked",
    "member.online_access_enrolled": "Enrolled for online access",
    "member.online_access_verified": "Online access verified",
    "member.online_access_refused": "Online access refused",
    "member.financial_account_added": "Bank account or card added",
    "member.financial_account_removed": "Bank account or card removed",
    "member.capital_credit_allocated": "Capital credits allocated",
    "member.correction_requested": "Correction requested",
    "member.correction_resolved": "Correction request resolved",
    "member.identifier_revealed": "Identifier revealed",
}


@dataclass(frozen=True)
class MemberChange:
    at: datetime.datetime
    who: str
    what: str
    fields: list[str]
    reason: str


def _field_label(name: str) -> str:
    try:
        model_field = Member._meta.get_field(name)
    except FieldDoesNotExist:
        return name.replace("_", " ")
    return str(getattr(model_field, "verbose_name", name.replace("_", " ")))


def member_change_history(*, member: Member, limit: int | None = None) -> list[MemberChange]:
    """The member's changes from the audit trail, newest first: who, when, what and which fields (the trail
    holds field names, never values). Views (``access.*``) are the access log's, not changes."""
    events = (
        AuditEvent.objects.filter(object_type="members.member", object_id=str(member.pk))
        .exclude(action__startswith="access.")
        .select_related("actor")
        .order_by("-at", "-id")
        .only(
            "at",
            "action",
            "fields",
            "reason",
            "actor_label",
            "actor__username",
            "actor__first_name",
            "actor__last_name",
        )
    )
    if limit is not None:
        events = events[:limit]
    changes = []
    for event in events:
        names = [name for name in (event.fields or []) if not name.endswith("_index") and name != "name_search"]
        who = (
            (event.actor.get_full_name() or event.actor.username)
            if event.actor
            else (event.actor_label or "the system")
        )
        changes.append(
            MemberChange(
                at=event.at,
                who=who,
                what=CHANGE_LABELS.get(event.action, event.action.split(".", 1)[-1].replace("_", " ").capitalize()),
                fields=sorted({_field_label(name) for name in names}),
                reason=event.reason if not event.action.startswith("member.identifier") else "",
            )
        )
    return changes
