"""Members learn of each release of their own data, with its basis, unless a legal order keeps it quiet."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from disclosures import services
from disclosures.models import DataCategory as C
from disclosures.models import LegalBasis, Purpose, Recipient
from members.notices.models import Notice
from tests.disclosures.conftest import written_consent

pytestmark = pytest.mark.django_db


def test_a_consented_release_tells_each_member_who_received_what_and_why(csr, privacy_officer, members, partner):
    written_consent(csr, members[0], partner)
    services.disclosure_export(
        actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
    ).read_all()
    (notice,) = Notice.objects.filter(kind="data_released")
    assert notice.member == members[0] and notice.to_email == members[0].email
    assert "HomeWarm Offers" in notice.body and "Contact information" in notice.body
    assert "you gave us your consent" in notice.body


def test_a_release_under_a_non_disclosure_order_sends_no_notice(privacy_officer, recipient, members):
    court = recipient(Recipient.Kind.LAW_ENFORCEMENT, "County Court")
    subpoena = services.legal_basis_record(
        actor=privacy_officer,
        kind=LegalBasis.Kind.LEGAL_PROCESS,
        recipient=court,
        members=members[:1],
        categories=[C.CONTACT],
        purpose=Purpose.LEGAL_PROCESS,
        valid_until=timezone.now() + timedelta(days=10),
        process_type="subpoena",
        document_reference="2026-CV-0119",
        issuing_authority="County Circuit Court",
        document_date=timezone.localdate(),
        notice_withheld=True,
    )
    services.disclosure_export(
        actor=privacy_officer, recipient=court, categories=[C.CONTACT], purpose=Purpose.LEGAL_PROCESS, basis=subpoena
    ).read_all()
    assert not Notice.objects.filter(kind="data_released").exists()


def test_a_release_that_is_refused_sends_no_notice(privacy_officer, members, partner):
    with pytest.raises(services.DisclosureRefused):
        services.disclosure_export(
            actor=privacy_officer,
            recipient=partner,
            categories=[C.CONTACT],
            purpose=Purpose.MARKETING,
            member_ids=[members[0].pk],
        ).read_all()
    assert not Notice.objects.exists()
