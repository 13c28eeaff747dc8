"""Find a member: the CSR's search page for a call (issue 18.2).

A caller gives a name, a phone number, an address or a member number, and the CSR needs the right record
in a second. The admin's member list can search too, but it is a page for browsing the registry: filters,
actions, sortable columns and a paginated count, which made a searched list cost about 26 ms of server
CPU (docs/benchmarks.md). This page does only what a lookup needs, with the same search, the same masking
and the same access log:

- the term goes through the staff search (``members.selectors.member_lookup``: every branch an index path,
  each capped), ranked best first; the 25 best are shown with how many matched, in one statement;
- a full SSN/TIN or licence is posted and kept in the session under a token (``members.search_tokens``),
  never put in a URL; typed into a URL it is refused;
- the rows show what the admin list shows, masked the same way (``members.masking``), each linking to the
  member's record in the admin;
- every page of results is one ``access.list_members`` audit row naming the members shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import SafeString, mark_safe

from members import search_tokens, services
from members.admin_search import IDENTIFIER_IN_URL, SEARCH_HELP, no_match_hint, too_many_hint
from members.audit import client_ip
from members.masking import mask_tax_id_of
from members.models import Member
from members.selectors import is_identifier_term, member_lookup
from members.staff_tools import staff_permission_required

SHOWN = 25
TERM_MAX = 200
COLUMNS = ("id", "member_number", "legal_name", "kind", "status", "ssn_last4", "phone", "email", "mailing_city")


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
        lookup = member_lookup(term, request.user, columns=COLUMNS, limit=SHOWN)
    except PermissionDenied as exc:
        context["errors"].append(str(exc))
        return _page(request, context)
    record_url = reverse("admin:members_member_change", args=[0]).replace("/0/", "/{}/")
    context["rows"] = [_row(values, record_url) for values in lookup.rows]
    context["rows_html"] = _rows_html(context["rows"])
    context["matched"] = lookup.matched
    context["more_than"] = lookup.more_than
    if not lookup.rows:
        context["notes"].append(no_match_hint())
    elif lookup.more_than:
        context["notes"].append(too_many_hint(lookup.more_than))
    context["list_url"] = _list_url(token, term)
    services.member_list_view(
        actor=request.user,
        member_ids=[values[0] for values in lookup.rows],
        channel="find",
        query=term,
        ip_address=client_ip(request),
    )
    return _page(request, context)


_KINDS = dict(Member.Kind.choices)
_STATUSES = dict(Member.Status.choices)


def _row(values: tuple, record_url: str) -> Found:
    pk, number, name, kind, status, last4, phone, email, city, _rank = values
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


def _rows_html(rows: list[Found]) -> SafeString:
    """The table's rows, each value escaped. Built here rather than by a ``{% for %}`` in the template: the
    template engine's 225 variable nodes for 25 rows cost about 2 ms per lookup, a tenth of the page."""
    return mark_safe(  # noqa: S308 - every value below goes through html.escape
        "\n".join(
            f'<tr><th scope="row"><a href="{escape(row.url)}">{escape(row.member_number)}</a></th>'
            + "".join(
                f"<td>{escape(value)}</td>"
                for value in (row.legal_name, row.kind, row.status, row.tax_id, row.phone, row.email, row.city)
            )
            + "</tr>"
            for row in rows
        )
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
