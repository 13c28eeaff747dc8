"""Connect My Data refusals (issue 17 item 6): each bad request gets the OAuth or ESPI error it calls for,
nothing is released, and the refused pull is on the disclosure log. Plus the denial tests of every page."""

from __future__ import annotations

import base64
import datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken

from connect import services
from connect.models import Authorization
from connect.scopes import ESPI_USAGE
from disclosures.models import DisclosureLogEntry
from tests.connect.conftest import REDIRECT, authorize_query, code_from, member_allows, pkce_pair

pytestmark = pytest.mark.django_db


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def _tokens(client, app, member, accounts, **choices) -> dict:
    verifier, challenge = pkce_pair()
    client.force_login(member.user)
    response = member_allows(client, authorize_query(app.client_id, challenge), accounts=accounts, **choices)
    assert response.status_code == 302, response.content.decode()[:2000]
    exchanged = client.post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code_from(response),
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        HTTP_AUTHORIZATION=_basic(app.client_id, app.secret),
    )
    assert exchanged.status_code == 200, exchanged.content
    client.logout()
    return exchanged.json()


@pytest.fixture
def granted(client, approved, member_with_usage):
    member, accounts = member_with_usage
    app = approved()
    tokens = _tokens(client, app, member, [accounts[0].account_number])
    authorization = Authorization.objects.get(member=member)
    return app, member, accounts, authorization, tokens


def _pull(client, token: str, path: str, **params):
    return client.get(f"/espi/1_1/resource/{path}", params, HTTP_AUTHORIZATION=f"Bearer {token}")


def _released() -> int:
    return DisclosureLogEntry.objects.filter(outcome="released").count()


def _last_refusal() -> DisclosureLogEntry:
    entry = DisclosureLogEntry.objects.order_by("-seq").first()
    assert entry is not None and entry.outcome == "refused"
    return entry


# --- The authorization endpoint ---------------------------------------------------------------------


def test_an_unknown_client_gets_an_error_page_and_no_redirect(client, member_with_usage):
    member, _ = member_with_usage
    client.force_login(member.user)
    response = client.get(authorize_query("no-such-client", pkce_pair()[1]))
    assert response.status_code == 400 and "cannot be made" in response.content.decode()
    assert not Authorization.objects.exists()


def test_a_redirect_uri_that_was_not_registered_is_never_followed(client, approved, member_with_usage):
    member, accounts = member_with_usage
    app = approved()
    client.force_login(member.user)
    url = authorize_query(app.client_id, pkce_pair()[1], redirect="https://evil.example/steal")
    assert client.get(url).status_code == 400
    assert member_allows_is_refused(client, url, accounts)


def member_allows_is_refused(client, url, accounts) -> bool:
    response = client.post(url, {"client_id": "x", "allow": "on"})
    return response.status_code in (200, 400) and not Authorization.objects.exists()


def test_pkce_is_required(client, approved, member_with_usage):
    member, _ = member_with_usage
    app = approved()
    client.force_login(member.user)
    response = client.get(authorize_query(app.client_id, None))
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["invalid_request"]


def test_asking_for_more_than_approved_is_invalid_scope(client, approved, member_with_usage):
    member, _ = member_with_usage
    app = approved()
    client.force_login(member.user)
    response = client.get(authorize_query(app.client_id, pkce_pair()[1], scope=f"{ESPI_USAGE} memberguard:billing"))
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query)["error"] == ["invalid_scope"]


def test_the_member_cannot_pick_another_members_account(client, approved, member_with_usage):
    from tests.factories import OpenAccountFactory

    member, _ = member_with_usage
    app = approved()
    stranger = OpenAccountFactory()
    client.force_login(member.user)
    response = member_allows(client, authorize_query(app.client_id, pkce_pair()[1]), accounts=[stranger.account_number])
    assert response.status_code == 200
    assert not Authorization.objects.exists()


