"""Search at 100,000 members (issue 15 follow-up): a common surname matched ~8,300 members and every one was
ranked (``similarity`` per row, then a sort), so the search took 150 ms. Each way of matching now brings at
most ``SEARCH_CANDIDATE_CAP`` members, only those are ranked, and the page says honestly that more matched.
A searched list also shows a shorter page (ranked, best first): rendering rows was most of its server time.
"""

from __future__ import annotations

import pytest

from members import selectors
from members.models import Member
from members.selectors import member_search_results
from tests import factories

pytestmark = pytest.mark.django_db
MEMBERS = "/admin/members/member/"


@pytest.fixture
def signed_in(client, csr):
    client.force_login(csr)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_a_search_matching_more_than_the_cap_ranks_only_the_cap_and_says_more_matched(signed_in, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATE_CAP", 3)
    for index in range(5):
        factories.MemberFactory(legal_name=f"Person{index} Whitfield")
    response = signed_in.get(MEMBERS, {"q": "whitfield"})
    assert response.status_code == 200
    assert response.context["cl"].result_count == 3
    assert any("More than 3 members match" in text and "Refine" in text for text in _messages(response))


def test_a_search_within_the_cap_lists_every_match_and_no_more_than_note(signed_in, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATE_CAP", 3)
    wanted = {factories.MemberFactory(legal_name=f"Person{index} Whitfield").pk for index in range(3)}
    factories.MemberFactory(legal_name="Someone Else")
    response = signed_in.get(MEMBERS, {"q": "whitfield"})
    assert {member.pk for member in response.context["cl"].result_list} == wanted
    assert not any("More than" in text for text in _messages(response))


def test_each_way_of_matching_is_capped_on_its_own(monkeypatch, csr):
    """A name match cut at the cap still leaves room for a member found by the street."""
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATE_CAP", 2)
    for index in range(4):
        factories.MemberFactory(legal_name=f"Oak{index} Person")
    by_street = factories.MemberFactory(legal_name="Ada Lane", mailing_line1="12 Oak Street")
    result = member_search_results(Member.objects.all(), "oak", csr)
    found = list(result.members)
    assert result.more_than == 2
    assert by_street in found and len(found) == 3


def test_the_most_similar_member_of_the_capped_set_comes_first(monkeypatch, csr):
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATE_CAP", 5)
    longer = factories.MemberFactory(legal_name="Lee Whitfield-Hargreaves Family Trust")
    exact = factories.MemberFactory(legal_name="Lee Whitfield")
    ranked = member_search_results(Member.objects.all(), "lee whitfield", csr).members.order_by("-search_rank")
    assert list(ranked) == [exact, longer]


def test_a_searched_list_shows_a_short_page_and_the_plain_list_a_long_one(signed_in):
    for index in range(30):
        factories.MemberFactory(legal_name=f"Person{index} Whitfield")
    searched = signed_in.get(MEMBERS, {"q": "whitfield"})
    assert searched.context["cl"].result_count == 30
    assert len(searched.context["cl"].result_list) == 25
    assert len(signed_in.get(MEMBERS).context["cl"].result_list) == 30


def test_the_api_says_in_a_header_when_a_search_matched_more_than_it_ranks(client, csr, monkeypatch):
    from rest_framework.test import APIClient

    monkeypatch.setattr(selectors, "SEARCH_CANDIDATE_CAP", 3)
    for index in range(5):
        factories.MemberFactory(legal_name=f"Person{index} Whitfield")
    api = APIClient()
    api.force_authenticate(csr)
    capped = api.get("/api/members/", {"q": "whitfield"})
    assert capped.status_code == 200 and capped["X-Search-More-Than"] == "3"
    assert len(capped.json()["results"]) == 3
    narrow = api.get("/api/members/", {"q": "person1 whitfield"})
    assert "X-Search-More-Than" not in narrow and len(narrow.json()["results"]) == 1
