"""The admin's navigation (sidebar and index) is built once per permission set (members/admin_nav.py):
the same markup as Django renders, a role granted or removed shows at the next request, the current
page is marked per page, and the staff-role check asks the database once per request."""

from __future__ import annotations

import re

import pytest
from django.contrib.admin import AdminSite
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members import admin_nav, roles

pytestmark = pytest.mark.django_db

MEMBERS = reverse("admin:members_member_changelist")
RULES = reverse("admin:redflags_rule_changelist")
ACCOUNTS = reverse("admin:accounts_account_changelist")


@pytest.fixture(autouse=True)
def _empty_cache():
    admin_nav.clear()
    yield
    admin_nav.clear()


def _sidebar(response) -> str:
    html = response.content.decode()
    assert response.status_code == 200
    return html.split('<nav class="sticky" id="nav-sidebar"', 1)[1].split("</nav>", 1)[0]


def _uncached(monkeypatch) -> None:
    """Django's own app list and sidebar, every time."""
    monkeypatch.setattr(admin_nav, "cached_app_list", lambda site, request, label, build: build(request, label))
    monkeypatch.setattr(admin_nav, "cached_sidebar", lambda context, render: render())


@pytest.mark.parametrize("path", [MEMBERS, "/admin/", reverse("admin:app_list", args=["members"])])
def test_the_cached_sidebar_and_index_are_the_markup_django_renders(client, csr, monkeypatch, path):
    client.force_login(csr)
    first = client.get(path)
    cached = client.get(path)  # served from the cache
    assert admin_nav._app_lists  # the index pages show the list without the sidebar
    assert admin_nav._sidebars or "nav-sidebar" not in first.content.decode()
    _uncached(monkeypatch)
    django_rendered = client.get(path)

    def page(response) -> str:
        return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())

    assert page(first) == page(cached) == page(django_rendered)


def test_a_role_granted_or_removed_shows_at_the_next_request(client, make_user):
    user = make_user("casey-nav", role=roles.CSR)
    client.force_login(user)
    assert f'href="{MEMBERS}"' in _sidebar(client.get(MEMBERS))
    assert f'href="{RULES}"' not in _sidebar(client.get(MEMBERS))

    program = Group.objects.get(name=roles.PROGRAM_ADMINISTRATOR)
    user.groups.add(program)
    assert f'href="{RULES}"' in _sidebar(client.get(MEMBERS))

    user.groups.remove(program)
    assert f'href="{RULES}"' not in _sidebar(client.get(MEMBERS))
    assert client.get(RULES).status_code == 403


def test_two_roles_never_share_a_sidebar(client, csr, make_user):
    client.force_login(csr)
    csr_sidebar = _sidebar(client.get(MEMBERS))
    client.force_login(make_user("program-pat", role=roles.PROGRAM_ADMINISTRATOR))
    program_sidebar = _sidebar(client.get(RULES))
    assert f'href="{RULES}"' in program_sidebar and f'href="{RULES}"' not in csr_sidebar
    assert f'href="{MEMBERS}"' in csr_sidebar


def test_the_current_page_is_marked_on_its_own_page_only(client, csr):
    client.force_login(csr)
    current = f'<a href="{MEMBERS}" aria-current="page">'
    assert current in _sidebar(client.get(MEMBERS))
    assert current not in _sidebar(client.get(ACCOUNTS))
    assert current in _sidebar(client.get(MEMBERS))


def test_a_caller_may_change_the_list_it_gets(rf, csr):
    request = rf.get("/admin/")
    request.user = csr
    site = AdminSite(name="nav-test")
    built = [{"app_label": "a", "app_url": "/a/", "name": "A", "models": [{"name": "M", "admin_url": "/a/m/"}]}]
    first = admin_nav.cached_app_list(site, request, None, lambda request, label: built)
    first[0]["models"][0]["name"] = "changed"
    first.append({"models": []})
    again = admin_nav.cached_app_list(site, request, None, lambda request, label: pytest.fail("rebuilt"))
    assert again == built and again[0]["models"][0]["name"] == "M"


def test_the_staff_role_is_asked_once_per_request(client, csr):
    client.force_login(csr)
    client.get(MEMBERS)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(MEMBERS).status_code == 200
    role_checks = [q["sql"] for q in captured.captured_queries if '"auth_group"."name" IN' in q["sql"]]
    assert len(role_checks) == 1


def test_a_staff_user_without_a_role_still_sees_nothing(client, make_user):
    client.force_login(make_user("no-role", is_staff=True))
    assert client.get(MEMBERS).status_code in (302, 403)
    assert client.get("/admin/").status_code in (302, 403)
