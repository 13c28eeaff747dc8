from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members import roles
from members import services as member_services
from members.models import AuditEvent
from portal.models import CorrectionRequest
from portal.services import correction_request_resolve, correction_request_submit
from tests.factories import (
    AccountFactory,
    BillFactory,
    CapitalCreditAllocationFactory,
    MemberFactory,
    PaymentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    member = MemberFactory(legal_name="Alice Example", user=UserFactory(username="alice"))
    account = AccountFactory(member=member)
    BillFactory(account=account)
    PaymentFactory(account=account)
    return member


@pytest.fixture
def bob():
    member = MemberFactory(legal_name="Bob Outsider", user=UserFactory(username="bob"))
    AccountFactory(member=member)
    return member


def test_home_sends_a_member_to_their_portal(client, alice):
    client.force_login(alice.user)
    assert client.get("/")["Location"] == "/portal/"


def test_a_member_sees_their_own_records_masked(client, alice):
    client.force_login(alice.user)
    response = client.get("/portal/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "Alice Example" in body and f"***-**-{alice.ssn_last4}" in body
    assert alice.ssn not in body


def test_a_member_sees_their_own_account_with_bills_and_payments(client, alice):
    client.force_login(alice.user)
    account = alice.accounts.get()
    response = client.get(f"/portal/accounts/{account.account_number}/")
    assert response.status_code == 200
    assert account.bills.get().statement_number in response.content.decode()


def test_charlie_has_no_access_to_alices_account(client, alice, bob):
    client.force_login(bob.user)
    account = alice.accounts.get()
    assert client.get(f"/portal/accounts/{account.account_number}/").status_code == 404


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_list_pages_cost_the_same_queries_however_many_rows_they_show(client, alice):
    client.force_login(alice.user)
    account = alice.accounts.get()
    home, statements = _queries(client, "/portal/"), _queries(client, f"/portal/accounts/{account.account_number}/")
    for year in range(2019, 2025):
        AccountFactory(member=alice)
        CapitalCreditAllocationFactory(member=alice, year=year)
        BillFactory(account=account)
        PaymentFactory(account=account)
    CorrectionRequest.objects.create(member=alice, topic="billing", requested_correction="x", submitted_by=alice.user)
    assert _queries(client, "/portal/") == home <= 12
    assert _queries(client, f"/portal/accounts/{account.account_number}/") == statements <= 12


def test_anonymous_visitors_are_sent_to_sign_in(client, alice):
    for url in (
        "/portal/",
        "/portal/contact/",
        "/portal/corrections/new/",
        f"/portal/accounts/{alice.accounts.get().account_number}/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/auth/login/" in response["Location"], url


def test_staff_without_a_member_record_get_no_portal(client, make_user):
    client.force_login(make_user("csr", role=roles.CSR))
    assert client.get("/portal/").status_code == 404


def test_a_member_updates_their_phone_through_the_registry_service(client, alice):
    client.force_login(alice.user)
    data = {
        "mailing_line1": alice.mailing_line1,
        "mailing_line2": "",
        "mailing_city": alice.mailing_city,
        "mailing_state": alice.mailing_state,
        "mailing_postal_code": alice.mailing_postal_code,
        "phone": "(217) 555-0199",
        "email": alice.email,
    }
    response = client.post("/portal/contact/", data)
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.phone == "+12175550199"
    assert AuditEvent.objects.filter(action="member.phone_changed", object_id=str(alice.pk), actor=alice.user).exists()


def test_a_bad_contact_update_changes_nothing(client, alice):
    client.force_login(alice.user)
    before = (alice.phone, alice.mailing_line1)
    data = {
        "mailing_line1": "9 New Rd",
        "mailing_line2": "",
        "mailing_city": "Springfield",
        "mailing_state": "IL",
        "mailing_postal_code": "62701",
        "phone": "not a phone",
        "email": alice.email,
    }
    response = client.post("/portal/contact/", data)
    assert response.status_code == 200 and b"phone" in response.content.lower()
    alice.refresh_from_db()
    assert (alice.phone, alice.mailing_line1) == before


def test_a_member_asks_for_a_correction_and_staff_resolve_it(client, alice, make_user):
    client.force_login(alice.user)
    response = client.post(
        "/portal/corrections/new/",
        {"topic": "legal_name", "requested_correction": "Alice B. Example", "explanation": "marriage"},
    )
    assert response.status_code == 302
    request = CorrectionRequest.objects.get(member=alice)
    assert request.status == CorrectionRequest.Status.RECEIVED
    assert AuditEvent.objects.filter(action="member.correction_requested", object_id=str(request.pk)).exists()
    csr = make_user("csr", role=roles.CSR)
    member_services.member_change_name(actor=csr, member=alice, legal_name="Alice B. Example")
    change = AuditEvent.objects.get(action="member.name_changed", object_id=str(alice.pk))
    correction_request_resolve(
        actor=csr,
        request=request,
        status=CorrectionRequest.Status.CORRECTED,
        note="Name updated per certificate.",
        settled_by=change,
    )
    assert client.get("/portal/").content.decode().count("Name updated per certificate.") == 1


def test_a_correction_request_without_content_is_refused(client, alice):
    client.force_login(alice.user)
    response = client.post("/portal/corrections/new/", {"topic": "legal_name", "requested_correction": " "})
    assert response.status_code == 200
    assert not CorrectionRequest.objects.exists()


def test_correction_requests_are_submitted_and_resolved_only_by_a_signed_in_person(alice):
    for nobody in (None, AnonymousUser()):
        with pytest.raises(PermissionDenied):
            correction_request_submit(actor=nobody, member=alice, topic="legal_name", requested_correction="A. Example")
    assert not CorrectionRequest.objects.exists()
    request = correction_request_submit(
        actor=alice.user, member=alice, topic="legal_name", requested_correction="A. Example"
    )
    with pytest.raises(PermissionDenied):
        correction_request_resolve(actor=None, request=request, status="corrected", note="done")
    request.refresh_from_db()
    assert request.status == CorrectionRequest.Status.RECEIVED and request.resolved_by is None
    assert not AuditEvent.objects.filter(action="member.correction_resolved").exists()


class TestCorrectionAdmin:
    def _request(self, alice):
        return CorrectionRequest.objects.create(
            member=alice, topic="billing", requested_correction="x", submitted_by=alice.user
        )

    def test_a_csr_resolves_a_request_with_a_note(self, client, alice, make_user):
        request = self._request(alice)
        client.force_login(make_user("csr", role=roles.CSR))
        response = client.post(
            f"/admin/portal/correctionrequest/{request.pk}/change/",
            {"step": "declined", "resolution_note": "Bill is correct."},
        )
        assert response.status_code == 302
        request.refresh_from_db()
        assert request.status == "declined"
        assert AuditEvent.objects.filter(action="member.correction_resolved").exists()

    def test_resolving_without_a_note_is_refused(self, client, alice, make_user):
        request = self._request(alice)
        client.force_login(make_user("csr", role=roles.CSR))
        response = client.post(
            f"/admin/portal/correctionrequest/{request.pk}/change/", {"step": "declined", "resolution_note": ""}
        )
        assert response.status_code == 200
        request.refresh_from_db()
        assert request.status == "received"

    def test_an_auditor_can_read_but_not_resolve(self, client, alice, make_user):
        request = self._request(alice)
        client.force_login(make_user("aud", role=roles.AUDITOR))
        assert client.get("/admin/portal/correctionrequest/").status_code == 200
        client.post(
            f"/admin/portal/correctionrequest/{request.pk}/change/", {"step": "declined", "resolution_note": "x"}
        )
        request.refresh_from_db()
        assert request.status == "received"

    def test_a_red_flag_analyst_cannot_see_correction_requests(self, client, alice, make_user):
        self._request(alice)
        client.force_login(make_user("an", role=roles.RED_FLAG_ANALYST))
        assert client.get("/admin/portal/correctionrequest/").status_code == 403


class TestUsage:
    @pytest.fixture
    def metered(self, alice):
        import datetime as dt

        from accounts.usage.services import usage_ingest_file
        from tests.factories import MeterFactory
        from tests.usage.conftest import csv_bytes, day_lines

        account = alice.accounts.get()
        account.opened_at = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        account.save(update_fields=["opened_at"])
        meter = MeterFactory(premise=account.premise, meter_number="MTR-P-0001")
        lines = []
        for day in (dt.date(2025, 6, 10), dt.date(2025, 6, 11)):
            lines += day_lines(meter.meter_number, day, [250] * 96)
        usage_ingest_file(data=csv_bytes(lines), source="test", filename="portal.csv")
        return account

    def test_a_member_sees_their_usage_by_day_for_a_month(self, client, alice, metered):
        client.force_login(alice.user)
        response = client.get(f"/portal/accounts/{metered.account_number}/usage/?period=month&day=2025-06-01")
        body = response.content.decode()
        assert response.status_code == 200
        assert "48 kWh" in body  # 2 days x 96 intervals x 250 Wh
        assert "Tue Jun 10" in body

    def test_the_member_can_download_their_own_readings_from_the_usage_page(self, client, alice, metered):
        client.force_login(alice.user)
        page = client.get(
            f"/portal/accounts/{metered.account_number}/usage/?period=month&day=2025-06-01"
        ).content.decode()
        link = f"/api/usage/accounts/{metered.pk}/intervals.csv?first_day=2025-06-01&amp;last_day=2025-06-30"
        assert link in page
        response = client.get(link.replace("&amp;", "&"))
        assert response.status_code == 200
        assert len(b"".join(response.streaming_content).splitlines()) == 1 + 2 * 96

    def test_the_member_can_download_green_button_xml_from_the_usage_page(self, client, alice, metered):
        from accounts.usage.espi import espi_validate

        client.force_login(alice.user)
        page = client.get(
            f"/portal/accounts/{metered.account_number}/usage/?period=month&day=2025-06-01"
        ).content.decode()
        link = f"/api/usage/accounts/{metered.pk}/greenbutton.xml?first_day=2025-06-01&amp;last_day=2025-06-30"
        assert link in page
        response = client.get(link.replace("&amp;", "&"))
        document = b"".join(response.streaming_content)
        assert response.status_code == 200 and espi_validate(document) == []
        assert document.count(b"<espi:IntervalReading>") == 2 * 96

    def test_a_member_sees_a_year_by_month(self, client, alice, metered):
        client.force_login(alice.user)
        response = client.get(f"/portal/accounts/{metered.account_number}/usage/?period=year&day=2025-06-01")
        assert response.status_code == 200 and "June 2025" in response.content.decode()

    def test_another_member_cannot_see_alices_usage(self, client, alice, bob, metered):
        client.force_login(bob.user)
        assert client.get(f"/portal/accounts/{metered.account_number}/usage/").status_code == 404

    def test_anonymous_cannot_see_usage(self, client, metered):
        assert client.get(f"/portal/accounts/{metered.account_number}/usage/").status_code == 302


class TestSharingMyData:
    @pytest.fixture
    def partner(self, make_user):
        from disclosures.models import Recipient
        from disclosures.services import recipient_create

        return recipient_create(
            actor=make_user("po", role=roles.PRIVACY_OFFICER),
            name="HomeWarm Offers",
            kind=Recipient.Kind.NON_AFFILIATED,
        )

    def test_a_member_gives_written_consent_in_the_portal(self, client, alice, partner):
        from disclosures.models import Consent

        client.force_login(alice.user)
        response = client.post(
            "/portal/privacy/", {"recipient": partner.pk, "categories": ["A3_usage"], "purpose": "energy_services"}
        )
        assert response.status_code == 302
        consent = Consent.objects.get(member=alice)
        assert (consent.channel, consent.categories, consent.recorded_by) == ("portal", ["A3_usage"], alice.user)
        assert AuditEvent.objects.filter(action="consent.granted", object_id=str(consent.pk)).exists()

    def test_imaging_and_recordings_cannot_be_chosen(self, client, alice, partner):
        client.force_login(alice.user)
        response = client.post(
            "/portal/privacy/", {"recipient": partner.pk, "categories": ["A8_recordings"], "purpose": "energy_services"}
        )
        assert response.status_code == 200
        assert not alice.consents.exists()

    def test_a_member_withdraws_consent_and_the_record_is_kept(self, client, alice, partner):
        client.force_login(alice.user)
        client.post("/portal/privacy/", {"recipient": partner.pk, "categories": ["A1_contact"], "purpose": "marketing"})
        consent = alice.consents.get()
        response = client.post(f"/portal/privacy/consents/{consent.pk}/revoke/")
        assert response.status_code == 302
        consent.refresh_from_db()
        assert consent.revoked_at is not None and consent.revoked_by == alice.user
        assert "withdrawn" in client.get("/portal/privacy/").content.decode()

    def test_a_member_cannot_withdraw_another_members_consent(self, client, alice, bob, partner):
        client.force_login(alice.user)
        client.post("/portal/privacy/", {"recipient": partner.pk, "categories": ["A1_contact"], "purpose": "marketing"})
        consent = alice.consents.get()
        client.force_login(bob.user)
        assert client.post(f"/portal/privacy/consents/{consent.pk}/revoke/").status_code == 404
        consent.refresh_from_db()
        assert consent.revoked_at is None

    def test_revoking_needs_a_post(self, client, alice):
        client.force_login(alice.user)
        assert client.get("/portal/privacy/consents/1/revoke/").status_code == 405

    def test_anonymous_and_staff_have_no_privacy_page(self, client, make_user):
        assert client.get("/portal/privacy/").status_code == 302
        client.force_login(make_user("csr", role=roles.CSR))
        assert client.get("/portal/privacy/").status_code == 404
