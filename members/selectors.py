"""Reads of the registry shared by admin, API, portal, Red Flags and the auditor pages: the member list
without its ciphertexts, exact matches through the blind indexes (and the staff search built on them),
the access log, active reveals."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet, FieldDoesNotExist, PermissionDenied
from django.db import connection
from django.db.models import BooleanField, ExpressionWrapper, FloatField, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.utils import timezone

from members.actors import Actor, signed_in_user
from members.crypto import CanonicalisationError, canonical, fold_for_search, index_values, nfkc
from members.identifiers import BlindIndex, deferred, member_index_for
from members.models import AuditEvent, Member, RevealGrant, User
from members.validation import US_STATES

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


@dataclass(frozen=True)
class Lookup:
    """The first rows of a staff search (the CSR's Find a member), best first: the requested columns of each
    member, then its ``search_rank``; ``matched`` counts the ranked candidates; ``more_than`` as above."""

    rows: list[tuple]
    matched: int
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
    return _candidates_for(queryset, term, user).result()


def member_lookup(term: str, user, *, columns: tuple[str, ...], limit: int) -> Lookup:
    """The ``limit`` best members for ``term`` (the search above, over the whole registry) with how many
    matched, in one statement: the candidates, their ranking, the count and the first rows (members/find.py).
    ``columns`` are the member table's own columns; an empty term finds nobody."""
    term = nfkc(term)
    if not term:
        return Lookup([], 0)
    return _candidates_for(Member.objects.all(), term, user).page(columns, limit)


def _candidates_for(queryset: QuerySet[Member], term: str, user) -> _Candidates:
    """The ways of matching a non-empty term, by its shape; PermissionDenied for an identifier the role may
    not search by."""
    if "@" in term:
        return _Candidates(queryset).with_ids(members_matching("email", term))
    licence = _LICENCE_TERM.match(term)
    if licence and any(ch.isdigit() for ch in licence.group(2)) and licence.group(1).upper() in US_STATES:
        if not user.has_perm("members.search_identifiers"):
            raise PermissionDenied("Your role may not search by licence number.")
        return _Candidates(queryset).with_ids(members_matching("licence", (licence.group(2), licence.group(1))))
    if _NUMBER_LIKE.match(term) and term.isascii():
        return _number_search(queryset, term, user)
    return _word_search(queryset, term)


_MEMBERS = Member._meta.db_table
# Every candidate statement runs with these, for itself only (``SET LOCAL`` in the statement's own implicit
# transaction): no sequential scan, whatever a LIMIT makes the planner think (``_Candidates``), and no JIT
# compilation, which a forbidden scan's cost would set off for a statement that takes milliseconds.
PLAN_SETTINGS = "SET LOCAL enable_seqscan = off; SET LOCAL jit = off; "


class _Candidates:
    """Member ids gathered from several capped index paths in one statement, remembering whether any path
    was cut short.

    Each path is ``... LIMIT cap + 1`` with no sort, written in SQL: composed with the ORM, the paths and
    the ranked query cost a name search about 4 ms of Python, most of a lookup's. Given a LIMIT, PostgreSQL
    may prefer a sequential scan that stops at the cap: quick when the matches are spread through the table,
    but a member or account number is loaded in order, so its matches sit together and such a scan read
    80,000 rows before the first ("00012": 143 ms). The statement runs with ``enable_seqscan`` off
    (``PLAN_SETTINGS``), so every path is a trigram or b-tree index scan, whatever the LIMIT.
    """

    def __init__(self, queryset: QuerySet[Member]):
        self.searched = queryset
        self.paths: list[tuple[str, list]] = []
        self.capped = False
        self.rank: tuple[str, list] = ("1.0", [])
        self.within: tuple[str, list] | None = ("", [])
        query = queryset.order_by().values_list("pk", flat=True).query
        if query.where:  # the searched list's own filters (the admin's status and kind): paths stay within them
            try:
                sql, params = query.sql_with_params()
            except EmptyResultSet:  # ``.none()``: nothing to search
                self.within = None
            else:
                self.within = (f" AND {_MEMBERS}.id IN ({sql})", list(params))

    def where(self, condition: str, params: list) -> None:
        """Members of the searched queryset (its filters kept) matching ``condition`` (SQL on the member
        table), up to the cap."""
        if self.within is None:
            return
        restriction, restriction_params = self.within
        self.paths.append(
            (
                f"SELECT {_MEMBERS}.id FROM {_MEMBERS} WHERE {condition}{restriction} LIMIT %s",  # noqa: S608
                [*params, *restriction_params, SEARCH_CANDIDATE_CAP + 1],
            )
        )

    def with_ids(self, members: list[Member]) -> _Candidates:
        """The members an exact match (blind index, confirmed) found."""
        if members:
            self.where(f"{_MEMBERS}.id = ANY(%s)", [[member.pk for member in members]])
        return self

    def raw(self, sql: str, params: list) -> None:
        """A path in SQL giving member ids (one column, ``LIMIT`` cap + 1, one row per match): another
        table's, or an index expression; the searched queryset's filters apply to them in the final query."""
        self.paths.append((sql, params))

    def _numbered(self) -> tuple[str, list]:
        """The paths' members as ``numbered`` (path, id, n), the cap's one rule for both readers: a member is
        a candidate when ``n <= cap``; a path was cut short when its ``n`` passes the cap."""
        # Each piece is a literal above with its values as parameters.
        union = " UNION ALL ".join(
            f"(SELECT {number} AS path, found.id FROM ({sql}) AS found(id))"  # noqa: S608
            for number, (sql, _) in enumerate(self.paths)
        )
        return (
            f"WITH found AS ({union}),"  # noqa: S608 - the paths above, values as parameters
            " numbered AS (SELECT path, id, row_number() OVER (PARTITION BY path) AS n FROM found)",
            [param for _, path_params in self.paths for param in path_params],
        )

    def _run(self, sql: str, params: list) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(PLAN_SETTINGS + sql, params)
            rows = cursor.fetchall()
            if connection.in_atomic_block:  # SET LOCAL would last until the caller's transaction ends
                cursor.execute("RESET enable_seqscan; RESET jit")
        return rows

    def _ids(self) -> set[int]:
        if not self.paths:
            return set()
        numbered, params = self._numbered()
        rows = self._run(
            f"{numbered} SELECT DISTINCT id, (SELECT max(n) FROM numbered) > %s FROM numbered WHERE n <= %s",  # noqa: S608
            [*params, SEARCH_CANDIDATE_CAP, SEARCH_CANDIDATE_CAP],
        )
        self.capped = bool(rows) and rows[0][1]
        return {member_id for member_id, _ in rows}

    def result(self) -> SearchResult:
        """The candidates in the searched queryset's own order (the caller sorts by ``search_rank``)."""
        ids = self._ids()
        members = self.searched.filter(pk__in=sorted(ids)) if ids else self.searched.none()
        rank_sql, rank_params = self.rank
        # A literal of this module's with its values as parameters.
        ranked = members.annotate(search_rank=RawSQL(rank_sql, rank_params, output_field=FloatField()))  # noqa: S611
        return SearchResult(ranked, SEARCH_CANDIDATE_CAP if self.capped else None)

    def page(self, columns: tuple[str, ...], limit: int) -> Lookup:
        """The best ``limit`` candidates (``search_rank`` descending, then member number) with how many there
        are, gathered, capped and ranked in one statement; the searched queryset's filters are the
        registry's (``member_lookup``)."""
        if not self.paths:
            return Lookup([], 0)
        numbered, params = self._numbered()
        rank_sql, rank_params = self.rank
        selected = ", ".join(f"{_MEMBERS}.{connection.ops.quote_name(column)}" for column in columns)
        sql = (
            f"{numbered} SELECT {selected},"  # noqa: S608 - literals above, values as parameters
            f" {rank_sql} AS search_rank, count(*) OVER () AS matched,"
            " (SELECT max(n) FROM numbered) > %s AS capped"
            f" FROM {_MEMBERS} WHERE {_MEMBERS}.id IN (SELECT id FROM numbered WHERE n <= %s)"
            f" ORDER BY search_rank DESC NULLS LAST, {_MEMBERS}.member_number LIMIT %s"
        )
        rows = self._run(sql, [*params, *rank_params, SEARCH_CANDIDATE_CAP, SEARCH_CANDIDATE_CAP, limit])
        if not rows:
            return Lookup([], 0)
        return Lookup([row[:-2] for row in rows], rows[0][-2], SEARCH_CANDIDATE_CAP if rows[0][-1] else None)


def _number_search(queryset: QuerySet[Member], term: str, user) -> _Candidates:
    """Digits with the punctuation phone numbers and SSNs are written with."""
    digits = re.sub(r"[^0-9]", "", term)
    looks_like_phone = "(" in term or term.startswith("+") or "." in term
    if _is_full_tax_id(term):
        if not user.has_perm("members.search_identifiers"):
            raise PermissionDenied("Your role may not search by full SSN/TIN.")
        return _Candidates(queryset).with_ids(members_matching("ssn", digits))
    candidates = _Candidates(queryset)
    _partial_numbers(candidates, digits)
    if len(digits) == 4 and not looks_like_phone:
        candidates.where(f"{_MEMBERS}.ssn_last4 = %s", [digits])
    if len(digits) in (10, 11) or (looks_like_phone and len(digits) > 7):
        candidates.with_ids(members_matching("phone", term))
        _phone_ending(candidates, digits[-10:])
    elif len(digits) == 7:
        _phone_ending(candidates, digits)  # a local number without its area code
    return candidates


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
        candidates.where(f"{_MEMBERS}.member_number = %s", [fragment.upper()])
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


def _word_search(queryset: QuerySet[Member], term: str) -> _Candidates:
    """Every word of the term in the name (any order), or in the mailing or a service address."""
    if "," in term:  # "Last, First" -> the words of "First Last"
        last, first = term.split(",", 1)
        term = f"{first} {last}"
    folded = fold_for_search(term)
    words = folded.split()
    candidates = _Candidates(queryset)
    if not words:
        return candidates
    patterns = [f"%{_like_escape(word)}%" for word in words]
    # Each word its own LIKE: the trigram indexes (on name_search, and on UPPER(mailing_line1) for rows with
    # a mailing line, migration 0013) take every one of them in one scan; a query through the partial index
    # must say ``mailing_line1 <> ''``, or the planner cannot prove the index applies.
    candidates.where(" AND ".join([f"{_MEMBERS}.name_search::text LIKE %s"] * len(words)), patterns)
    candidates.where(
        f"NOT ({_MEMBERS}.mailing_line1 = '') AND "
        + " AND ".join([f"UPPER({_MEMBERS}.mailing_line1::text) LIKE UPPER(%s)"] * len(words)),
        patterns,
    )
    candidates.where(f"{_MEMBERS}.member_number = %s", [folded])
    if len(words) == 1 and any(ch.isdigit() for ch in folded):  # a number is one word ("M000", "A0000123")
        _partial_numbers(candidates, folded)
    _service_address_members(candidates, words)
    # Ranked over the capped candidates only (a few hundred rows at most), never over every match.
    candidates.rank = (f"similarity({_MEMBERS}.name_search, %s)", [folded])
    return candidates


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
