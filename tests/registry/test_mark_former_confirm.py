"""Marking members former (a member leaving) asks to confirm, with the reason, before anything changes
(issue 15.3 follow-up): it was one click and recorded no reason."""

from __future__ import annotations

import pytest

from members import roles
from members.models import AuditEvent, Member
from tests import factories

pytestmark = pytest.mark.django_db
MEMBERS = "/admin/members/member/"


def _mark_former(client, member, **extra):
    return client.post(MEMBERS, {"action": "make_former", "_selected_action": [member.pk], **extra})


def test_mark_former_shows_a_confirmation_and_changes_nothing(client, csr):
    member = factories.MemberFactory(legal_name="Ada Whitfield", status=Member.Status.ACTIVE)
    client.force_login(csr)
    page = _mark_former(client, member)
    assert page.status_code == 200
    html = page.content.decode()
    assert "These members will leave the co-op" in html and "Ada Whitfield" in html
    assert "This cannot be undone" not in html  # a former member may rejoin: the page does not say otherwise
    assert 'name="action_reason"' in html and "Yes, mark 1 member former" in html
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
    assert not AuditEvent.objects.filter(action="member.status_changed").exists()


def test_confirming_without_a_reason_changes_nothing(client, csr):
    member = factories.MemberFactory(status=Member.Status.ACTIVE)
    client.force_login(csr)
    page = _mark_former(client, member, confirmed="yes", action_reason="")
    assert page.status_code == 200 and "Give the reason before confirming" in page.content.decode()
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_confirmed_with_a_reason_the_member_is_former_and_the_reason_kept(client, csr):
    member = factories.MemberFactory(status=Member.Status.ACTIVE)
    client.force_login(csr)
    response = _mark_former(client, member, confirmed="yes", action_reason="Moved out of the service area")
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status == Member.Status.FORMER and member.left_on is not None
    row = AuditEvent.objects.get(action="member.status_changed", object_id=str(member.pk), actor=csr)
    assert row.reason == "Moved out of the service area"


@pytest.mark.parametrize("who", ["anonymous", "auditor"])
def test_who_may_not_change_members_gets_no_confirmation_and_changes_nothing(client, make_user, who):
    member = factories.MemberFactory(status=Member.Status.ACTIVE)
    if who == "auditor":
        client.force_login(make_user("auditor-former", role=roles.AUDITOR))
    response = _mark_former(client, member, confirmed="yes", action_reason="trying")
    assert "These members will leave the co-op" not in response.content.decode()
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE
