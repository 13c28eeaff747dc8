"""The staff pages are linked from the admin and a refusal says which roles may open the page (issue 15.4)."""

from __future__ import annotations

import pytest

from members import roles
from members.staff_tools import roles_with

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        (roles.CSR, ["Caller verification"], ["Release member data", "Access log", "Annual review"]),
        (roles.AUDITOR, ["Disclosure log", "Access log", "Chain verification"], ["Release member data"]),
        (roles.PRIVACY_OFFICER, ["Release member data"], ["Caller verification"]),
        (roles.PROGRAM_ADMINISTRATOR, ["Annual review"], ["Release member data"]),
    ],
)
def test_the_admin_index_links_the_staff_tools_each_role_may_open(client, make_user, role, shown, hidden):
    client.force_login(make_user("someone", role=role))
    body = client.get("/admin/").content.decode()
    tools = body.split('id="staff-tools"')[1].split("</table>")[0] if 'id="staff-tools"' in body else ""
    for label in shown:
        assert f">{label}</a>" in tools
    for label in hidden:
        assert f">{label}</a>" not in tools


def test_a_refused_staff_page_names_the_roles_that_may_open_it(client, make_user):
    client.force_login(make_user("casey", role=roles.CSR))
    response = client.get("/audit/access-log/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "This page is not available to your role" in body
    expected = roles_with("disclosures.view_access_log")
    assert roles.AUDITOR in expected and roles.CSR not in expected
    for role in expected:
        assert role.replace("&", "&amp;") in body or role in body


def test_a_refused_admin_page_is_in_the_admins_look_and_names_the_roles(client, make_user):
    client.force_login(make_user("bo", role=roles.BILLING))
    response = client.get("/admin/redflags/rule/")
    assert response.status_code == 403
    body = response.content.decode()
    assert 'id="site-name"' in body and "This page is not available to your role" in body
    assert roles.RED_FLAG_ANALYST in body and roles.BILLING not in body.split("<ul>")[-1]


def test_anonymous_visitors_are_still_sent_to_sign_in(client):
    assert client.get("/audit/access-log/").status_code == 302
    assert client.get("/admin/redflags/rule/").status_code == 302
