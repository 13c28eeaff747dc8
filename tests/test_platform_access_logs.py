"""Issue 11 item 5: searches by SSN or licence never put the identifier in a URL, and access logs never
carry one (gunicorn's format drops the query string; a logging filter masks runserver's lines)."""

from __future__ import annotations

import datetime
import logging
import runpy
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.urls import reverse
from gunicorn.config import Config
from gunicorn.glogging import Logger as GunicornLogger

from config import access_log
from members import roles
from members.models import AuditEvent
from tests import factories

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = reverse("admin:members_member_changelist")
SEARCH = reverse("admin:members_member_search")
SSN = "123-45-6781"


@pytest.fixture
def member(db):
    from members.crypto import blind_index

    return factories.MemberFactory(ssn="123456781", tax_id_index=blind_index("ssn", "123456781"), ssn_last4="6781")


def _search(client, term: str):
    response = client.post(SEARCH, {"q": term})
    assert response.status_code == 302
    location = response["Location"]
    return location, client.get(location)


@pytest.mark.django_db
def test_the_admin_searches_an_ssn_by_post_and_the_url_carries_only_a_token(client, make_user, member):
    user = make_user("analyst-sec", role=roles.RED_FLAG_ANALYST)
    client.force_login(user)
    location, page = _search(client, SSN)
    assert "_qt=" in location and "123456781" not in location and SSN not in location
    assert [m.pk for m in page.context["cl"].result_list] == [member.pk]
    html = page.content.decode()
    assert 'method="post"' in html and SSN not in html and "123456781" not in html
    # Links on the result page (pagination, filters) keep the token, never the term.
    assert "q=123" not in html
    assert AuditEvent.objects.filter(action="access.list_members", actor=user, detail__searched=True).exists()


@pytest.mark.django_db
def test_the_search_token_is_stored_encrypted_and_is_useless_in_another_session(client, make_user, member):
    from django.contrib.sessions.models import Session

    client.force_login(make_user("analyst-sec", role=roles.RED_FLAG_ANALYST))
    location, _page = _search(client, SSN)
    for session in Session.objects.all():
        assert "123456781" not in session.session_data and "6781" not in str(session.get_decoded())
    other = type(client)()
    other.force_login(make_user("analyst-two", role=roles.RED_FLAG_ANALYST))
    assert list(other.get(location).context["cl"].result_list) == []


@pytest.mark.django_db
def test_an_ssn_typed_into_the_admin_url_is_refused_not_searched(client, make_user, member):
    client.force_login(make_user("analyst-sec", role=roles.RED_FLAG_ANALYST))
    for term in (SSN, "123456781", "IL:D000000001"):
        page = client.get(MEMBERS, {"q": term})
        assert page.status_code == 200 and list(page.context["cl"].result_list) == []
        assert "never put in a URL" in page.content.decode()
    # Non-identifiers still work from a link (last four, member number).
    assert [m.pk for m in client.get(MEMBERS, {"q": "6781"}).context["cl"].result_list] == [member.pk]


@pytest.mark.django_db
def test_the_search_page_is_refused_without_a_role(client, make_user):
    assert client.post(SEARCH, {"q": SSN}).status_code == 302  # to the login page
    client.force_login(make_user("outsider", is_staff=True))
    assert client.post(SEARCH, {"q": SSN}).status_code in (302, 403)


@pytest.mark.django_db
def test_the_api_refuses_an_identifier_in_the_query_string_and_searches_it_by_post(client, make_user, member):
    client.force_login(make_user("analyst-sec", role=roles.RED_FLAG_ANALYST))
    refused = client.get("/api/members/", {"q": SSN})
    assert refused.status_code == 400 and "POST" in refused.json()["q"][0]
    found = client.post("/api/members/search/", {"q": SSN}, content_type="application/json")
    assert found.status_code == 200
    assert [row["id"] for row in found.json()["results"]] == [member.pk]
    assert SSN not in found.content.decode() and "123456781" not in found.content.decode()
    assert client.get("/api/members/search/").status_code == 405


@pytest.mark.django_db
def test_the_api_search_is_refused_to_anonymous_members_and_roles_without_permission(client, make_user, member):
    url = "/api/members/search/"
    assert client.post(url, {"q": SSN}, content_type="application/json").status_code in (401, 403)
    client.force_login(factories.MemberFactory(user=factories.UserFactory(username="m-own")).user)
    assert client.post(url, {"q": SSN}, content_type="application/json").status_code == 403
    client.force_login(make_user("billing-b", role=roles.BILLING))
    assert client.post(url, {"q": SSN}, content_type="application/json").status_code == 403  # no full-SSN search


def test_gunicorn_access_lines_have_no_query_string_and_no_referer():
    conf = runpy.run_path(str(ROOT / "config/gunicorn.conf.py"))
    assert conf["access_log_format"] == access_log.ACCESS_LOG_FORMAT
    cfg = Config()
    cfg.set("access_log_format", conf["access_log_format"])
    request = SimpleNamespace(
        method="GET",
        path="/admin/members/member/",
        query="q=123-45-6781",
        uri="/admin/members/member/?q=123-45-6781",
        version=(1, 1),
        headers=[("REFERER", "https://co-op.test/?q=123456781")],
    )
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    environ = {
        "REMOTE_ADDR": "10.0.0.1",
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/admin/members/member/?q=123-45-6781",
        "PATH_INFO": "/admin/members/member/",
        "QUERY_STRING": "q=123-45-6781",
        "HTTP_REFERER": "https://co-op.test/?q=123456781",
        "SERVER_PROTOCOL": "HTTP/1.1",
    }
    atoms = GunicornLogger(cfg).atoms(response, request, environ, datetime.timedelta(seconds=1))
    line = conf["access_log_format"] % atoms
    assert "/admin/members/member/" in line
    assert "6781" not in line and "q=" not in line


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '"GET /admin/members/member/?q=123-45-6781 HTTP/1.1" 200 5',
            '"GET /admin/members/member/?q=[masked] HTTP/1.1" 200 5',
        ),
        (
            '"GET /api/members/?q=123456781&limit=10 HTTP/1.1" 400 9',
            '"GET /api/members/?q=[masked]&limit=10 HTTP/1.1" 400 9',
        ),
        ('"GET /api/members/?q=IL%3AD123456789 HTTP/1.1" 400 9', '"GET /api/members/?q=[masked] HTTP/1.1" 400 9'),
        (
            '"GET /api/members/?q=smith&offset=100 HTTP/1.1" 200 9',
            '"GET /api/members/?q=smith&offset=100 HTTP/1.1" 200 9',
        ),
    ],
)
def test_the_log_filter_masks_identifier_like_query_values(line, expected):
    record = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        tuple(line[1:].split('" ', 1)[0:1]) + tuple(line.split('" ', 1)[1].split()),
        None,
    )
    access_log.MaskQueryIdentifiers().filter(record)
    assert record.getMessage() == expected


def test_runserver_request_lines_go_through_the_filter(caplog):
    from django.conf import settings

    handlers = settings.LOGGING["loggers"]["django.server"]["handlers"]
    assert all("mask_identifiers" in settings.LOGGING["handlers"][name]["filters"] for name in handlers)
    assert "mask_identifiers" in settings.LOGGING["handlers"]["console"]["filters"]
    server = logging.getLogger("django.server")
    assert any(isinstance(f, access_log.MaskQueryIdentifiers) for h in server.handlers for f in h.filters)
