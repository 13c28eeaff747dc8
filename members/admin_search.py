"""The member list's search, as the staff admin shows it: the list that pages a search shorter, the help
text, and what the page says when a search found nobody or more members than it ranks
(members.selectors.member_search_results). Used by members/registry_admin.py."""

from __future__ import annotations

from django.contrib.admin.views.main import ChangeList

from members import search_tokens

IDENTIFIER_IN_URL = (
    "Search by full SSN/TIN or licence with the search box: identifiers are never put in a URL (the box posts them)."
)


class MemberChangeList(ChangeList):
    """Django's list, with the search token (members.search_tokens) kept out of the field filters, and a
    shorter page for a search (``MemberAdmin.search_per_page``): a search is ranked, the person wanted is
    near the top, and each row rendered costs the server as much as the search itself."""

    def get_results(self, request):
        if self.query.strip() or request.GET.get(search_tokens.TOKEN_VAR):
            self.list_per_page = getattr(self.model_admin, "search_per_page", self.list_per_page)
        # The rows load only the columns the list shows (``MemberAdmin.list_columns``), not the thirty
        # other columns of a member; the actions' queryset (get_queryset) keeps every column.
        columns = getattr(self.model_admin, "list_columns", None)
        if columns and not self.is_popup:
            self.queryset = self.queryset.only(*columns)
        super().get_results(request)

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        lookup_params.pop(search_tokens.TOKEN_VAR, None)
        return lookup_params


SEARCH_HELP = (
    "Any word of the name (accents optional) or \u201cLast, First\u201d; a phone number in any format or its "
    "last seven digits; the start or end of a member or account number; words of the mailing or service address; an "
    "e-mail address; the last four of the SSN/TIN; a full SSN/TIN or licence (IL:D1234567) if your role allows."
)


def no_match_hint() -> str:
    """What to try when a search found nobody (the term itself is not repeated: it may be an identifier)."""
    return (
        "No member matched that search. Try one word of the name (\u201cWhitfield\u201d), \u201cLast, First\u201d, "
        "the phone number's last seven digits, the start or end of the member or account number, or the street name."
    )


def too_many_hint(cap: int) -> str:
    """Said when a search matched more members than it ranks (members.selectors.SEARCH_CANDIDATE_CAP)."""
    return (
        f"More than {cap} members match this search, so this list is only part of them. Refine the search: "
        "add the first name (\u201cWhitfield, Ada\u201d), a street word, or part of the phone or member number."
    )
