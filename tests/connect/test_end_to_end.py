"""Green Button Connect My Data end to end, over real HTTP: the server under gunicorn-like conditions
(pytest-django's live server on a loopback port) and a third party built with requests-oauthlib.

Registration (the public form), the Privacy Officer's approval (admin action), the member's authorization
with PKCE (a browser session through the consent screen), token exchange, a Batch/Subscription pull
validated against the ESPI schema and on the disclosure log, refresh, the member's revocation, and the
refused (and logged) pull after it.
"""

from __future__ import annotations

import datetime
import re

import pytest
import requests
from django.apps import apps
from django.test import Client as DjangoClient
from django.utils import timezone
from requests_oauthlib import OAuth2Session

from accounts.usage.espi import espi_validate
from connect.models import Authorization, ThirdParty
from connect.scopes import ESPI_USAGE
from disclosures.chain import verify_chain
from disclosures.models import Consent, DisclosureLogEntry, NoticeText
from members.notices.models import Notice
from tests.connect.conftest import REDIRECT, form_fields, usage_days

# Every app available: the flush after this transactional test then truncates with CASCADE (the usage
# app's unmanaged day table refers to meters).
pytestmark = [pytest.mark.django_db(transaction=True, available_apps=[c.name for c in apps.get_app_configs()])]


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch):
    # requests-oauthlib refuses plain http unless told; the loopback test server has no TLS.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")


def _browser_for(user, live_server) -> requests.Session:
    """The member's browser: a requests session carrying a signed-in (password + MFA) Django session."""
    django_client = DjangoClient()
    django_client.force_login(user)
    browser = requests.Session()
    for name, morsel in django_client.cookies.items():
        browser.cookies.set(name, morsel.value)
    return browser


