"""Auditor pages and API, the member API, the staff admin: who may see what (and who may not)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from disclosures import services
from disclosures.models import Consent, DisclosureLogEntry, Purpose, Recipient
from disclosures.models import DataCategory as C
from members.models import AuditEvent
from tests.disclosures.conftest import written_consent
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

AUDITOR_PAGES = [
    "/audit/",
    "/audit/disclosures/",
    "/audit/refused/",
    "/audit/consents/",
    "/audit/access-log/",
    "/audit/chain/",
]
AUDITOR_API = [
    "/api/audit/disclosures/",
    "/api/audit/refused/",
    "/api/audit/consents/",
    "/api/audit/access-log/",
    "/api/audit/chain/",
]
MEMBER_API = ["/api/me/consents/", "/api/me/disclosures/", "/api/me/recipients/"]


@pytest.fixture
def history(csr, privacy_officer, members, partner, contractor_basis, contractor):
    """A release and a refusal on the log, consents in every state."""
    for member in members:
        written_consent(csr, member, partner)
    services.consent_revoke(actor=csr, consent=Consent.objects.filter(member=members[2]).get(), channel="phone")
    services.disclosure_export(
        actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
    ).read_all()
    with pytest.raises(services.DisclosureRefused):
        services.disclosure_export(
            actor=privacy_officer,
            recipient=contractor,
            categories=[C.BILLING],
            purpose=Purpose.BILLING,
            basis=contractor_basis,
            member_ids=[members[0].pk],
        )


# --- Auditor pages and API ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", AUDITOR_PAGES)
def test_auditor_pages_send_anonymous_visitors_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302 and "/auth/login/" in response["Location"]


@pytest.mark.parametrize("url", AUDITOR_PAGES)
def test_auditor_pages_refuse_a_csr(client, csr, url):
    client.force_login(csr)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", AUDITOR_PAGES)
def test_auditor_pages_refuse_a_member(client, member_with_login, url):
    client.force_login(member_with_login.user)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", AUDITOR_PAGES)
def test_auditor_pages_show_to_an_auditor_without_identifiers(client, auditor, history, members, url):
    client.force_login(auditor)
    response = client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    for member in members:
        assert member.ssn not in body and member.ssn[:3] + "-" + member.ssn[3:5] not in body
        assert member.legal_name not in body


def test_the_log_page_lists_releases_and_refusals_with_filters(client, auditor, history, partner):
    client.force_login(auditor)
    body = client.get("/audit/disclosures/").content.decode()
    assert "<td>HomeWarm Offers</td>" in body and "<td>Refused</td>" in body
    filtered = client.get("/audit/disclosures/", {"outcome": "refused"}).content.decode()
    assert "<td>HomeWarm Offers</td>" not in filtered and "<td>Prairie Billing</td>" in filtered
    by_recipient = client.get("/audit/disclosures/", {"recipient": partner.pk}).content.decode()
    assert "<td>Prairie Billing</td>" not in by_recipient and "<td>HomeWarm Offers</td>" in by_recipient


def test_the_refused_page_shows_the_reason(client, auditor, history):
    client.force_login(auditor)
    assert "does not cover" in client.get("/audit/refused/").content.decode()


def test_the_consents_page_filters_by_status(client, auditor, history):
    client.force_login(auditor)
    body = client.get("/audit/consents/", {"status": "revoked"}).content.decode()
    assert body.count("<td>revoked</td>") == 1


def test_the_access_log_page_lists_access_events_only(client, auditor, members):
    from django.db import transaction

    from members.audit import audit_record

    with transaction.atomic():
        audit_record(actor=None, actor_label="csr-9", action="access.view_member", obj=members[0], fields=["ssn_last4"])
        audit_record(actor=None, actor_label="csr-9", action="member.updated", obj=members[0], fields=["phone"])
    client.force_login(auditor)
    body = client.get("/audit/access-log/").content.decode()
    assert "access.view_member" in body and "member.updated" not in body


def test_the_chain_page_reports_an_intact_and_a_broken_chain(client, auditor, history):
    from tests.db_owner import tamper

    client.force_login(auditor)
    assert "Intact" in client.get("/audit/chain/").content.decode()
    # A database administrator (the owner) bypassing the append-only trigger; the runtime role cannot.
    tamper("DELETE FROM disclosures_disclosurelogentry WHERE seq = 1")
    body = client.get("/audit/chain/").content.decode()
    assert "BROKEN" in body


def test_a_csv_download_is_itself_logged(client, auditor, history):
    client.force_login(auditor)
    before = DisclosureLogEntry.objects.count()
    response = client.get("/audit/disclosures/", {"export": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    content = b"".join(response.streaming_content).decode()
    assert content.startswith(f"seq,at ({settings.TIME_ZONE}),actor")
    entry = DisclosureLogEntry.objects.order_by("-seq").first()
    assert (
        DisclosureLogEntry.objects.count() == before + 1
        and entry.basis_kind == "audit_review"
        and entry.actor_label == auditor.username
    )
    assert AuditEvent.objects.filter(action="audit.export", actor=auditor).exists()


def test_a_csr_cannot_download_the_log(client, csr, history):
    client.force_login(csr)
    assert client.get("/audit/disclosures/", {"export": "csv"}).status_code == 403


def test_the_log_page_does_not_query_per_row(client, auditor, history, django_assert_max_num_queries):
    client.force_login(auditor)
    with django_assert_max_num_queries(12):
        client.get("/audit/disclosures/")
    with django_assert_max_num_queries(12):
        client.get("/audit/consents/")


@pytest.mark.parametrize("url", AUDITOR_API)
def test_the_auditor_api_refuses_anonymous(client, url):
    assert client.get(url).status_code in (401, 403)


@pytest.mark.parametrize("url", AUDITOR_API)
def test_the_auditor_api_refuses_a_csr_and_a_member(client, csr, member_with_login, url):
    client.force_login(csr)
    assert client.get(url).status_code == 403
    client.force_login(member_with_login.user)
    assert client.get(url).status_code == 403


def test_the_auditor_api_lists_the_log_with_filters(client, auditor, history):
    client.force_login(auditor)
    data = client.get("/api/audit/disclosures/", {"outcome": "released"}).json()
    assert data["count"] == 1 and data["results"][0]["recipient_label"] == "HomeWarm Offers"
    assert "member_ids" not in data["results"][0]
    refused = client.get("/api/audit/refused/").json()
    assert refused["count"] == 1 and "does not cover" in refused["results"][0]["reason"]
    consents = client.get("/api/audit/consents/", {"status": "active"}).json()
    assert consents["count"] == 2
    assert client.get("/api/audit/chain/").json()["ok"] is True


def test_the_auditor_role_has_no_write_permissions(auditor):
    for codename in (
        "add_consent",
        "change_consent",
        "add_recipient",
        "add_legalbasis",
        "release_disclosure",
        "approve_legalbasis",
    ):
        assert not auditor.has_perm(f"disclosures.{codename}")
    assert auditor.has_perm("disclosures.view_disclosurelogentry") and auditor.has_perm("disclosures.view_access_log")


def test_role_permissions(csr, privacy_officer):
    assert csr.has_perm("disclosures.add_consent") and not csr.has_perm("disclosures.view_disclosurelogentry")
    assert not csr.has_perm("disclosures.release_disclosure")
    assert privacy_officer.has_perm("disclosures.add_legalbasis") and privacy_officer.has_perm(
        "disclosures.approve_membershiplistrequest"
    )


# --- Member API ----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", MEMBER_API)
def test_the_member_api_refuses_anonymous(client, url):
    assert client.get(url).status_code in (401, 403)


@pytest.mark.parametrize("url", MEMBER_API)
def test_the_member_api_refuses_a_staff_login_without_a_member(client, csr, url):
    client.force_login(csr)
    assert client.get(url).status_code == 403


def test_a_member_lists_grants_and_revokes_their_consent(client, member_with_login, partner):
    client.force_login(member_with_login.user)
    assert [r["name"] for r in client.get("/api/me/recipients/").json()] == ["HomeWarm Offers"]
    created = client.post(
        "/api/me/consents/",
        {"recipient": partner.pk, "categories": [C.CONTACT], "purpose": Purpose.MARKETING},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    consent = Consent.objects.get(pk=created.json()["id"])
    assert (
        consent.member == member_with_login
        and consent.channel == "portal"
        and consent.recorded_by == member_with_login.user
    )
    assert [c["id"] for c in client.get("/api/me/consents/").json()["results"]] == [consent.pk]
    revoked = client.post(f"/api/me/consents/{consent.pk}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    consent.refresh_from_db()
    assert consent.revoked_by == member_with_login.user and consent.revocation_channel == "portal"


def test_granting_or_withdrawing_consent_through_the_api_needs_a_fresh_check(client, member_with_login, partner):
    """Step-up (issue 13): a session whose password/MFA check is older than STEP_UP_MINUTES may read its
    consents but not change them; nothing is written and the answer says where to re-authenticate."""
    consent = Consent.objects.create(
        member=member_with_login,
        recipient=partner,
        categories=[C.CONTACT],
        purpose=Purpose.MARKETING,
        channel="portal",
    )
    client.force_login(member_with_login.user)
    session = client.session
    for record in session["account_authentication_methods"]:
        record["at"] -= 3600 * 24
    session.save()
    assert client.get("/api/me/consents/").status_code == 200
    granted = client.post(
        "/api/me/consents/",
        {"recipient": partner.pk, "categories": [C.CONTACT], "purpose": Purpose.MARKETING},
        content_type="application/json",
    )
    revoked = client.post(f"/api/me/consents/{consent.pk}/revoke/")
    assert granted.status_code == revoked.status_code == 403
    assert "/auth/reauthenticate/" in revoked.json()["detail"]
    assert Consent.objects.filter(member=member_with_login).count() == 1
    consent.refresh_from_db()
    assert consent.revoked_at is None


def test_a_member_cannot_consent_to_a_contractor_or_with_bad_input(client, member_with_login, contractor, partner):
    client.force_login(member_with_login.user)
    response = client.post(
        "/api/me/consents/",
        {"recipient": contractor.pk, "categories": [C.CONTACT], "purpose": Purpose.MARKETING},
        content_type="application/json",
    )
    assert response.status_code == 400
    response = client.post(
        "/api/me/consents/",
        {"recipient": partner.pk, "categories": [C.IMAGING], "purpose": Purpose.MARKETING},
        content_type="application/json",
    )
    assert response.status_code == 400
    response = client.post(
        "/api/me/consents/",
        {"recipient": partner.pk, "categories": [C.CONTACT], "purpose": Purpose.BILLING},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert not Consent.objects.exists()


def test_a_member_cannot_see_or_revoke_another_members_consent(client, member_with_login, csr, partner):
    other = MemberFactory()
    consent = written_consent(csr, other, partner)
    client.force_login(member_with_login.user)
    assert client.get("/api/me/consents/").json()["results"] == []
    assert client.post(f"/api/me/consents/{consent.pk}/revoke/").status_code == 404
    consent.refresh_from_db()
    assert consent.revoked_at is None


def test_a_member_sees_who_received_their_data_except_under_a_withheld_notice(
    client, member_with_login, csr, privacy_officer, partner, recipient
):
    from disclosures.models import LegalBasis

    written_consent(csr, member_with_login, partner)
    services.disclosure_export(
        actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
    ).read_all()
    court = recipient(Recipient.Kind.LAW_ENFORCEMENT, "County Court")
    order = services.legal_basis_record(
        actor=privacy_officer,
        kind=LegalBasis.Kind.LEGAL_PROCESS,
        recipient=court,
        members=[member_with_login],
        categories=[C.CONTACT],
        purpose=Purpose.LEGAL_PROCESS,
        valid_until=timezone.now() + timedelta(days=3),
        process_type="court_order",
        document_reference="ORD-7",
        issuing_authority="District Court",
        document_date=timezone.localdate(),
        notice_withheld=True,
    )
    services.disclosure_export(
        actor=privacy_officer, recipient=court, categories=[C.CONTACT], purpose=Purpose.LEGAL_PROCESS, basis=order
    ).read_all()
    other = MemberFactory()
    written_consent(csr, other, partner)
    client.force_login(member_with_login.user)
    results = client.get("/api/me/disclosures/").json()["results"]
    assert [r["recipient"] for r in results] == ["HomeWarm Offers"]
    assert results[0]["categories"] == [C.CONTACT]


def test_a_member_who_is_not_on_a_release_sees_nothing(client, csr, privacy_officer, partner):
    someone = MemberFactory()
    written_consent(csr, someone, partner)
    services.disclosure_export(
        actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
    ).read_all()
    outsider = MemberFactory(user=UserFactory(username="member-bob"))
    client.force_login(outsider.user)
    assert client.get("/api/me/disclosures/").json()["results"] == []


# --- Staff admin --------------------------------------------------------------------------------------


def test_a_csr_records_a_written_consent_in_the_admin(client, csr, members, partner):
    client.force_login(csr)
    response = client.post(
        "/admin/disclosures/consent/add/",
        {
            "member": members[0].pk,
            "recipient": partner.pk,
            "categories": [C.CONTACT],
            "purpose": Purpose.MARKETING,
            "purpose_detail": "",
            "channel": "written",
            "evidence": "form MKT-9",
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    consent = Consent.objects.get()
    assert consent.recorded_by == csr and AuditEvent.objects.filter(action="consent.granted", actor=csr).exists()


def test_the_admin_shows_service_rules_as_form_errors(client, csr, members, partner):
    client.force_login(csr)
    response = client.post(
        "/admin/disclosures/consent/add/",
        {
            "member": members[0].pk,
            "recipient": partner.pk,
            "categories": [C.CONTACT],
            "purpose": Purpose.MARKETING,
            "purpose_detail": "",
            "channel": "phone",
            "evidence": "call 1",
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert response.status_code == 200 and b"written consent" in response.content
    assert not Consent.objects.exists()


def test_a_csr_cannot_manage_recipients_or_see_the_log_in_the_admin(client, csr):
    client.force_login(csr)
    assert client.get("/admin/disclosures/recipient/add/").status_code == 403
    assert client.get("/admin/disclosures/disclosurelogentry/").status_code == 403


def test_the_auditor_reads_the_log_in_the_admin_but_cannot_change_it(client, auditor, history):
    client.force_login(auditor)
    assert client.get("/admin/disclosures/disclosurelogentry/").status_code == 200
    entry = DisclosureLogEntry.objects.first()
    page = client.get(f"/admin/disclosures/disclosurelogentry/{entry.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert client.get("/admin/disclosures/consent/add/").status_code == 403


def test_the_privacy_officer_revokes_a_consent_from_the_admin(client, privacy_officer, csr, members, partner):
    consent = written_consent(csr, members[0], partner)
    client.force_login(privacy_officer)
    response = client.post(
        "/admin/disclosures/consent/", {"action": "revoke_written", "_selected_action": [consent.pk]}
    )
    assert response.status_code == 302
    consent.refresh_from_db()
    assert consent.status == "revoked" and consent.revoked_by == privacy_officer


def test_the_demo_step_gives_the_auditor_pages_content(make_user):
    from disclosures.demo import seed_disclosures
    from members.demo import seed_staff

    seed_staff()
    MemberFactory.create_batch(6)
    message = seed_disclosures()
    assert "3 releases" in message and "refused" in message
    assert DisclosureLogEntry.objects.filter(outcome="released").count() == 3
    assert DisclosureLogEntry.objects.filter(outcome="refused").count() == 3
    assert seed_disclosures().endswith("already present")


# --- The Privacy Officer's release page -----------------------------------------------------------------


def test_the_release_page_sends_anonymous_to_login(client):
    response = client.get("/disclosures/release/")
    assert response.status_code == 302 and "/auth/login/" in response["Location"]


@pytest.mark.parametrize("who", ["csr", "auditor", "member"])
def test_the_release_page_refuses_everyone_but_the_privacy_officer(client, csr, auditor, member_with_login, who):
    user = {"csr": csr, "auditor": auditor, "member": member_with_login.user}[who]
    client.force_login(user)
    assert client.get("/disclosures/release/").status_code == 403
    assert client.post("/disclosures/release/", {}).status_code == 403


def test_the_privacy_officer_downloads_a_release_through_the_gate(client, privacy_officer, csr, members, partner):
    written_consent(csr, members[0], partner)
    client.force_login(privacy_officer)
    response = client.post(
        "/disclosures/release/",
        {
            "recipient": partner.pk,
            "basis_type": "consents",
            "categories": [C.CONTACT],
            "purpose": Purpose.MARKETING,
            "member_numbers": members[0].member_number,
            "format": "csv",
        },
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert members[0].member_number in body
    entry = DisclosureLogEntry.objects.get(outcome="released")
    assert entry.actor == privacy_officer and entry.member_ids == [members[0].pk]


def test_a_refused_release_shows_the_reason_and_is_logged(client, privacy_officer, members, partner):
    client.force_login(privacy_officer)
    response = client.post(
        "/disclosures/release/",
        {
            "recipient": partner.pk,
            "basis_type": "consents",
            "categories": [C.CONTACT],
            "purpose": Purpose.MARKETING,
            "member_numbers": members[1].member_number,
            "format": "csv",
        },
    )
    assert response.status_code == 200 and b"no valid consent" in response.content
    assert DisclosureLogEntry.objects.filter(outcome="refused", actor=privacy_officer).count() == 1


def test_the_release_form_rejects_unknown_members_and_changes_nothing(client, privacy_officer, partner):
    client.force_login(privacy_officer)
    response = client.post(
        "/disclosures/release/",
        {
            "recipient": partner.pk,
            "basis_type": "consents",
            "categories": [C.CONTACT],
            "purpose": Purpose.MARKETING,
            "member_numbers": "NOPE-1",
            "format": "csv",
        },
    )
    assert response.status_code == 200 and b"Unknown member numbers" in response.content
    assert not DisclosureLogEntry.objects.exists()


ADMIN_LISTS = [
    "recipient",
    "confidentialityagreement",
    "consent",
    "legalbasis",
    "membershiplistrequest",
    "disclosurelogentry",
]


@pytest.mark.parametrize("model", ADMIN_LISTS)
def test_the_admin_screens_send_anonymous_to_the_admin_login(client, model):
    response = client.get(f"/admin/disclosures/{model}/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("model", ADMIN_LISTS)
def test_the_admin_screens_refuse_a_member_login(client, member_with_login, model):
    client.force_login(member_with_login.user)
    response = client.get(f"/admin/disclosures/{model}/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize("model", ["confidentialityagreement", "legalbasis", "disclosurelogentry"])
def test_a_csr_cannot_see_agreements_legal_bases_or_the_log(client, csr, model):
    client.force_login(csr)
    assert client.get(f"/admin/disclosures/{model}/").status_code == 403


def test_revoking_through_the_api_needs_a_login(client, csr, members, partner):
    consent = written_consent(csr, members[0], partner)
    client.logout()
    assert client.post(f"/api/me/consents/{consent.pk}/revoke/").status_code in (401, 403)
    consent.refresh_from_db()
    assert consent.revoked_at is None


def test_the_access_log_and_refused_pages_do_not_query_per_row(
    client, auditor, history, members, django_assert_max_num_queries
):
    from django.db import transaction

    from members.audit import audit_record

    with transaction.atomic():
        for member in members:
            audit_record(actor=auditor, action="access.view_member", obj=member, fields=["ssn_last4"])
    client.force_login(auditor)
    with django_assert_max_num_queries(12):
        client.get("/audit/access-log/")
    with django_assert_max_num_queries(12):
        client.get("/audit/refused/")
