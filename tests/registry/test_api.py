from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import Account, Payment
from members import roles
from members.models import AuditEvent, Member
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


def _as(api, user):
    api.force_authenticate(user)
    return api


def test_anonymous_callers_get_nothing(api):
    for url in ("/api/members/", "/api/accounts/", "/api/premises/", "/api/bills/", "/api/payments/"):
        assert api.get(url).status_code in (401, 403)


def test_a_member_portal_login_cannot_use_the_staff_api(api, make_user):
    member = factories.MemberFactory(user=make_user("member-mia"))
    _as(api, member.user)
    for url in (
        "/api/members/",
        f"/api/members/{member.pk}/",
        "/api/accounts/",
        "/api/premises/",
        "/api/bills/",
        "/api/payments/",
    ):
        assert api.get(url).status_code == 403


def test_token_authentication_lists_masked_members_and_logs_the_list(api, csr, django_assert_max_num_queries):
    members = factories.MemberFactory.create_batch(5)
    token = Token.objects.create(user=csr)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    with django_assert_max_num_queries(12):
        response = api.get("/api/members/")
    assert response.status_code == 200
    body = response.content.decode()
    assert members[0].ssn not in body and members[0].drivers_licence_number not in body
    row = next(r for r in response.json()["results"] if r["id"] == members[0].pk)
    assert row["tax_id"] == f"***-**-{members[0].ssn_last4}"
    assert row["date_of_birth"] == "**/**/****"
    assert AuditEvent.objects.filter(action="access.list_members", actor=csr).exists()


def test_reading_a_member_is_logged(api, csr):
    member = factories.MemberFactory()
    assert _as(api, csr).get(f"/api/members/{member.pk}/").status_code == 200
    assert AuditEvent.objects.filter(
        action="access.view_member", object_id=str(member.pk), detail__channel="api"
    ).exists()


def test_creating_a_member_through_the_api_validates_and_saves_nothing_on_error(api, csr, billing_clerk):
    payload = {
        "legal_name": "Kim Oduya",
        "ssn": "000-12-3456",
        "phone": "nope",
        "mailing_line1": "1 Oak St",
        "mailing_city": "Decatur",
        "mailing_state": "IL",
        "mailing_postal_code": "62521",
    }
    assert _as(api, billing_clerk).post("/api/members/", payload, format="json").status_code == 403
    response = _as(api, csr).post("/api/members/", payload, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"ssn", "phone"}
    assert not Member.objects.exists()
    payload.update(ssn="123-45-6789", phone="217 555 0100")
    response = api.post("/api/members/", payload, format="json")
    assert response.status_code == 201
    assert response.json()["tax_id"] == "***-**-6789"


def test_changing_contact_details_through_the_api_uses_the_services(api, csr):
    member = factories.MemberFactory()
    response = _as(api, csr).patch(
        f"/api/members/{member.pk}/", {"phone": "+1 309 555 0177", "mailing_city": "Peoria"}, format="json"
    )
    assert response.status_code == 200
    assert AuditEvent.objects.filter(action="member.phone_changed", object_id=str(member.pk)).exists()
    assert AuditEvent.objects.filter(action="member.address_changed", object_id=str(member.pk)).exists()
    bad = api.patch(f"/api/members/{member.pk}/", {"phone": "555", "mailing_city": "Springfield"}, format="json")
    assert bad.status_code == 400
    assert Member.objects.get(pk=member.pk).mailing_city == "Peoria"


def test_reveal_through_the_api_needs_the_permission_and_a_reason(api, csr, analyst):
    member = factories.MemberFactory()
    url = f"/api/members/{member.pk}/reveal/"
    assert (
        _as(api, csr).post(url, {"field_name": "ssn", "reason": "caller wants to know"}, format="json").status_code
        == 403
    )
    assert _as(api, analyst).post(url, {"field_name": "ssn", "reason": "short"}, format="json").status_code == 400
    response = api.post(url, {"field_name": "ssn", "reason": "Verifying identity for a held opening"}, format="json")
    assert response.status_code == 200
    assert response.json()["value"] == member.ssn
    assert AuditEvent.objects.filter(action="access.reveal", detail__channel="api").exists()


def test_accounts_open_and_close_through_the_api(api, csr, billing_clerk):
    member, premise = factories.MemberFactory(), factories.PremiseFactory()
    assert (
        _as(api, billing_clerk)
        .post("/api/accounts/", {"member": member.pk, "premise": premise.pk}, format="json")
        .status_code
        == 403
    )
    response = _as(api, csr).post(
        "/api/accounts/",
        {"member": member.pk, "premise": premise.pk, "checklist": factories.VERIFIED_CHECKLIST},
        format="json",
    )
    assert response.status_code == 201 and response.json()["status"] == "open"
    account_id = response.json()["id"]
    assert api.post(f"/api/accounts/{account_id}/close/", {"reason": "moved out"}, format="json").status_code == 200
    assert Account.objects.get(pk=account_id).status == "closed"
    assert api.get(f"/api/accounts/?member={member.pk}").json()["count"] == 1


def test_payments_and_bills_through_the_api(api, billing_clerk, csr):
    account = factories.OpenAccountFactory()
    response = _as(api, billing_clerk).post(
        "/api/payments/", {"account": account.pk, "amount": "45.10", "method": "card"}, format="json"
    )
    assert response.status_code == 201
    assert (
        _as(api, csr)
        .post("/api/payments/", {"account": account.pk, "amount": "1", "method": "card"}, format="json")
        .status_code
        == 403
    )
    assert Payment.objects.filter(account=account).count() == 1
    bad = _as(api, billing_clerk).post(
        "/api/bills/",
        {
            "account": account.pk,
            "statement_number": "S-9",
            "period_start": "2026-09-30",
            "period_end": "2026-09-01",
            "issued_on": "2026-10-01",
            "due_on": "2026-10-21",
            "amount_due": "10.00",
        },
        format="json",
    )
    assert bad.status_code == 400 and "period_end" in bad.json()


def test_gate_codes_reach_field_services_only(api, csr, field_worker):
    premise = factories.PremiseFactory(gate_code="4417#", meter_reading_notes="Dog in the yard", dog_warning=True)
    office = _as(api, csr).get(f"/api/premises/{premise.pk}/").json()
    assert "gate_code" not in office and "dog_warning" not in office
    field = _as(api, field_worker).get(f"/api/premises/{premise.pk}/").json()
    assert field["gate_code"] == "4417#" and field["dog_warning"] is True


def test_roles_without_registry_access_are_refused(api, make_user):
    pat = make_user("programadmin-pat", role=roles.PROGRAM_ADMINISTRATOR)
    _as(api, pat)
    assert api.get("/api/premises/").status_code == 403
    assert api.get("/api/payments/").status_code == 403


def test_the_openapi_schema_lists_the_registry_endpoints(api, csr):
    response = _as(api, csr).get("/api/schema/")
    assert response.status_code == 200
    body = response.content.decode()
    for path in ("/api/members/", "/api/accounts/", "/api/premises/", "/api/bills/", "/api/payments/"):
        assert path in body
