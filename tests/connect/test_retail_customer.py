"""Connect My Data's RetailCustomer resources (ESPI's customer namespace): the member's name, mailing
address, phone and e-mail, and of the accounts the member chose their number, agreement and service
address, behind their own scope, schema-valid, one logged release per pull, and never an SSN, a date of
birth or a premise's gate code. Denials: anonymous, a withdrawn token, a usage-only token (wrong scope),
another client's subscription, an account the member did not choose."""

from __future__ import annotations

import pytest

from accounts.models import Premise
from accounts.usage.espi_customer import espi_customer_validate
from connect import services
from connect.models import Authorization
from connect.scopes import ESPI_USAGE, RETAIL_CUSTOMER
from disclosures.models import DataCategory, DisclosureLogEntry
from tests.connect.conftest import REDIRECT, Client, apply, authorize_query, code_from, member_allows, pkce_pair
from tests.connect.test_refusals import _basic, _last_refusal, _pull, _released

pytestmark = pytest.mark.django_db

BOTH = [DataCategory.USAGE, DataCategory.CONTACT]


@pytest.fixture
def contact_app(privacy_officer):
    from django.utils import timezone

    third_party, secret = services.third_party_approve(
        actor=privacy_officer,
        third_party=apply(name="HomeEnergy Coach", categories=BOTH),
        agreement_reference="CMD-RC-1",
        agreement_expires_on=timezone.localdate().replace(year=timezone.localdate().year + 2),
    )
    return Client(third_party, third_party.application.client_id, secret)


