"""Membership-list decisions in the admin ask for the reason and say what happened (issue 15.3)."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from disclosures import services
from disclosures.models import MembershipListRequest
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/disclosures/membershiplistrequest/"


@pytest.fixture
def pending(csr):
    return services.membership_list_request_create(
        actor=csr, requester=MemberFactory(), purpose="Candidate for the board election mailing"
    )


def _post(client, action, pk, **extra):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [pk], **extra})


def test_approving_asks_for_the_reason_first_and_changes_nothing_until_given(client, privacy_officer, pending):
    client.force_login(privacy_officer)
    page = _post(client, "approve", pending.pk)
    assert page.status_code == 200 and 'name="decision_note"' in page.content.decode()
    assert "Candidate for the board election mailing" in page.content.decode()
    blank = _post(client, "approve", pending.pk, decision_note="   ")
    assert "Record why the purpose is proper" in blank.content.decode()
    pending.refresh_from_db()
    assert pending.status == MembershipListRequest.Status.PENDING


def test_an_approval_says_what_it_allows_and_keeps_the_reason(client, privacy_officer, pending):
    client.force_login(privacy_officer)
    response = _post(client, "approve", pending.pk, decision_note="Board election: a proper purpose under G")
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == MembershipListRequest.Status.APPROVED
    assert pending.decision_note == "Board election: a proper purpose under G"
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(shown) == 1 and "approved; the list may be released to them until" in shown[0]


def test_a_denial_is_reported_as_a_denial(client, privacy_officer, pending):
    client.force_login(privacy_officer)
    response = _post(client, "deny", pending.pk, decision_note="Commercial solicitation is not a proper purpose")
    pending.refresh_from_db()
    assert pending.status == MembershipListRequest.Status.DENIED
    shown = [str(m) for m in get_messages(response.wsgi_request)]
    assert len(shown) == 1 and "denied" in shown[0] and "approved" not in shown[0]


def test_a_refused_decision_shows_only_the_error(client, privacy_officer, pending):
    services.membership_list_request_decide(actor=privacy_officer, request=pending, approve=False, note="first")
    client.force_login(privacy_officer)
    response = _post(client, "approve", pending.pk, decision_note="second thoughts")
    shown = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert shown == [
        ("error", f"Request from {pending.requester}: not decided. This request has already been decided.")
    ]


def test_a_csr_cannot_decide(client, csr, pending):
    client.force_login(csr)
    _post(client, "approve", pending.pk, decision_note="I approve")
    pending.refresh_from_db()
    assert pending.status == MembershipListRequest.Status.PENDING


def test_anonymous_cannot_decide(client, pending):
    assert _post(client, "approve", pending.pk, decision_note="x").status_code == 302
    pending.refresh_from_db()
    assert pending.status == MembershipListRequest.Status.PENDING


def test_the_release_page_names_the_log_entry_of_each_of_my_releases(client, csr, privacy_officer, members, partner):
    from disclosures.models import DataCategory, Purpose
    from tests.disclosures.conftest import written_consent

    written_consent(csr, members[0], partner)
    export = services.disclosure_export(
        actor=privacy_officer, recipient=partner, categories=[DataCategory.CONTACT], purpose=Purpose.MARKETING
    )
    export.read_all()
    client.force_login(privacy_officer)
    body = client.get("/disclosures/release/").content.decode()
    assert f">#{export.entry.seq}</a>" in body and "Your recent releases" in body
    client.force_login(csr)
    assert client.get("/disclosures/release/").status_code == 403
