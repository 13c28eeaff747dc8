"""Consent with its evidence (issue 14.5): the words the member read, versioned by the Privacy Officer,
kept with each portal consent; the consent table append-only, its revocation the one guarded change."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

from disclosures import services
from disclosures.models import (
    CONSENT_FROZEN_COLUMNS,
    CONSENT_REVOCATION_COLUMNS,
    Consent,
    NoticeText,
    Purpose,
    text_sha256,
)
from members.models import AuditEvent
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    return MemberFactory(user=UserFactory(username="alice-evidence"))


def _portal_consent(client, alice, partner, **extra):
    client.force_login(alice.user)
    data = {"recipient": partner.pk, "categories": ["A1_contact", "A3_usage"], "purpose": "energy_services", **extra}
    response = client.post("/portal/privacy/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return Consent.objects.get(member=alice)


def test_the_portal_shows_the_current_wording_and_its_version(client, alice):
    client.force_login(alice.user)
    page = client.get("/portal/privacy/").content.decode()
    current = services.notice_text_current(NoticeText.Kind.PORTAL_CONSENT)
    assert f"Wording version {current.version}" in page
    assert "the company you choose" in page


def test_a_portal_consent_keeps_the_words_the_member_read(client, alice, partner):
    consent = _portal_consent(client, alice, partner, expires_on="2030-06-30")
    current = services.notice_text_current(NoticeText.Kind.PORTAL_CONSENT)
    assert consent.notice_text == current
    assert "HomeWarm Offers" in consent.notice_shown
    assert "contact information and electric usage and service history" in consent.notice_shown
    assert "until June 30, 2030" in consent.notice_shown
    assert consent.notice_sha256 == text_sha256(consent.notice_shown)
    assert consent.channel == Consent.Channel.PORTAL
    event = AuditEvent.objects.get(action="consent.granted", object_id=str(consent.pk))
    assert event.detail["notice_text_id"] == current.pk


def test_the_version_the_page_showed_is_kept_even_after_a_new_one_is_published(client, alice, partner, privacy_officer):
    shown = services.notice_text_current(NoticeText.Kind.PORTAL_CONSENT)
    services.notice_text_publish(
        actor=privacy_officer, kind=NoticeText.Kind.PORTAL_CONSENT, title="New", body="I let {recipient} have it."
    )
    consent = _portal_consent(client, alice, partner, notice_version=shown.version)
    assert consent.notice_text == shown


def test_an_unknown_version_is_refused_and_nothing_is_recorded(client, alice, partner):
    client.force_login(alice.user)
    response = client.post(
        "/portal/privacy/",
        {"recipient": partner.pk, "categories": ["A1_contact"], "purpose": "marketing", "notice_version": 999},
    )
    assert response.status_code == 200
    assert not Consent.objects.filter(member=alice).exists()


def test_the_service_refuses_a_portal_consent_without_its_notice(alice, partner):
    with pytest.raises(ValidationError, match="notice"):
        services.consent_grant(
            actor=alice.user,
            member=alice,
            recipient=partner,
            categories=["A1_contact"],
            purpose=Purpose.MARKETING,
            channel=Consent.Channel.PORTAL,
        )
    assert not Consent.objects.exists()


def test_the_database_refuses_a_portal_consent_without_its_notice(alice, partner):
    with pytest.raises(DatabaseError), transaction.atomic():
        Consent.objects.create(
            member=alice, recipient=partner, categories=["A1_contact"], purpose="marketing", channel="portal"
        )


def test_a_consent_cannot_be_edited_in_the_database(client, alice, partner):
    consent = _portal_consent(client, alice, partner)
    for change in ({"categories": ["A1_contact"]}, {"notice_shown": "something milder"}, {"evidence": "changed"}):
        with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
            Consent.objects.filter(pk=consent.pk).update(**change)
    consent.refresh_from_db()
    assert consent.categories == ["A1_contact", "A3_usage"]


def test_revocation_is_the_one_change_and_happens_once(client, alice, partner):
    consent = _portal_consent(client, alice, partner)
    services.consent_revoke(actor=alice.user, consent=consent, channel="portal")
    consent.refresh_from_db()
    assert consent.revoked_at is not None
    with pytest.raises(DatabaseError, match="Cannot update"), transaction.atomic():
        Consent.objects.filter(pk=consent.pk).update(revoked_at=None)
    with pytest.raises(DatabaseError), transaction.atomic():
        Consent.objects.filter(pk=consent.pk).delete()


def test_every_column_is_either_frozen_or_part_of_the_revocation():
    columns = {field.column for field in Consent._meta.concrete_fields}
    assert columns == set(CONSENT_FROZEN_COLUMNS) | set(CONSENT_REVOCATION_COLUMNS)


def test_a_version_a_member_consented_on_is_frozen(client, alice, partner, privacy_officer):
    consent = _portal_consent(client, alice, partner)
    used = consent.notice_text
    with pytest.raises(ValidationError, match="publish a new version"):
        services.notice_text_correct(actor=privacy_officer, notice=used, title="x", body="softer words")
    with pytest.raises(DatabaseError, match="a consent was given on it"), transaction.atomic():
        NoticeText.objects.filter(pk=used.pk).update(body="softer words")
    with pytest.raises(DatabaseError), transaction.atomic():
        NoticeText.objects.filter(pk=used.pk).delete()


def test_an_unused_version_may_be_corrected(privacy_officer):
    draft = services.notice_text_publish(
        actor=privacy_officer, kind=NoticeText.Kind.CONNECT_MY_DATA, title="Draft", body="Typo {recipient}"
    )
    services.notice_text_correct(actor=privacy_officer, notice=draft, title="Draft", body="Fixed {recipient}")
    draft.refresh_from_db()
    assert draft.body == "Fixed {recipient}"
    assert AuditEvent.objects.filter(action="notice_text.corrected", object_id=str(draft.pk)).exists()


def test_a_wording_with_an_unknown_placeholder_is_refused(privacy_officer):
    before = NoticeText.objects.count()
    with pytest.raises(ValidationError, match="Unknown placeholder"):
        services.notice_text_publish(
            actor=privacy_officer, kind=NoticeText.Kind.PORTAL_CONSENT, title="T", body="Share with {ssn}"
        )
    assert NoticeText.objects.count() == before


class TestNoticeAdmin:
    def test_the_privacy_officer_publishes_the_next_version(self, client, privacy_officer):
        latest = services.notice_text_current(NoticeText.Kind.PORTAL_CONSENT)
        client.force_login(privacy_officer)
        response = client.post(
            "/admin/disclosures/noticetext/add/",
            {"kind": "portal_consent", "title": "Plainer", "body": "I allow {recipient} to get my {categories}."},
        )
        assert response.status_code == 302, response.content.decode()[:3000]
        newest = services.notice_text_current(NoticeText.Kind.PORTAL_CONSENT)
        assert newest.version == latest.version + 1 and newest.created_by == privacy_officer
        assert AuditEvent.objects.filter(action="notice_text.published", object_id=str(newest.pk)).exists()

    def test_a_csr_and_an_auditor_cannot_write_notices(self, client, csr, auditor):
        for user in (csr, auditor):
            client.force_login(user)
            response = client.post(
                "/admin/disclosures/noticetext/add/", {"kind": "portal_consent", "title": "T", "body": "B"}
            )
            assert response.status_code == 403
        assert not NoticeText.objects.filter(title="T").exists()

    def test_anonymous_is_sent_to_sign_in(self, client):
        assert client.get("/admin/disclosures/noticetext/").status_code == 302


def test_the_runtime_role_cannot_switch_the_consent_guard_off(client, alice, partner):
    """django-pgtrigger's protection obeys ``pgtrigger.ignore``, which any role may SET; the plain trigger
    beside it (disclosures migration 0006) does not, so the application's own role still cannot edit."""
    from django.db import connection

    consent = _portal_consent(client, alice, partner)
    with pytest.raises(DatabaseError, match="MemberGuard: Cannot update"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SET LOCAL pgtrigger.ignore = '{disclosures_consent:pgtrigger_consent_revocation_only_c54ec}'"
            )
        Consent.objects.filter(pk=consent.pk).update(categories=["A1_contact"])
    consent.refresh_from_db()
    assert consent.categories == ["A1_contact", "A3_usage"]


def test_the_plain_consent_guard_watches_the_same_columns_as_the_model_declares():
    """Migration 0006 copies the pgtrigger's condition (built from CONSENT_FROZEN_COLUMNS); a column added
    to the model must reach the plain trigger too, in a migration of its own."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'disclosures_consent'::regclass"
            " AND tgname IN ('memberguard_consent_revocation_only', 'pgtrigger_consent_revocation_only_c54ec')"
        )
        definitions = {name: definition for name, definition in cursor.fetchall()}
    conditions = {
        name: definition.split(" WHEN ", 1)[1].split(" EXECUTE ", 1)[0] for name, definition in definitions.items()
    }
    assert len(conditions) == 2 and len(set(conditions.values())) == 1, conditions