def _grant(client, app, member, accounts, *, categories, scope):
    """The member authorizes ``app`` for ``categories`` (asked for as ``scope``); the app swaps the code."""
    verifier, challenge = pkce_pair()
    client.force_login(member.user)
    allowed = member_allows(
        client,
        authorize_query(app.client_id, challenge, scope=scope),
        accounts=[account.account_number for account in accounts],
        categories=categories,
    )
    assert allowed.status_code == 302, allowed.content.decode()[:2000]
    exchanged = client.post(
        "/oauth/token/",
        {
            "grant_type": "authorization_code",
            "code": code_from(allowed),
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        HTTP_AUTHORIZATION=_basic(app.client_id, app.secret),
    )
    assert exchanged.status_code == 200, exchanged.content
    client.logout()
    authorization = Authorization.objects.get(member=member, third_party=app.third_party, ended_at__isnull=True)
    return authorization, exchanged.json()


@pytest.fixture
def customer_grant(client, contact_app, member_with_usage):
    member, accounts = member_with_usage
    Premise.objects.filter(pk=accounts[0].premise_id).update(gate_code="4321", dog_warning=True)
    authorization, tokens = _grant(
        client, contact_app, member, [accounts[0]], categories=BOTH, scope=f"{ESPI_USAGE} {RETAIL_CUSTOMER}"
    )
    return member, accounts, authorization, tokens


def test_the_retail_customer_feed_is_valid_and_holds_only_what_the_member_authorized(client, customer_grant):
    member, accounts, authorization, tokens = customer_grant
    before = _released()
    response = _pull(client, tokens["access_token"], f"Batch/RetailCustomer/{authorization.pk}")
    assert response.status_code == 200 and response["Content-Type"] == "application/atom+xml"
    body = b"".join(response.streaming_content)
    assert espi_customer_validate(body) == []
    text = body.decode()
    for kind in ("Customer", "CustomerAccount", "CustomerAgreement", "ServiceLocation"):
        assert f"<cust:{kind}>" in text
    assert member.legal_name in text and member.email in text and member.mailing_line1 in text
    assert accounts[0].account_number in text and accounts[0].premise.service_line1 in text
    # Not the account the member left out, nor anything outside the contact category.
    assert accounts[1].account_number not in text and accounts[1].premise.service_line1 not in text
    assert member.ssn not in text and "ssn" not in text.lower() and str(member.date_of_birth) not in text
    assert "birth" not in text.lower() and "06/01/1970" not in text
    assert "4321" not in text and "dog" not in text.lower() and "<espi:IntervalReading>" not in text
    entry = DisclosureLogEntry.objects.order_by("-seq").first()
    assert _released() == before + 1 and entry.outcome == "released"
    assert entry.categories == [DataCategory.CONTACT] and entry.member_ids == [member.pk]
    assert entry.basis_ref == f"consent:{authorization.consent_id}" and "Batch/RetailCustomer" in entry.reason
    assert "email" in entry.fields and "service_line1" in entry.fields
    assert not {"ssn", "date_of_birth", "gate_code", "tin"} & set(entry.fields)


def test_each_customer_resource_answers_alone_and_valid(client, customer_grant):
    _, accounts, authorization, tokens = customer_grant
    key = accounts[0].pk
    base = f"RetailCustomer/{authorization.pk}/Customer/1"
    for path, kind in (
        (base, "Customer"),
        (f"{base}/CustomerAccount/{key}", "CustomerAccount"),
        (f"{base}/CustomerAccount/{key}/CustomerAgreement/{key}", "CustomerAgreement"),
        (f"{base}/CustomerAccount/{key}/CustomerAgreement/{key}/ServiceLocation/{key}", "ServiceLocation"),
    ):
        response = _pull(client, tokens["access_token"], path)
        body = b"".join(response.streaming_content)
        assert response.status_code == 200, path
        assert espi_customer_validate(body) == [] and body.count(b"<entry") == 1 and f"<cust:{kind}>".encode() in body


def test_an_account_the_member_did_not_choose_is_refused_and_logged(client, customer_grant):
    _, accounts, authorization, tokens = customer_grant
    before = _released()
    path = f"RetailCustomer/{authorization.pk}/Customer/1/CustomerAccount/{accounts[1].pk}"
    response = _pull(client, tokens["access_token"], path)
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    refusal = _last_refusal()
    assert refusal.categories == [DataCategory.CONTACT] and "not part of this authorization" in refusal.reason
    assert _released() == before


def test_anonymous_and_withdrawn_tokens_get_bearer_errors(client, customer_grant):
    member, _, authorization, tokens = customer_grant
    before = _released()
    anonymous = client.get(f"/espi/1_1/resource/Batch/RetailCustomer/{authorization.pk}")
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_request"
    services.authorization_revoke(actor=member.user, authorization=authorization)
    revoked = _pull(client, tokens["access_token"], f"Batch/RetailCustomer/{authorization.pk}")
    assert revoked.status_code == 401 and 'error="invalid_token"' in revoked["WWW-Authenticate"]
    assert "withdrawn" in _last_refusal().reason and _released() == before


def test_a_usage_only_authorization_is_insufficient_scope(client, contact_app, member_with_usage):
    member, accounts = member_with_usage
    authorization, tokens = _grant(
        client, contact_app, member, [accounts[0]], categories=[DataCategory.USAGE], scope=ESPI_USAGE
    )
    before = _released()
    response = _pull(client, tokens["access_token"], f"Batch/RetailCustomer/{authorization.pk}")
    assert response.status_code == 403 and response.json()["error"] == "insufficient_scope"
    assert _last_refusal().categories == [DataCategory.CONTACT] and _released() == before
    # The usage resources still answer that token.
    assert _pull(client, tokens["access_token"], f"Batch/Subscription/{authorization.pk}").status_code == 200


def test_another_clients_subscription_is_forbidden(client, customer_grant, approved):
    member, accounts, _, tokens = customer_grant
    other_app = approved()  # another third party the same member authorized for usage
    other, _ = _grant(client, other_app, member, [accounts[1]], categories=[DataCategory.USAGE], scope=ESPI_USAGE)
    before = _released()
    response = _pull(client, tokens["access_token"], f"Batch/RetailCustomer/{other.pk}")
    assert response.status_code == 403 and response.json()["error"] == "forbidden"
    assert _last_refusal().categories == [DataCategory.CONTACT] and _released() == before


def test_the_schema_check_is_strict():
    """The validator used above would catch a stray element (an SSN the writer must never write)."""
    from datetime import UTC, datetime

    from accounts.usage.espi_customer import CustomerView, render_espi_customer

    view = CustomerView(subscription="1", self_href="https://coop.example/x")
    good = b"".join(
        render_espi_customer(
            member={"legal_name": "A"}, accounts=[], base_url="https://coop.example", now=datetime.now(UTC), view=view
        )
    )
    assert espi_customer_validate(good) == []
    bad = good.replace(b"<cust:kind>", b"<cust:ssn>123456789</cust:ssn><cust:kind>")
    assert espi_customer_validate(bad)
