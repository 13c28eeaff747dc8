"""Every basis for a release, allowed / refused / expired / revoked (seed 000 F, seed 001)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from disclosures import services
from disclosures.models import ConfidentialityAgreement, Consent, DisclosureLogEntry, LegalBasis, Purpose, Recipient
from disclosures.models import DataCategory as C
from members.models import AuditEvent
from tests.disclosures.conftest import written_consent

pytestmark = pytest.mark.django_db


def _rows(export) -> list[dict]:
    return list(csv.DictReader(io.StringIO(export.read_all().decode())))


def _refused(**kwargs) -> DisclosureLogEntry:
    with pytest.raises(services.DisclosureRefused) as info:
        services.disclosure_export(**kwargs).read_all()
    entry = info.value.entry
    assert entry.outcome == DisclosureLogEntry.Outcome.REFUSED and entry.reason == info.value.reason
    return entry


def _expire_consent(consent: Consent) -> None:
    """Time passes: the consent's end date is now behind us. Consents are append-only (only a revocation
    may change a row), so the test moves its dates as the database owner would, triggers off."""
    from tests.db_owner import as_owner

    now = timezone.now()
    with as_owner(triggers=False):
        Consent.objects.filter(pk=consent.pk).update(
            granted_at=now - timedelta(days=30), expires_at=now - timedelta(seconds=1)
        )


def _expire_basis(basis: LegalBasis) -> None:
    now = timezone.now()
    LegalBasis.objects.filter(pk=basis.pk).update(
        valid_from=now - timedelta(days=30), valid_until=now - timedelta(seconds=1)
    )


# --- Consent -------------------------------------------------------------------------------------


class TestConsent:
    def test_a_written_consent_allows_the_release_and_logs_it(self, csr, privacy_officer, members, partner):
        consent = written_consent(csr, members[0], partner)
        export = services.disclosure_export(
            actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING, basis=consent
        )
        rows = _rows(export)
        assert [r["member_number"] for r in rows] == [members[0].member_number]
        entry = export.entry
        assert (
            entry.outcome == "released"
            and entry.member_ids == [members[0].pk]
            and entry.basis_ref == f"consent:{consent.pk}"
        )
        assert AuditEvent.objects.filter(action="disclosure.released", object_id=str(entry.seq)).exists()

    def test_the_release_carries_only_the_consented_categories_fields(self, csr, privacy_officer, members, partner):
        consent = written_consent(csr, members[0], partner)
        rows = _rows(
            services.disclosure_export(
                actor=privacy_officer,
                recipient=partner,
                categories=[C.CONTACT],
                purpose=Purpose.MARKETING,
                basis=consent,
            )
        )
        assert "ssn" not in rows[0] and "date_of_birth" not in rows[0] and "drivers_licence_number" not in rows[0]
        assert rows[0]["legal_name"] == members[0].legal_name

    def test_a_category_the_consent_does_not_cover_is_refused(self, csr, privacy_officer, members, partner):
        written_consent(csr, members[0], partner)
        entry = _refused(
            actor=privacy_officer,
            recipient=partner,
            categories=[C.CONTACT, C.BILLING],
            purpose=Purpose.MARKETING,
            member_ids=[members[0].pk],
        )
        assert "does not cover" in entry.reason

    def test_a_member_without_consent_is_refused_not_silently_dropped(self, csr, privacy_officer, members, partner):
        written_consent(csr, members[0], partner)
        entry = _refused(
            actor=privacy_officer,
            recipient=partner,
            categories=[C.CONTACT],
            purpose=Purpose.MARKETING,
            member_ids=[m.pk for m in members],
        )
        assert "2 of 3 members have no valid consent" in entry.reason

    def test_an_expired_consent_is_refused(self, csr, privacy_officer, members, partner):
        consent = written_consent(csr, members[0], partner, expires_at=timezone.now() + timedelta(days=1))
        _expire_consent(consent)
        entry = _refused(
            actor=privacy_officer,
            recipient=partner,
            categories=[C.CONTACT],
            purpose=Purpose.MARKETING,
            member_ids=[members[0].pk],
        )
        assert "expired" in entry.reason

    def test_revocation_keeps_the_record_and_stops_the_next_release(self, csr, privacy_officer, members, partner):
        consent = written_consent(csr, members[0], partner)
        services.disclosure_export(
            actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING, basis=consent
        ).read_all()
        services.consent_revoke(actor=csr, consent=consent, channel="phone", reason="called to opt out")
        consent.refresh_from_db()
        assert consent.status == "revoked" and consent.revoked_by == csr and consent.revoked_at is not None
        assert AuditEvent.objects.filter(action="consent.revoked", object_id=str(consent.pk)).exists()
        entry = _refused(
            actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING, basis=consent
        )
        assert "revoked" in entry.reason

    def test_a_bulk_release_covers_exactly_the_members_with_valid_consent(self, csr, privacy_officer, members, partner):
        written_consent(csr, members[0], partner)
        revoked = written_consent(csr, members[1], partner)
        services.consent_revoke(actor=csr, consent=revoked, channel="written")
        export = services.disclosure_export(
            actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
        )
        assert [r["member_number"] for r in _rows(export)] == [members[0].member_number]
        assert export.entry.member_ids == [members[0].pk]

    def test_a_consent_to_another_recipient_does_not_count(self, csr, privacy_officer, members, partner, recipient):
        other = recipient(Recipient.Kind.NON_AFFILIATED, "Someone Else")
        consent = written_consent(csr, members[0], other)
        entry = _refused(
            actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING, basis=consent
        )
        assert "another recipient" in entry.reason

    def test_a_secondary_purpose_needs_written_consent_not_a_phone_call(self, csr, members, partner):
        with pytest.raises(ValidationError, match="written consent"):
            services.consent_grant(
                actor=csr,
                member=members[0],
                recipient=partner,
                categories=[C.CONTACT],
                purpose=Purpose.MARKETING,
                channel="phone",
                evidence="call 42",
            )
        assert not Consent.objects.exists()

    def test_a_phone_consent_is_accepted_for_a_primary_purpose(self, csr, members, contractor):
        consent = services.consent_grant(
            actor=csr,
            member=members[0],
            recipient=contractor,
            categories=[C.BILLING],
            purpose=Purpose.BILLING,
            channel="phone",
            evidence="call 42",
        )
        assert consent.status == "active"
        assert AuditEvent.objects.filter(action="consent.granted", object_id=str(consent.pk)).exists()

    def test_imaging_and_recordings_cannot_be_consented(self, csr, members, partner):
        for category in (C.IMAGING, C.RECORDINGS):
            with pytest.raises(ValidationError, match="F.1"):
                written_consent(csr, members[0], partner, categories=[category])

    def test_consent_needs_evidence_when_recorded_by_staff(self, csr, members, partner):
        with pytest.raises(ValidationError, match="evidence"):
            services.consent_grant(
                actor=csr,
                member=members[0],
                recipient=partner,
                categories=[C.CONTACT],
                purpose=Purpose.MARKETING,
                channel="written",
            )

    def test_revoking_twice_is_an_error_that_changes_nothing(self, csr, members, partner):
        consent = written_consent(csr, members[0], partner)
        services.consent_revoke(actor=csr, consent=consent, channel="phone")
        first = Consent.objects.get(pk=consent.pk).revoked_at
        with pytest.raises(ValidationError):
            services.consent_revoke(actor=csr, consent=consent, channel="phone")
        assert Consent.objects.get(pk=consent.pk).revoked_at == first


# --- Marketing (seed 000 F.5) ---------------------------------------------------------------------


class TestMarketing:
    def test_non_affiliated_marketing_without_consent_is_refused(self, privacy_officer, members, partner):
        entry = _refused(
            actor=privacy_officer,
            recipient=partner,
            categories=[C.CONTACT],
            purpose=Purpose.MARKETING,
            member_ids=[members[0].pk],
        )
        assert "no valid consent" in entry.reason

    def test_marketing_cannot_ride_on_a_contractor_agreement(
        self, privacy_officer, members, contractor_basis, contractor
    ):
        entry = _refused(
            actor=privacy_officer,
            recipient=contractor,
            categories=[C.CONTACT],
            purpose=Purpose.MARKETING,
            basis=contractor_basis,
            member_ids=[members[0].pk],
        )
        assert "not marketing" in entry.reason or "is for billing" in entry.reason

    def test_there_is_no_purpose_to_sell_rent_or_exchange_member_information(self, privacy_officer, members, partner):
        for word in ("sell", "sale", "rent", "exchange", "loan", "lease"):
            assert not any(word in value for value in Purpose.values)
        entry = _refused(
            actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose="sale", member_ids=[members[0].pk]
        )
        assert "no purpose for selling" in entry.reason


# --- Contractor / other utility (seed 000 F.2) ------------------------------------------------------


class TestContractor:
    def test_a_contractor_receives_the_categories_of_its_agreement(
        self, privacy_officer, members, contractor, contractor_basis
    ):
        export = services.disclosure_export(
            actor=privacy_officer,
            recipient=contractor,
            categories=[C.CONTACT],
            purpose=Purpose.BILLING,
            basis=contractor_basis,
            member_ids=[m.pk for m in members],
        )
        assert len(_rows(export)) == 3
        assert "CA-1" in export.entry.basis_ref

    def test_categories_beyond_the_agreement_are_refused(self, privacy_officer, members, contractor, contractor_basis):
        entry = _refused(
            actor=privacy_officer,
            recipient=contractor,
            categories=[C.BILLING],
            purpose=Purpose.BILLING,
            basis=contractor_basis,
            member_ids=[members[0].pk],
        )
        assert "does not cover" in entry.reason

    def test_a_basis_wider_than_the_agreement_cannot_be_recorded(self, privacy_officer, contractor, agreement):
        with pytest.raises(ValidationError, match="agreement does not cover"):
            services.legal_basis_record(
                actor=privacy_officer,
                kind=LegalBasis.Kind.CONTRACTOR,
                recipient=contractor,
                agreement=agreement,
                categories=[C.CONTACT, C.BILLING],
                purpose=Purpose.BILLING,
                valid_until=timezone.now() + timedelta(days=1),
            )

    def test_an_expired_agreement_stops_releases(
        self, privacy_officer, members, contractor, contractor_basis, agreement
    ):
        today = timezone.localdate()
        ConfidentialityAgreement.objects.filter(pk=agreement.pk).update(
            effective_from=today - timedelta(days=100), expires_on=today - timedelta(days=1)
        )
        entry = _refused(
            actor=privacy_officer,
            recipient=contractor,
            categories=[C.CONTACT],
            purpose=Purpose.BILLING,
            basis=contractor_basis,
            member_ids=[members[0].pk],
        )
        assert "not in force" in entry.reason

    def test_an_expired_basis_is_refused(self, privacy_officer, members, contractor, contractor_basis):
        _expire_basis(contractor_basis)
        entry = _refused(
            actor=privacy_officer,
            recipient=contractor,
            categories=[C.CONTACT],
            purpose=Purpose.BILLING,
            basis=contractor_basis,
            member_ids=[members[0].pk],
        )
        assert "expired" in entry.reason

    def test_a_revoked_basis_is_refused(self, privacy_officer, members, contractor, contractor_basis):
        services.legal_basis_revoke(actor=privacy_officer, basis=contractor_basis, reason="contract terminated")
        entry = _refused(
            actor=privacy_officer,
            recipient=contractor,
            categories=[C.CONTACT],
            purpose=Purpose.BILLING,
            basis=contractor_basis,
            member_ids=[members[0].pk],
        )
        assert "revoked" in entry.reason

    def test_a_contractor_basis_needs_a_primary_purpose(self, privacy_officer, contractor, agreement):
        with pytest.raises(ValidationError, match="primary purpose"):
            services.legal_basis_record(
                actor=privacy_officer,
                kind=LegalBasis.Kind.CONTRACTOR,
                recipient=contractor,
                agreement=agreement,
                categories=[C.CONTACT],
                purpose=Purpose.MARKETING,
                valid_until=timezone.now() + timedelta(days=1),
            )


class TestOtherUtility:
    @pytest.fixture
    def utility_basis(self, privacy_officer, recipient):
        utility = recipient(Recipient.Kind.OTHER_UTILITY, "Neighbour Co-op")
        today = timezone.localdate()
        agreement = services.agreement_record(
            actor=privacy_officer,
            recipient=utility,
            reference="MA-1",
            scope="mutual aid",
            categories=[C.CONTACT],
            signed_on=today,
            effective_from=today,
            expires_on=today + timedelta(days=10),
        )
        return services.legal_basis_record(
            actor=privacy_officer,
            kind=LegalBasis.Kind.OTHER_UTILITY,
            recipient=utility,
            agreement=agreement,
            categories=[C.CONTACT],
            purpose=Purpose.OPERATIONS,
            valid_until=timezone.now() + timedelta(days=5),
        )

    def test_operational_release_is_allowed(self, privacy_officer, members, utility_basis):
        export = services.disclosure_export(
            actor=privacy_officer,
            recipient=utility_basis.recipient,
            categories=[C.CONTACT],
            purpose=Purpose.OPERATIONS,
            basis=utility_basis,
            member_ids=[members[0].pk],
        )
        assert len(_rows(export)) == 1

    def test_a_non_operational_purpose_is_refused(self, privacy_officer, members, utility_basis):
        entry = _refused(
            actor=privacy_officer,
            recipient=utility_basis.recipient,
            categories=[C.CONTACT],
            purpose=Purpose.RESEARCH,
            basis=utility_basis,
            member_ids=[members[0].pk],
        )
        assert "is for operations" in entry.reason

    def test_expired_is_refused(self, privacy_officer, members, utility_basis):
        _expire_basis(utility_basis)
        assert (
            "expired"
            in _refused(
                actor=privacy_officer,
                recipient=utility_basis.recipient,
                categories=[C.CONTACT],
                purpose=Purpose.OPERATIONS,
                basis=utility_basis,
                member_ids=[members[0].pk],
            ).reason
        )

    def test_revoked_is_refused(self, privacy_officer, members, utility_basis):
        services.legal_basis_revoke(actor=privacy_officer, basis=utility_basis, reason="aid ended")
        assert (
            "revoked"
            in _refused(
                actor=privacy_officer,
                recipient=utility_basis.recipient,
                categories=[C.CONTACT],
                purpose=Purpose.OPERATIONS,
                basis=utility_basis,
                member_ids=[members[0].pk],
            ).reason
        )


# --- Legal process (seed 000 F.4, seed 001) ---------------------------------------------------------


class TestLegalProcess:
    @pytest.fixture
    def subpoena(self, privacy_officer, recipient, members):
        court = recipient(Recipient.Kind.LAW_ENFORCEMENT, "County Court")
        return services.legal_basis_record(
            actor=privacy_officer,
            kind=LegalBasis.Kind.LEGAL_PROCESS,
            recipient=court,
            members=members[:1],
            categories=[C.CONTACT, C.BILLING],
            purpose=Purpose.LEGAL_PROCESS,
            valid_until=timezone.now() + timedelta(days=10),
            process_type="subpoena",
            document_reference="2026-CV-0118",
            issuing_authority="County Circuit Court",
            document_date=timezone.localdate(),
            notice_withheld=True,
        )

    def test_the_named_member_is_released_with_the_document_on_the_log(self, privacy_officer, subpoena, members):
        export = services.disclosure_export(
            actor=privacy_officer,
            recipient=subpoena.recipient,
            categories=[C.CONTACT],
            purpose=Purpose.LEGAL_PROCESS,
            basis=subpoena,
        )
        assert [r["member_number"] for r in _rows(export)] == [members[0].member_number]
        assert "2026-CV-0118" in export.entry.basis_ref and "County Circuit Court" in export.entry.basis_ref
        assert export.entry.notice_withheld is True

    def test_members_the_order_does_not_name_are_refused(self, privacy_officer, subpoena, members):
        entry = _refused(
            actor=privacy_officer,
            recipient=subpoena.recipient,
            categories=[C.CONTACT],
            purpose=Purpose.LEGAL_PROCESS,
            basis=subpoena,
            member_ids=[members[1].pk],
        )
        assert "does not cover members" in entry.reason

    def test_the_evidence_is_required(self, privacy_officer, recipient, members):
        court = recipient(Recipient.Kind.LAW_ENFORCEMENT, "Court 2")
        with pytest.raises(ValidationError, match="document reference"):
            services.legal_basis_record(
                actor=privacy_officer,
                kind=LegalBasis.Kind.LEGAL_PROCESS,
                recipient=court,
                members=members[:1],
                categories=[C.CONTACT],
                purpose=Purpose.LEGAL_PROCESS,
                valid_until=timezone.now() + timedelta(days=1),
                process_type="warrant",
            )

    def test_expired_is_refused(self, privacy_officer, subpoena):
        _expire_basis(subpoena)
        assert (
            "expired"
            in _refused(
                actor=privacy_officer,
                recipient=subpoena.recipient,
                categories=[C.CONTACT],
                purpose=Purpose.LEGAL_PROCESS,
                basis=subpoena,
            ).reason
        )

    def test_revoked_is_refused(self, privacy_officer, subpoena):
        services.legal_basis_revoke(actor=privacy_officer, basis=subpoena, reason="subpoena quashed")
        assert (
            "quashed"
            in _refused(
                actor=privacy_officer,
                recipient=subpoena.recipient,
                categories=[C.CONTACT],
                purpose=Purpose.LEGAL_PROCESS,
                basis=subpoena,
            ).reason
        )

    def test_law_enforcement_cannot_be_given_a_consent_record(self, csr, members, recipient):
        police = recipient(Recipient.Kind.LAW_ENFORCEMENT, "Police")
        with pytest.raises(ValidationError, match="legal process"):
            written_consent(csr, members[0], police, purpose=Purpose.MEMBER_DESIGNATED)


# --- Imminent threat (seed 000 F.4) -----------------------------------------------------------------


class TestImminentThreat:
    @pytest.fixture
    def threat(self, privacy_officer, recipient, members):
        fire = recipient(Recipient.Kind.LAW_ENFORCEMENT, "County Fire Marshal")
        return services.legal_basis_record(
            actor=privacy_officer,
            kind=LegalBasis.Kind.IMMINENT_THREAT,
            recipient=fire,
            members=members[:1],
            categories=[C.CONTACT],
            purpose=Purpose.IMMINENT_THREAT,
            valid_until=timezone.now() + timedelta(days=1),
            justification="Downed line at the premise; occupants must be reached now",
        )

    def test_a_second_approver_allows_the_release(self, privacy_officer, second_privacy_officer, threat):
        services.legal_basis_approve(actor=second_privacy_officer, basis=threat)
        export = services.disclosure_export(
            actor=privacy_officer,
            recipient=threat.recipient,
            categories=[C.CONTACT],
            purpose=Purpose.IMMINENT_THREAT,
            basis=threat,
        )
        assert len(_rows(export)) == 1

    def test_without_the_second_approval_it_is_refused(self, privacy_officer, threat):
        assert (
            "second approver"
            in _refused(
                actor=privacy_officer,
                recipient=threat.recipient,
                categories=[C.CONTACT],
                purpose=Purpose.IMMINENT_THREAT,
                basis=threat,
            ).reason
        )

    def test_the_requester_cannot_be_the_second_approver(self, privacy_officer, threat):
        with pytest.raises(ValidationError, match="other than the requester"):
            services.legal_basis_approve(actor=privacy_officer, basis=threat)

    def test_a_csr_cannot_approve(self, csr, threat):
        with pytest.raises(PermissionDenied):
            services.legal_basis_approve(actor=csr, basis=threat)

    def test_a_justification_is_required(self, privacy_officer, recipient, members):
        fire = recipient(Recipient.Kind.LAW_ENFORCEMENT, "Fire 2")
        with pytest.raises(ValidationError, match="justification"):
            services.legal_basis_record(
                actor=privacy_officer,
                kind=LegalBasis.Kind.IMMINENT_THREAT,
                recipient=fire,
                members=members[:1],
                categories=[C.CONTACT],
                purpose=Purpose.IMMINENT_THREAT,
                valid_until=timezone.now() + timedelta(days=1),
            )

    def test_expired_is_refused(self, privacy_officer, second_privacy_officer, threat):
        services.legal_basis_approve(actor=second_privacy_officer, basis=threat)
        _expire_basis(threat)
        assert (
            "expired"
            in _refused(
                actor=privacy_officer,
                recipient=threat.recipient,
                categories=[C.CONTACT],
                purpose=Purpose.IMMINENT_THREAT,
                basis=threat,
            ).reason
        )

    def test_revoked_is_refused(self, privacy_officer, second_privacy_officer, threat):
        services.legal_basis_approve(actor=second_privacy_officer, basis=threat)
        services.legal_basis_revoke(actor=privacy_officer, basis=threat, reason="threat over")
        assert (
            "revoked"
            in _refused(
                actor=privacy_officer,
                recipient=threat.recipient,
                categories=[C.CONTACT],
                purpose=Purpose.IMMINENT_THREAT,
                basis=threat,
            ).reason
        )


# --- The member's own request (seed 000 F.1, seed 001 share with a third party) ----------------------


class TestMemberRequest:
    @pytest.fixture
    def request_basis(self, csr, recipient, members):
        solar = recipient(Recipient.Kind.MEMBER_DESIGNATED, "SunnyRoof Solar")
        return services.legal_basis_record(
            actor=csr,
            kind=LegalBasis.Kind.MEMBER_REQUEST,
            recipient=solar,
            members=members[:1],
            categories=[C.CONTACT],
            purpose=Purpose.MEMBER_DESIGNATED,
            request_reference="email 2026-11-20 from the member",
            valid_until=timezone.now() + timedelta(days=7),
        )

    def test_the_member_designated_recipient_receives_the_data(self, privacy_officer, request_basis, members):
        export = services.disclosure_export(
            actor=privacy_officer,
            recipient=request_basis.recipient,
            categories=[C.CONTACT],
            purpose=Purpose.MEMBER_DESIGNATED,
            basis=request_basis,
        )
        assert len(_rows(export)) == 1
        assert export.entry.member_ids == [members[0].pk]

    def test_another_member_is_refused(self, privacy_officer, request_basis, members):
        assert (
            "does not cover"
            in _refused(
                actor=privacy_officer,
                recipient=request_basis.recipient,
                categories=[C.CONTACT],
                purpose=Purpose.MEMBER_DESIGNATED,
                basis=request_basis,
                member_ids=[members[2].pk],
            ).reason
        )

    def test_expired_is_refused(self, privacy_officer, request_basis):
        _expire_basis(request_basis)
        assert (
            "expired"
            in _refused(
                actor=privacy_officer,
                recipient=request_basis.recipient,
                categories=[C.CONTACT],
                purpose=Purpose.MEMBER_DESIGNATED,
                basis=request_basis,
            ).reason
        )

    def test_revoked_is_refused(self, privacy_officer, request_basis):
        services.legal_basis_revoke(actor=privacy_officer, basis=request_basis, reason="member withdrew the request")
        assert (
            "revoked"
            in _refused(
                actor=privacy_officer,
                recipient=request_basis.recipient,
                categories=[C.CONTACT],
                purpose=Purpose.MEMBER_DESIGNATED,
                basis=request_basis,
            ).reason
        )

    def test_a_request_must_be_on_record(self, csr, members):
        with pytest.raises(ValidationError, match="request"):
            services.legal_basis_record(
                actor=csr,
                kind=LegalBasis.Kind.MEMBER_REQUEST,
                members=members[:1],
                categories=[C.CONTACT],
                purpose=Purpose.MEMBER_ACCESS,
                valid_until=timezone.now() + timedelta(days=7),
            )


def test_fields_outside_the_allowed_categories_are_refused(privacy_officer, members, contractor, contractor_basis):
    entry = _refused(
        actor=privacy_officer,
        recipient=contractor,
        categories=[C.CONTACT],
        purpose=Purpose.BILLING,
        basis=contractor_basis,
        member_ids=[members[0].pk],
        fields=["legal_name", "ssn"],
    )
    assert "ssn" in entry.reason


def test_a_requested_field_subset_is_all_that_is_released(privacy_officer, members, contractor, contractor_basis):
    export = services.disclosure_export(
        actor=privacy_officer,
        recipient=contractor,
        categories=[C.CONTACT],
        purpose=Purpose.BILLING,
        basis=contractor_basis,
        member_ids=[members[0].pk],
        fields=["legal_name"],
    )
    assert list(_rows(export)[0]) == ["member_number", "legal_name"]
    assert export.entry.fields == ["member_number", "legal_name"]


def test_categories_not_held_are_refused(privacy_officer, members, csr, partner):
    assert (
        "not held"
        in _refused(
            actor=privacy_officer,
            recipient=partner,
            categories=[C.SURVEYS],
            purpose=Purpose.RESEARCH,
            member_ids=[members[0].pk],
        ).reason
    )


def test_a_refusal_is_also_an_audit_row(privacy_officer, members, partner):
    entry = _refused(
        actor=privacy_officer,
        recipient=partner,
        categories=[C.CONTACT],
        purpose=Purpose.MARKETING,
        member_ids=[members[0].pk],
    )
    event = AuditEvent.objects.get(action="disclosure.refused", object_id=str(entry.seq))
    assert event.actor == privacy_officer and "consent" in event.reason


def test_a_legal_basis_cannot_be_used_for_another_purpose(privacy_officer, recipient, members):
    court = recipient(Recipient.Kind.LAW_ENFORCEMENT, "County Court X")
    order = services.legal_basis_record(
        actor=privacy_officer,
        kind=LegalBasis.Kind.LEGAL_PROCESS,
        recipient=court,
        members=members[:1],
        categories=[C.CONTACT],
        purpose=Purpose.LEGAL_PROCESS,
        valid_until=timezone.now() + timedelta(days=1),
        process_type="warrant",
        document_reference="W-1",
        issuing_authority="Judge",
        document_date=timezone.localdate(),
    )
    entry = _refused(
        actor=privacy_officer, recipient=court, categories=[C.CONTACT], purpose=Purpose.MARKETING, basis=order
    )
    assert "is for legal_process, not marketing" in entry.reason


def test_a_single_consent_refusal_names_that_consent(csr, privacy_officer, members, partner):
    old = written_consent(csr, members[0], partner)
    services.consent_revoke(actor=csr, consent=old, channel="written")
    written_consent(csr, members[0], partner, categories=[C.BILLING])
    entry = _refused(
        actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING, basis=old
    )
    assert f"consent #{old.pk} was revoked" in entry.reason


def test_a_deactivated_recipient_receives_nothing(csr, privacy_officer, members, partner):
    consent = written_consent(csr, members[0], partner)
    services.recipient_deactivate(actor=privacy_officer, recipient=partner, reason="contract ended")
    entry = _refused(
        actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING, basis=consent
    )
    assert "not active" in entry.reason
    assert AuditEvent.objects.filter(action="disclosures.recipient_deactivated", object_id=str(partner.pk)).exists()
