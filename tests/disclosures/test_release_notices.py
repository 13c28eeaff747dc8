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


def test_a_release_to_many_members_writes_their_notices_in_bulk_with_audit_rows_naming_them(
    csr, privacy_officer, members, partner, django_assert_max_num_queries
):
    """Every released member gets one queued e-mail; the audit row names them all; the cost in queries
    does not grow with the number of members (a release may carry 100,000)."""
    from django.db import transaction

    from members.models import AuditEvent
    from members.notices.services import notices_data_released
    from tests.factories import MemberFactory

    many = members + MemberFactory.create_batch(12)
    with transaction.atomic(), django_assert_max_num_queries(12):
        sent = notices_data_released(
            actor=privacy_officer,
            member_ids=[m.pk for m in many],
            recipient="HomeWarm Offers",
            categories=["Contact information"],
            basis="you gave us your consent",
        )
    assert sent == len(many) == Notice.objects.filter(kind="data_released").count()
    assert {n.member_id for n in Notice.objects.filter(kind="data_released")} == {m.pk for m in many}
    (row,) = AuditEvent.objects.filter(action="notice.queued")
    assert sorted(row.detail["member_ids"]) == sorted(m.pk for m in many)
    assert all(n.state == Notice.State.QUEUED for n in Notice.objects.filter(kind="data_released"))