def test_a_third_party_registers_is_approved_authorized_pulls_refreshes_and_is_cut_off(
    live_server, member_with_usage, privacy_officer
):
    base = live_server.url
    member, accounts = member_with_usage

    # 1. The third party applies on the public form.
    apply_page = requests.Session()
    form = apply_page.get(f"{base}/connect/apply/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    applied = apply_page.post(
        f"{base}/connect/apply/",
        data={
            "csrfmiddlewaretoken": csrf,
            "name": "SunCalc Solar",
            "contact_name": "Dana Developer",
            "contact_email": "dana@suncalc.example",
            "purpose": "Sizing rooftop solar from your past year of use",
            "redirect_uris": REDIRECT,
            "categories": ["A3_usage"],
            "frequency": "daily",
        },
        headers={"Referer": f"{base}/connect/apply/"},
    )
    assert applied.status_code == 201, applied.text[:2000]
    third_party = ThirdParty.objects.get(name="SunCalc Solar")
    assert third_party.status == "applied" and third_party.application is None

    # 2. The Privacy Officer approves in the admin: recipient, agreement and OAuth client created.
    officer = _browser_for(privacy_officer, live_server)
    changelist = officer.get(f"{base}/admin/connect/thirdparty/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', changelist.text).group(1)
    expires = (timezone.localdate() + datetime.timedelta(days=730)).isoformat()
    approved = officer.post(
        f"{base}/admin/connect/thirdparty/",
        data={
            "csrfmiddlewaretoken": csrf,
            "action": "approve",
            "_selected_action": [third_party.pk],
            "agreement_reference": "CMD-2026-001",
            "agreement_expires_on": expires,
        },
        headers={"Referer": f"{base}/admin/connect/thirdparty/"},
    )
    assert approved.status_code == 200
    assert "client secret" in approved.text, re.sub(r"\s+", " ", approved.text)[-3000:]
    secret = re.search(r"client secret: ([A-Za-z0-9_\-]+)", approved.text).group(1)
    third_party.refresh_from_db()
    assert third_party.status == "approved"
    assert third_party.recipient.kind == "member_designated" and third_party.agreement.categories == ["A3_usage"]
    client_id = third_party.application.client_id

    # 3. The member authorizes with PKCE, choosing one of two accounts.
    oauth = OAuth2Session(client_id, redirect_uri=REDIRECT, scope=[ESPI_USAGE], pkce="S256")
    authorization_url, state = oauth.authorization_url(f"{base}/oauth/authorize/")
    browser = _browser_for(member.user, live_server)
    screen = browser.get(authorization_url)
    assert screen.status_code == 200, screen.text[:2000]
    assert "SunCalc Solar" in screen.text and "once a day" in screen.text
    fields = form_fields(screen.text)
    assert fields["code_challenge_method"] == "S256" and fields["code_challenge"]
    today = timezone.localdate()
    chosen = accounts[0]
    allowed = browser.post(
        authorization_url,
        data={
            **fields,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            "accounts": [chosen.account_number],
            "categories": ["A3_usage"],
            "data_from": (today - datetime.timedelta(days=30)).isoformat(),
            "ends_on": (today + datetime.timedelta(days=180)).isoformat(),
            "allow": "on",
        },
        headers={"Referer": authorization_url},
        allow_redirects=False,
    )
    assert allowed.status_code == 302, allowed.text[:2000]
    callback = allowed.headers["Location"]
    assert callback.startswith(REDIRECT) and f"state={state}" in callback

    authorization = Authorization.objects.get(member=member, third_party=third_party)
    consent = authorization.consent
    assert consent.channel == Consent.Channel.PORTAL and consent.notice_text.kind == NoticeText.Kind.CONNECT_MY_DATA
    assert "SunCalc Solar" in consent.notice_shown and chosen.account_number in consent.notice_shown
    assert authorization.account_ids == [chosen.pk]
    assert Notice.objects.filter(member=member, kind="connect_authorized").exists()

    # 4. Token exchange (client_secret_basic, code_verifier sent by requests-oauthlib).
    token = oauth.fetch_token(
        f"{base}/oauth/token/", authorization_response=callback, client_secret=secret, include_client_id=False
    )
    assert token["token_type"] == "Bearer" and token["refresh_token"] and token["scope"] == [ESPI_USAGE]

    # 5. The Batch/Subscription pull: schema-valid, only the chosen account, one chained log entry.
    before = DisclosureLogEntry.objects.count()
    feed = oauth.get(f"{base}/espi/1_1/resource/Batch/Subscription/{authorization.pk}")
    assert feed.status_code == 200, feed.text[:2000]
    assert feed.headers["Content-Type"].startswith("application/atom+xml")
    assert espi_validate(feed.content) == []
    assert f"account-{chosen.pk}-delivered".encode() in feed.content
    assert f"account-{accounts[1].pk}-".encode() not in feed.content
    assert feed.content.count(b"<espi:IntervalReading>") == 96 * len(usage_days())
    assert b"<espi:LocalTimeParameters>" in feed.content
    entries = DisclosureLogEntry.objects.filter(seq__gt=0).order_by("-seq")
    assert DisclosureLogEntry.objects.count() == before + 1
    entry = entries.first()
    assert entry.outcome == "released" and entry.member_ids == [member.pk]
    assert f"consent:{consent.pk}" in entry.basis_ref
    assert f"Batch/Subscription/{authorization.pk}" in entry.reason and "period" in entry.reason
    authorization.refresh_from_db()
    assert authorization.last_access_at is not None

    # The other ESPI resources, same token.
    for path in (
        f"Subscription/{authorization.pk}/UsagePoint",
        f"Subscription/{authorization.pk}/UsagePoint/account-{chosen.pk}-delivered",
        f"Subscription/{authorization.pk}/UsagePoint/account-{chosen.pk}-delivered/MeterReading/1",
        f"Subscription/{authorization.pk}/UsagePoint/account-{chosen.pk}-delivered/MeterReading/1/IntervalBlock",
        f"Subscription/{authorization.pk}/UsagePoint/account-{chosen.pk}-delivered/MeterReading/1/IntervalBlock/"
        f"{usage_days()[0]:%Y%m%d}",
        f"ReadingType/account-{chosen.pk}-delivered",
        "LocalTimeParameters/1",
        f"Authorization/{authorization.pk}",
        f"ApplicationInformation/{third_party.pk}",
    ):
        response = oauth.get(f"{base}/espi/1_1/resource/{path}")
        assert response.status_code == 200, (path, response.text[:500])
        assert espi_validate(response.content) == [], path

    # published-min/max narrows the pull to one day.
    day = usage_days()[1]
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=timezone.get_current_timezone())
    narrowed = oauth.get(
        f"{base}/espi/1_1/resource/Batch/Subscription/{authorization.pk}",
        params={"published-min": start.isoformat(), "published-max": (start + datetime.timedelta(days=1)).isoformat()},
    )
    assert narrowed.status_code == 200 and narrowed.content.count(b"<espi:IntervalReading>") == 96

    # 6. Refresh: a new access token works, the old refresh token is spent.
    old_refresh = token["refresh_token"]
    refreshed = oauth.refresh_token(f"{base}/oauth/token/", auth=(client_id, secret))
    assert refreshed["access_token"] != token["access_token"]
    assert oauth.get(f"{base}/espi/1_1/resource/Batch/Subscription/{authorization.pk}").status_code == 200
    reuse = requests.post(
        f"{base}/oauth/token/",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh},
        auth=(client_id, secret),
        timeout=30,
    )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"

    # 7. The member ends the authorization in the portal: access stops at once, the record stays.
    apps_page = browser.get(f"{base}/portal/connected-apps/")
    assert "SunCalc Solar" in apps_page.text and "End access" in apps_page.text
    ended = browser.post(
        f"{base}/portal/connected-apps/{authorization.pk}/end/",
        data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        headers={"Referer": f"{base}/portal/connected-apps/"},
        allow_redirects=False,
    )
    assert ended.status_code == 302
    authorization.refresh_from_db()
    consent.refresh_from_db()
    assert authorization.ended_at is not None and consent.revoked_at is not None

    # 8. The pull after revocation: refused with the OAuth error, nothing released, the refusal logged.
    released_before = DisclosureLogEntry.objects.filter(outcome="released").count()
    refused = oauth.get(f"{base}/espi/1_1/resource/Batch/Subscription/{authorization.pk}")
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["WWW-Authenticate"]
    assert b"IntervalReading" not in refused.content
    assert DisclosureLogEntry.objects.filter(outcome="released").count() == released_before
    refusal = DisclosureLogEntry.objects.order_by("-seq").first()
    assert refusal.outcome == "refused" and refusal.member_ids == [member.pk] and "withdrawn" in refusal.reason
    dead_refresh = requests.post(
        f"{base}/oauth/token/",
        data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]},
        auth=(client_id, secret),
        timeout=30,
    )
    assert dead_refresh.status_code == 400 and dead_refresh.json()["error"] == "invalid_grant"
    assert verify_chain().ok