def test_declining_tells_the_third_party_access_denied(client, approved, member_with_usage):
    member, _ = member_with_usage
    app = approved()
    client.force_login(member.user)
    url = authorize_query(app.client_id, pkce_pair()[1])
    from tests.connect.conftest import form_fields

    fields = form_fields(client.get(url).content.decode())
    today = timezone.localdate()
    fields.update(
        {
            "categories": ["A3_usage"],
            "data_from": today.isoformat(),
            "ends_on": (today + datetime.timedelta(days=5)).isoformat(),
        }
    )
    response = client.post(url, fields)
    assert response.status_code == 302 and "error=access_denied" in response["Location"]
    assert not Authorization.objects.exists()


def test_a_code_without_its_verifier_gets_no_token(client, approved, member_with_usage):
    member, accounts = member_with_usage
    app = approved()
    client.force_login(member.user)
    response = member_allows(
        client, authorize_query(app.client_id, pkce_pair()[1]), accounts=[accounts[0].account_number]
    )
    exchanged = client.post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code_from(response),
            "redirect_uri": REDIRECT,
            "code_verifier": "wrong-" + "x" * 50,
        },
        HTTP_AUTHORIZATION=_basic(app.client_id, app.secret),
    )
    assert exchanged.status_code == 400 and exchanged.json()["error"] == "invalid_grant"


# --- The resource API -------------------------------------------------------------------------------


def test_no_token_or_an_unknown_one_is_a_bearer_error(client, granted):
    _, _, _, authorization, _ = granted
    before = _released()
    response = client.get(f"/espi/1_1/resource/Batch/Subscription/{authorization.pk}")
    assert response.status_code == 401 and response.json()["error"] == "invalid_request"
    response = _pull(client, "made-up", f"Batch/Subscription/{authorization.pk}")
    assert response.status_code == 401 and 'error="invalid_token"' in response["WWW-Authenticate"]
    assert "unknown access token" in _last_refusal().reason
    assert _released() == before


def test_an_expired_token_is_refused_and_logged_against_its_authorization(client, granted):
    _, member, _, authorization, tokens = granted
    AccessToken.objects.filter(token=tokens["access_token"]).update(
        expires=timezone.now() - datetime.timedelta(seconds=1)
    )
    before = _released()
    response = _pull(client, tokens["access_token"], f"Batch/Subscription/{authorization.pk}")
    assert response.status_code == 401 and b"IntervalReading" not in response.content
    refusal = _last_refusal()
    assert "expired" in refusal.reason and refusal.member_ids == [member.pk]
    assert _released() == before


def test_a_period_before_the_authorization_is_refused_and_logged(client, granted):
    _, member, _, authorization, tokens = granted
    early = timezone.now() - datetime.timedelta(days=400)
    before = _released()
    response = _pull(
        client, tokens["access_token"], f"Batch/Subscription/{authorization.pk}", **{"published-min": early.isoformat()}
    )
    assert response.status_code == 403 and response.json()["error"] == "period_not_authorized"
    assert "outside the member's authorization" in _last_refusal().reason
    assert _released() == before


@pytest.mark.parametrize(
    "params",
    [
        {"published-min": "yesterday"},
        {"published-max": "2026-13-45T00:00:00Z"},
        {"published-min": "2026-01-01T00:00:00"},
    ],
)
def test_malformed_filters_are_a_bad_request_and_logged(client, granted, params):
    _, _, _, authorization, tokens = granted
    before = _released()
    response = _pull(client, tokens["access_token"], f"Batch/Subscription/{authorization.pk}", **params)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert "xs:dateTime" in _last_refusal().reason
    assert _released() == before


def test_a_reversed_period_is_a_bad_request(client, granted):
    _, _, _, authorization, tokens = granted
    now = timezone.now()
    response = _pull(
        client,
        tokens["access_token"],
        f"Batch/Subscription/{authorization.pk}",
        **{"published-min": now.isoformat(), "published-max": (now - datetime.timedelta(days=1)).isoformat()},
    )
    assert response.status_code == 400


def test_another_subscription_is_forbidden_and_logged(client, granted):
    _, _, _, authorization, tokens = granted
    before = _released()
    response = _pull(client, tokens["access_token"], f"Batch/Subscription/{authorization.pk + 1000}")
    assert response.status_code == 403 and "not this token's authorization" in _last_refusal().reason
    assert _released() == before


