"""Reinstating a suspended third party (issue 17, Privacy Officer): its client and recipient work again,
but nothing the suspension ended comes back: old tokens stay withdrawn (refused and logged), the
authorizations stay ended, and a member must authorize it afresh. Audited; refused to a CSR, refused
for a third party that is not suspended or whose agreement has lapsed, refused without a reason."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from connect import services
from connect.models import Authorization, ThirdParty
from disclosures.models import ConfidentialityAgreement
from members import roles
from members.models import AuditEvent
from tests.connect.test_refusals import (
    _last_refusal,
    _pull,
    _tokens,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def suspended(client, approved, member_with_usage, privacy_officer):
    member, accounts = member_with_usage
    app = approved()
    tokens = _tokens(client, app, member, [accounts[0].account_number])
    authorization = Authorization.objects.get(member=member)
    services.third_party_suspend(actor=privacy_officer, third_party=app.third_party, reason="breach report")
    return app, member, accounts, authorization, tokens


def test_reinstating_lets_members_authorize_again_but_restores_no_token(client, suspended, privacy_officer):
    app, member, accounts, authorization, tokens = suspended
    services.third_party_reinstate(actor=privacy_officer, third_party=app.third_party, reason="breach resolved")
    third_party = ThirdParty.objects.select_related("recipient").get(pk=app.third_party.pk)
    assert third_party.status == ThirdParty.Status.APPROVED and third_party.recipient.is_active
    event = AuditEvent.objects.filter(action="connect.third_party_reinstated").get()
    assert event.reason == "breach resolved" and event.actor_id == privacy_officer.pk
    # The old token is still withdrawn, the old authorization still ended.
    response = _pull(client, tokens["access_token"], f"Batch/Subscription/{authorization.pk}")
    assert response.status_code == 401 and "withdrawn" in _last_refusal().reason
    authorization.refresh_from_db()
    assert authorization.ended_at is not None and authorization.end_reason == "suspended"
    # The member authorizes afresh: a new authorization, a new token, and pulls work.
    fresh_tokens = _tokens(client, app, member, [accounts[0].account_number])
    fresh = Authorization.objects.get(member=member, ended_at__isnull=True)
    assert fresh.pk != authorization.pk
    assert _pull(client, fresh_tokens["access_token"], f"Batch/Subscription/{fresh.pk}").status_code == 200


def test_reinstating_is_refused_unless_suspended_with_a_reason_and_an_agreement(suspended, privacy_officer, approved):
    app = suspended[0]
    with pytest.raises(ValidationError):
        services.third_party_reinstate(actor=privacy_officer, third_party=app.third_party, reason="  ")
    with pytest.raises(ValidationError):
        services.third_party_reinstate(actor=privacy_officer, third_party=approved("Other app").third_party, reason="x")
    ConfidentialityAgreement.objects.filter(pk=app.third_party.agreement_id).update(
        expires_on="2020-01-01", effective_from="2019-01-01"
    )
    with pytest.raises(ValidationError, match="no longer in force"):
        services.third_party_reinstate(actor=privacy_officer, third_party=app.third_party, reason="renewed")
    assert ThirdParty.objects.get(pk=app.third_party.pk).status == ThirdParty.Status.SUSPENDED
    assert not AuditEvent.objects.filter(action="connect.third_party_reinstated").exists()


def test_a_csr_cannot_reinstate_a_third_party(client, suspended, make_user):
    app = suspended[0]
    client.force_login(make_user("csr-reinstate", role=roles.CSR))
    response = client.post(
        "/admin/connect/thirdparty/",
        {"action": "reinstate", "_selected_action": [app.third_party.pk], "reason": "please"},
    )
    assert response.status_code == 403
    assert ThirdParty.objects.get(pk=app.third_party.pk).status == ThirdParty.Status.SUSPENDED


def test_anonymous_visitors_cannot_reach_the_reinstate_action(client, suspended):
    app = suspended[0]
    response = client.post(
        "/admin/connect/thirdparty/", {"action": "reinstate", "_selected_action": [app.third_party.pk], "reason": "x"}
    )
    assert response.status_code == 302 and "login" in response["Location"]
    assert ThirdParty.objects.get(pk=app.third_party.pk).status == ThirdParty.Status.SUSPENDED
