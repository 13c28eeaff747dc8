"""The load harness's signed-in sessions stay signed in (issue 18.2): two scenarios that ask for the same
staff login must not sign each other's sessions out, or the load test measures the sign-in page."""

from __future__ import annotations

import pytest
from django.conf import settings

from config.loadtest import _staff, session_cookie
from members import roles

pytestmark = pytest.mark.django_db


def test_a_session_made_before_a_second_scenario_asks_for_the_same_login_still_reads_the_page(client):
    first = session_cookie(_staff("load-csr", roles.CSR))  # the member search's session
    session_cookie(_staff("load-csr", roles.CSR))  # the admin list's, made afterwards
    name, value = first.split("=", 1)
    assert name == settings.SESSION_COOKIE_NAME
    client.cookies[name] = value

    for page in ("/staff/find/", "/admin/members/member/"):  # the member search, and the admin's
        response = client.get(page, {"q": "Whitfield"})

        assert response.status_code == 200, response.get("Location")
        assert b"Sign in" not in response.content


def test_the_usage_api_scenario_reads_a_month_of_points_not_an_empty_answer(client):
    """Usage is read within the account's tenure; the fixture's accounts once had no opening date, and the
    usage API's load runs measured an answer with no points."""
    from config.loadtest import _usage_fixture

    sessions = _usage_fixture()
    session = sessions[0]
    name, value = session["cookie"].split("=", 1)
    client.cookies[name] = value

    response = client.get(session["paths"][0])

    assert response.status_code == 200
    assert len(response.json()["points"]) == 30
