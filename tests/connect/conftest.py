"""Fixtures for Connect My Data: an approved third party, a member with two accounts and recent 15-minute
usage, and helpers that play the member's browser through the authorization screen."""

from __future__ import annotations

import base64
import datetime
import hashlib
import re
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.utils import timezone

from connect import services
from connect.models import ThirdParty
from connect.scopes import ESPI_USAGE
from disclosures.models import DataCategory
from members import roles
from tests.factories import MemberFactory, MeterFactory, OpenAccountFactory, UserFactory

REDIRECT = "http://127.0.0.1:8765/callback"


@pytest.fixture
def privacy_officer(make_user):
    return make_user("privacy-cmd", role=roles.PRIVACY_OFFICER)


def apply(name="SunCalc Solar", redirect=REDIRECT, **extra) -> ThirdParty:
    data = {
        "actor": None,
        "name": name,
        "contact_name": "Dana Developer",
        "contact_email": "dana@suncalc.example",
        "purpose": "Sizing rooftop solar from your past year of use",
        "redirect_uris": redirect,
        "categories": [DataCategory.USAGE],
        **extra,
    }
    return services.third_party_apply(**data)


@dataclass
class Client:
    third_party: ThirdParty
    client_id: str
    secret: str


@pytest.fixture
def approved(privacy_officer):
    def _make(name="SunCalc Solar", redirect=REDIRECT) -> Client:
        third_party, secret = services.third_party_approve(
            actor=privacy_officer,
            third_party=apply(name=name, redirect=redirect),
            agreement_reference=f"CMD-{name[:6]}",
            agreement_expires_on=timezone.localdate() + datetime.timedelta(days=730),
        )
        return Client(third_party, third_party.application.client_id, secret)

    return _make


def usage_days() -> list[datetime.date]:
    today = timezone.localdate()
    return [today - datetime.timedelta(days=3), today - datetime.timedelta(days=2)]


@pytest.fixture
def member_with_usage(db):
    from accounts.usage.services import usage_ingest_file, usage_partitions_ensure
    from tests.usage.conftest import csv_bytes, day_lines

    usage_partitions_ensure(today=timezone.localdate() - datetime.timedelta(days=40))
    member = MemberFactory(user=UserFactory(username="member-cmd"))
    accounts = []
    lines = []
    for number in range(2):
        meter = MeterFactory(meter_number=f"MTR-CMD-{number}")
        accounts.append(
            OpenAccountFactory(
                member=member,
                premise=meter.premise,
                opened_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
            )
        )
        for day in usage_days():
            lines += day_lines(meter.meter_number, day)
    batch = usage_ingest_file(data=csv_bytes(lines), source="test", filename="cmd.csv")
    assert batch.status == "loaded", batch.bad_rows
    return member, accounts


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_query(client_id: str, challenge: str | None, *, scope=ESPI_USAGE, redirect=REDIRECT, state="s1"):
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect, "scope": scope, "state": state}
    if challenge:
        query.update({"code_challenge": challenge, "code_challenge_method": "S256"})
    return "/oauth/authorize/?" + urlencode(query)


HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def form_fields(html: str) -> dict:
    import html as html_lib

    return {name: html_lib.unescape(value) for name, value in HIDDEN.findall(html)}


def member_allows(client, url: str, *, accounts: list[str], data_from=None, ends_on=None, categories=None):
    """The member's browser: open the consent screen, choose, allow. Returns the POST response."""
    page = client.get(url)
    assert page.status_code == 200, page.content.decode()[:2000]
    fields = form_fields(page.content.decode())
    today = timezone.localdate()
    fields.update(
        {
            "accounts": accounts,
            "categories": categories or [DataCategory.USAGE],
            "data_from": (data_from or today - datetime.timedelta(days=30)).isoformat(),
            "ends_on": (ends_on or today + datetime.timedelta(days=180)).isoformat(),
            "allow": "on",
        }
    )
    return client.post(url, fields)


def code_from(response) -> str:
    location = response["Location"]
    query = parse_qs(urlsplit(location).query)
    assert "code" in query, location
    return query["code"][0]
