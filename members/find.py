"""Find a member: the CSR's search page for a call (issue 18.2).

A caller gives a name, a phone number, an address or a member number, and the CSR needs the right record
in a second. The admin's member list can search too, but it is a page for browsing the registry: filters,
actions, sortable columns and a paginated count, which made a searched list cost about 26 ms of server
CPU (docs/benchmarks.md). This page does only what a lookup needs, with the same search, the same masking
and the same access log:

- the term goes through ``members.selectors.member_search_results`` (every branch an index path, each
  capped), ranked best first; the 25 best are shown with how many matched, in one query;
- a full SSN/TIN or licence is posted and kept in the session under a token (``members.search_tokens``),
  never put in a URL; typed into a URL it is refused;
- the rows show what the admin list shows, masked the same way (``members.masking``), each linking to the
  member's record in the admin;
- every page of results is one ``access.list_members`` audit row naming the members shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Window
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from members import search_tokens, services
from members.admin_search import IDENTIFIER_IN_URL, SEARCH_HELP, no_match_hint, too_many_hint
from members.audit import client_ip
from members.masking import mask_tax_id_of
from members.models import Member
from members.selectors import is_identifier_term, member_search_results
from members.staff_tools import staff_permission_required

SHOWN = 25
TERM_MAX = 200
COLUMNS = ("pk", "member_number", "legal_name", "kind", "status", "ssn_last4", "phone", "email", "mailing_city")


@dataclass(frozen=True)
class Found:
    """One row of the results, already masked."""

    url: str
    member_number: str
    legal_name: str
    kind: str
    status: str
    tax_id: str
    phone: str
    email: str
    city: str


@staff_permission_required("members.view_member")
def member_find(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        term = (request.POST.get("q") or "").strip()[:TERM_MAX]
        if not term:
            return redirect("member-find")
        token = search_tokens.search_token_store(session=request.session, term=term)
        return redirect(f"{reverse('member-find')}?{urlencode({search_tokens.TOKEN_VAR: token})}")
    context: dict = {"help": SEARCH_HELP, "term": "", "rows": None, "errors": [], "notes": []}
    token = request.GET.get(search_tokens.TOKEN_VAR)
    if token:
        term = search_tokens.search_token_term(session=request.session, token=token)
        if term is None:
            context["errors"].append("That search has expired; search again.")
            return _page(request, context)
        context["token"] = token
    else:
        term = (request.GET.get("q") or "").strip()[:TERM_MAX]
        if term and is_identifier_term(term):
            context["errors"].append(IDENTIFIER_IN_URL)
            return _page(request, context)
        context["term"] = term
    if not term:
        return _page(request, context)
    try:
        result = member_search_results(Member.objects.all(), term, request.user)
    except PermissionDenied as exc:
        context["errors"].append(str(exc))
        return _page(request, context)
    # Plain values, not model instances: the page shows nine columns of 25 rows, and building a deferred
    # Member per row cost more than the query.
    found = list(
        result.members.annotate(matched=Window(Count("*")))
        .order_by(F("search_rank").desc(nulls_last=True), "member_number")
        .values_list(*COLUMNS, "matched", "search_rank")[:SHOWN]
    )
    matched = found[0][-2] if found else 0
    record_url = reverse("admin:members_member_change", args=[0]).replace("/0/", "/{}/")
    context["rows"] = [_row(values, record_url) for values in found]
    context["matched"] = matched
    context["more_than"] = result.more_than
    if not found:
        context["notes"].append(no_match_hint())
    elif result.more_than:
        context["notes"].append(too_many_hint(result.more_than))
    context["list_url"] = _list_url(token, term)
    services.member_list_view(
        actor=request.user,
        member_ids=[values[0] for values in found],
        channel="find",
        query=term,
        ip_address=client_ip(request),
    )
    return _page(request, context)


_KINDS = dict(Member.Kind.choices)
_STATUSES = dict(Member.Status.choices)


def _row(values: tuple, record_url: str) -> Found:
    pk, number, name, kind, status, last4, phone, email, city, _matched, _rank = values
    return Found(
        url=record_url.format(pk),
        member_number=number,
        legal_name=name,
        kind=str(_KINDS.get(kind, kind)),
        status=str(_STATUSES.get(status, status)),
        tax_id=mask_tax_id_of(kind, last4),
        phone=phone or "",
        email=email or "",
        city=city or "",
    )


def _list_url(token: str | None, term: str) -> str:
    """The same search in the admin's member list (filters, actions, every page); a token, never the term,
    when the term is an identifier."""
    query = {search_tokens.TOKEN_VAR: token} if token else {"q": term}
    return f"{reverse('admin:members_member_changelist')}?{urlencode(query)}"


def _page(request: HttpRequest, context: dict) -> HttpResponse:
    response = render(request, "members/find.html", {**context, "shown": SHOWN})
    response["Cache-Control"] = "no-store"
    return response
