"""Find a member (members/find.py): the CSR's lookup for a call. The same search, masking and access log
as the admin's member list, on a page that does only the lookup; identifiers never in a URL."""

from __future__ import annotations

import pytest
from django.urls import reverse

from members import roles, selectors
from members.crypto import blind_index
from members.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db
FIND = reverse("member-find")
SSN = "123-45-6781"


@pytest.fixture
def signed_in(client, csr):
    client.force_login(csr)
    return client


@pytest.fixture
def ada(db):
    return factories.MemberFactory(
        legal_name="Ada Whitfield",
        ssn="123456781",
        tax_id_index=blind_index("ssn", "123456781"),
        ssn_last4="6781",
        phone="+12175550042",
    )


def _finds(client) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="access.list_members", detail__channel="find"))


def test_anonymous_visitors_are_sent_to_sign_in_and_nothing_is_searched(client, ada):
    response = client.get(FIND, {"q": "whitfield"})
    assert response.status_code == 302 and "/auth/login/" in response["Location"]
    assert "whitfield" not in response["Location"].lower() or "next=" in response["Location"]
    assert _finds(client) == []


@pytest.mark.parametrize("who", ["outsider", "field_worker"])
def test_a_login_without_a_staff_role_is_refused(client, request, who, ada):
    client.force_login(request.getfixturevalue(who))
    response = client.get(FIND, {"q": "whitfield"})
    assert response.status_code == 403
    assert b"Whitfield" not in response.content
    assert _finds(client) == []


def test_a_member_portal_login_is_refused(client, make_user, ada):
    login = make_user("portal-ada")
    ada.user = login
    ada.save(update_fields=["user"])
    client.force_login(login)
    assert client.get(FIND, {"q": "whitfield"}).status_code == 403
    assert _finds(client) == []


def test_a_csr_finds_a_member_by_name_masked_best_first_and_the_lookup_is_logged(signed_in, csr, ada):
    factories.MemberFactory(legal_name="Bo Whitfield-Jones")
    factories.MemberFactory(legal_name="Someone Else")
    response = signed_in.get(FIND, {"q": "whitfield, ada"})
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row.member_number for row in rows][0] == ada.member_number
    assert response.context["matched"] == len(rows) == 1
    html = response.content.decode()
    assert "***-**-6781" in html and "123456781" not in html and SSN not in html
    assert reverse("admin:members_member_change", args=[ada.pk]) in html
    assert response["Cache-Control"] == "no-store"
    (event,) = _finds(signed_in)
    assert event.actor == csr and event.detail["member_ids"] == [ada.pk] and event.detail["searched"] is True


def test_a_phone_number_in_any_format_finds_the_member(signed_in, ada):
    for term in ("(217) 555-0042", "555-0042"):
        rows = signed_in.get(FIND, {"q": term}).context["rows"]
        assert [row.member_number for row in rows] == [ada.member_number], term


def test_an_identifier_typed_into_the_url_is_refused_searched_for_nobody_and_not_echoed(signed_in, ada):
    response = signed_in.get(FIND, {"q": SSN})
    assert response.status_code == 200
    assert response.context["rows"] is None
    html = response.content.decode()
    assert "never put in a URL" in html and SSN not in html and "123456781" not in html
    assert _finds(signed_in) == []


def test_an_identifier_is_posted_and_the_url_carries_only_a_token(client, analyst, ada):
    client.force_login(analyst)
    response = client.post(FIND, {"q": SSN})
    assert response.status_code == 302
    location = response["Location"]
    assert "_qt=" in location and "123456781" not in location and "6781" not in location
    page = client.get(location)
    assert [row.member_number for row in page.context["rows"]] == [ada.member_number]
    html = page.content.decode()
    assert SSN not in html and "123456781" not in html
    # The link to the full member list carries the token, never the term.
    assert page.context["list_url"].endswith(location.split("?", 1)[1])


def test_a_role_that_may_not_search_identifiers_is_told_so_and_nothing_is_logged(client, billing_clerk, ada):
    client.force_login(billing_clerk)
    page = client.get(client.post(FIND, {"q": SSN})["Location"])
    assert page.context["rows"] is None
    assert "may not search by full SSN/TIN" in page.content.decode()
    assert _finds(client) == []


def test_a_token_from_another_session_is_useless(client, make_user, analyst, ada):
    client.force_login(analyst)
    location = client.post(FIND, {"q": SSN})["Location"]
    client.logout()
    client.force_login(make_user("analyst-two", role=roles.RED_FLAG_ANALYST))
    page = client.get(location)
    assert page.context["rows"] is None and "expired" in page.content.decode()


def test_no_match_says_what_to_try(signed_in, ada):
    response = signed_in.get(FIND, {"q": "zzyzx"})
    assert response.context["rows"] == [] and "No member matched" in response.content.decode()
    (event,) = _finds(signed_in)
    assert event.detail["member_ids"] == []


def test_more_matches_than_the_cap_are_said_and_only_the_best_shown(signed_in, monkeypatch):
    monkeypatch.setattr(selectors, "SEARCH_CANDIDATE_CAP", 3)
    for index in range(5):
        factories.MemberFactory(legal_name=f"Person{index} Whitfield")
    response = signed_in.get(FIND, {"q": "whitfield"})
    assert len(response.context["rows"]) == 3 and response.context["more_than"] == 3
    assert "More than 3 members match" in response.content.decode()


def test_only_the_best_page_is_shown_with_how_many_matched(signed_in, monkeypatch):
    from members import find

    monkeypatch.setattr(find, "SHOWN", 2)
    for index in range(3):
        factories.MemberFactory(legal_name=f"Person{index} Whitfield")
    response = signed_in.get(FIND, {"q": "whitfield"})
    assert len(response.context["rows"]) == 2 and response.context["matched"] == 3
    assert "the 2 best are shown" in response.content.decode()


def test_an_empty_post_changes_nothing_and_returns_to_the_page(signed_in):
    response = signed_in.post(FIND, {"q": "   "})
    assert response.status_code == 302 and response["Location"] == FIND
    assert "member_search_tokens" not in signed_in.session


def test_the_admin_index_lists_the_page_for_a_csr(signed_in):
    assert FIND in signed_in.get(reverse("admin:index")).content.decode()
