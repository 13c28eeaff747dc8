"""Approving an imminent-threat release as second approver asks to confirm, with the reason (issue 15.3
follow-up): the action was one click, approved on the spot and recorded no reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from disclosures import services
from disclosures.models import DataCategory as C
from disclosures.models import LegalBasis, Purpose, Recipient
from members.models import AuditEvent

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/disclosures/legalbasis/"


@pytest.fixture
def threat(privacy_officer, recipient, members):
    return services.legal_basis_record(
        actor=privacy_officer,
        kind=LegalBasis.Kind.IMMINENT_THREAT,
        recipient=recipient(Recipient.Kind.LAW_ENFORCEMENT, "County Fire Marshal"),
        members=members[:1],
        categories=[C.CONTACT],
        purpose=Purpose.IMMINENT_THREAT,
        valid_until=timezone.now() + timedelta(days=1),
        justification="Downed line at the premise; occupants must be reached now",
    )


def _approve(client, pk, **extra):
    return client.post(CHANGELIST, {"action": "approve", "_selected_action": [pk], **extra})


def test_approving_shows_a_confirmation_and_changes_nothing_until_confirmed(client, second_privacy_officer, threat):
    client.force_login(second_privacy_officer)
    page = _approve(client, threat.pk)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Approving lets the release go ahead" in html and "County Fire Marshal" in html
    assert 'name="action_reason"' in html and "Yes, approve 1 release" in html
    threat.refresh_from_db()
    assert threat.approved_at is None
    assert not AuditEvent.objects.filter(action="legal_basis.approved").exists()


def test_confirming_without_a_reason_still_changes_nothing(client, second_privacy_officer, threat):
    client.force_login(second_privacy_officer)
    page = _approve(client, threat.pk, confirmed="yes", action_reason="   ")
    assert page.status_code == 200 and "Give the reason before confirming" in page.content.decode()
    threat.refresh_from_db()
    assert threat.approved_at is None


def test_confirmed_with_a_reason_it_approves_and_keeps_the_reason(client, second_privacy_officer, threat):
    client.force_login(second_privacy_officer)
    response = _approve(client, threat.pk, confirmed="yes", action_reason="Line down, family unreachable by phone")
    assert response.status_code == 302
    threat.refresh_from_db()
    assert threat.approved_at is not None and threat.approved_by == second_privacy_officer
    row = AuditEvent.objects.get(action="legal_basis.approved", object_id=str(threat.pk))
    assert row.reason == "Line down, family unreachable by phone"
    shown = [str(message) for message in client.get(CHANGELIST).context["messages"]]
    assert any("approved; the release may go ahead" in text for text in shown)


def test_the_requester_confirming_is_refused_with_the_reason_why(client, privacy_officer, threat):
    client.force_login(privacy_officer)
    _approve(client, threat.pk, confirmed="yes", action_reason="I am sure")
    threat.refresh_from_db()
    assert threat.approved_at is None
    shown = [str(message) for message in client.get(CHANGELIST).context["messages"]]
    assert any("not approved" in text and "other than the requester" in text for text in shown)


@pytest.mark.parametrize("who", ["anonymous", "csr"])
def test_who_may_not_approve_gets_no_confirmation_and_changes_nothing(client, csr, threat, who):
    if who == "csr":
        client.force_login(csr)
    response = _approve(client, threat.pk, confirmed="yes", action_reason="trying")
    assert response.status_code in (302, 403)
    assert "Approving lets the release go ahead" not in response.content.decode()
    threat.refresh_from_db()
    assert threat.approved_at is None
