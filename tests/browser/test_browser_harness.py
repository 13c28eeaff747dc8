"""The browser harness itself: a real chromium reaches the live server, signs in by session, measures
layout and runs axe-core (each helper here can fail, so the journeys built on them mean something)."""

from __future__ import annotations

import pytest

from tests.factories import AccountFactory, MemberFactory, UserFactory


def test_an_anonymous_visitor_is_sent_to_sign_in(page_for, shot, assert_no_horizontal_scroll):
    for width in (1366, 390):
        page = page_for(width=width)
        page.goto("/portal/")
        assert "/auth/login/" in page.url
        assert page.locator("input[type=password]").count() == 1
        assert_no_horizontal_scroll(page)
        shot(page, "signin")


def test_a_signed_in_member_reaches_their_portal_and_sees_only_their_masked_number(page_for):
    member = MemberFactory(legal_name="Harness Member", user=UserFactory(username="harness"))
    AccountFactory(member=member)
    page = page_for(member.user)
    page.goto("/portal/")
    assert page.url.endswith("/portal/")
    body = page.content()
    assert "Harness Member" in body
    assert member.ssn not in body


def test_the_checks_catch_what_they_look_for(page_for, assert_accessible, assert_no_horizontal_scroll):
    """A page with an unlabelled input and a 2,000 px table fails both checks."""
    page = page_for(width=390)
    page.goto("/healthz")
    page.set_content(
        "<html lang='en'><head><title>t</title></head><body><main>"
        "<input type='text'><table style='width:2000px'><tr><td>x</td></tr></table></main></body></html>"
    )
    with pytest.raises(AssertionError, match="content is"):
        assert_no_horizontal_scroll(page)
    with pytest.raises(AssertionError, match="label"):
        assert_accessible(page)