def test_an_account_the_member_did_not_choose_is_forbidden_and_logged(client, granted):
    _, _, accounts, authorization, tokens = granted
    before = _released()
    response = _pull(
        client, tokens["access_token"], f"Subscription/{authorization.pk}/UsagePoint/account-{accounts[1].pk}-delivered"
    )
    assert response.status_code == 403 and "not part of this authorization" in _last_refusal().reason
    assert _released() == before


def test_a_suspended_third_party_loses_every_token_at_once(client, granted, privacy_officer):
    app, member, _, authorization, tokens = granted
    withdrawn = services.third_party_suspend(actor=privacy_officer, third_party=app.third_party, reason="breach report")
    assert withdrawn == 2  # the access token and its refresh token
    response = _pull(client, tokens["access_token"], f"Batch/Subscription/{authorization.pk}")
    assert response.status_code == 401 and "withdrawn" in _last_refusal().reason
    refreshed = client.post(
        "/oauth/token/",
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        HTTP_AUTHORIZATION=_basic(app.client_id, app.secret),
    )
    assert refreshed.status_code == 401 and refreshed.json()["error"] == "invalid_client"
    authorization.refresh_from_db()
    app.third_party.recipient.refresh_from_db()
    assert authorization.end_reason == "suspended" and not app.third_party.recipient.is_active


def test_the_third_party_may_revoke_its_own_token(client, granted):
    app, _, _, authorization, tokens = granted
    response = client.post(
        "/oauth/revoke_token/", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=_basic(app.client_id, app.secret)
    )
    assert response.status_code == 200
    assert _pull(client, tokens["access_token"], f"Batch/Subscription/{authorization.pk}").status_code == 401


def test_pulls_beyond_the_clients_rate_are_refused(client, granted, settings):
    _, _, _, authorization, tokens = granted
    settings.CONNECT_PULLS_PER_MINUTE = 2
    codes = [_pull(client, tokens["access_token"], f"Authorization/{authorization.pk}").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


# --- Pages: denial tests ----------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in_from_the_consent_screen_and_the_list(client, approved):
    app = approved()
    assert client.get(authorize_query(app.client_id, pkce_pair()[1])).status_code == 302
    assert client.get("/portal/connected-apps/").status_code == 302


def test_staff_without_a_member_record_get_no_consent_screen(client, approved, privacy_officer):
    app = approved()
    client.force_login(privacy_officer)
    assert client.get(authorize_query(app.client_id, pkce_pair()[1])).status_code == 404
    assert client.get("/portal/connected-apps/").status_code == 404


def test_another_member_cannot_end_someone_elses_authorization(client, granted):
    from tests.factories import MemberFactory, UserFactory

    _, _, _, authorization, _ = granted
    other = MemberFactory(user=UserFactory(username="charlie-cmd"))
    client.force_login(other.user)
    assert client.post(f"/portal/connected-apps/{authorization.pk}/end/").status_code == 404
    authorization.refresh_from_db()
    assert authorization.ended_at is None
    assert "SunCalc" not in client.get("/portal/connected-apps/").content.decode()


def test_a_csr_cannot_approve_a_third_party(client, make_user):
    from members import roles
    from tests.connect.conftest import apply

    third_party = apply()
    client.force_login(make_user("csr-cmd", role=roles.CSR))
    response = client.post(
        "/admin/connect/thirdparty/",
        {
            "action": "approve",
            "_selected_action": [third_party.pk],
            "agreement_reference": "X",
            "agreement_expires_on": "2030-01-01",
        },
    )
    assert response.status_code == 403
    third_party.refresh_from_db()
    assert third_party.status == "applied"


def test_a_bad_application_is_refused_with_nothing_recorded(client):
    from connect.models import ThirdParty

    response = client.post(
        "/connect/apply/",
        {
            "name": "Sneaky",
            "contact_name": "X",
            "contact_email": "x@example.test",
            "purpose": "resale",
            "redirect_uris": "http://evil.example/cb",
            "categories": ["A3_usage"],
            "frequency": "daily",
        },
    )
    assert response.status_code == 400 and "must use https" in response.content.decode()
    assert not ThirdParty.objects.exists()
