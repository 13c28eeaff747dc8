"""Members learn of each release of their own data, with its basis, unless a legal order keeps it quiet.

The notices are written after the release commits (disclosures/services/release_notices.py): the release's
transaction records a ``ReleaseNoticeDue`` row, and the task after commit (here: the captured on-commit
callbacks, with Celery eager) or the sweep writes the notices, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from disclosures import services, tasks
from disclosures.models import DataCategory as C
from disclosures.models import DisclosureLogEntry, LegalBasis, Purpose, Recipient, ReleaseNoticeDue
from members.models import AuditEvent
from members.notices.models import Notice
from members.notices.services import notices_data_released
from tests.disclosures.conftest import written_consent

pytestmark = pytest.mark.django_db


def test_a_consented_release_tells_each_member_who_received_what_and_why(
    csr, privacy_officer, members, partner, django_capture_on_commit_callbacks
):
    written_consent(csr, members[0], partner)
    with django_capture_on_commit_callbacks(execute=True):
        export = services.disclosure_export(
            actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
        )
        export.read_all()
        # Committed, not yet told: the release's transaction recorded only that the notices are due.
        assert not Notice.objects.filter(kind="data_released").exists()
        (due,) = ReleaseNoticeDue.objects.all()
        assert due.entry == export.entry and due.done_at is None
    due.refresh_from_db()
    assert due.done_at is not None and due.notices == 1
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
    assert not ReleaseNoticeDue.objects.exists()


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
    assert not ReleaseNoticeDue.objects.exists()


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


def _release(csr, privacy_officer, members, partner) -> DisclosureLogEntry:
    for member in members:
        written_consent(csr, member, partner)
    export = services.disclosure_export(
        actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
    )
    export.read_all()
    assert export.entry is not None
    return export.entry


def test_the_sweep_writes_the_notices_of_a_release_whose_task_never_ran_once(csr, privacy_officer, members, partner):
    """No on-commit callback ran here (as when the broker refused the task): the sweep writes every
    member's notice, with the audit rows naming the release, and a second sweep or a late task writes
    nothing more."""
    entry = _release(csr, privacy_officer, members, partner)
    assert not Notice.objects.filter(kind="data_released").exists()
    assert services.release_notices_sweep(grace_seconds=0) == 1
    notices = Notice.objects.filter(kind="data_released")
    assert sorted(n.member_id for n in notices) == sorted(m.pk for m in members)
    assert all(n.subject and "HomeWarm Offers" in n.body for n in notices)
    (row,) = AuditEvent.objects.filter(action="notice.queued")
    assert row.detail["disclosure_seq"] == entry.seq and row.actor == privacy_officer
    due = ReleaseNoticeDue.objects.get(entry=entry)
    assert due.done_at is not None and due.notices == len(members)

    assert services.release_notices_sweep(grace_seconds=0) == 0
    assert tasks.release_notices_write.apply(args=[due.pk]).get() is None
    assert Notice.objects.filter(kind="data_released").count() == len(members)
    assert AuditEvent.objects.filter(action="notice.queued").count() == 1


def test_the_sweep_leaves_a_young_due_row_to_the_task(csr, privacy_officer, members, partner):
    _release(csr, privacy_officer, members, partner)
    assert services.release_notices_sweep() == 0
    assert tasks.release_notices_sweep.apply().get() == 0
    assert ReleaseNoticeDue.objects.get().done_at is None


def test_a_second_notice_for_the_same_release_and_member_cannot_be_stored(csr, privacy_officer, members, partner):
    """The belt to the due row's braces: each notice's uuid comes from the log entry and the member."""
    entry = _release(csr, privacy_officer, members[:1], partner)
    assert services.release_notices_sweep(grace_seconds=0) == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        notices_data_released(
            actor=None,
            member_ids=entry.member_ids,
            recipient="HomeWarm Offers",
            categories=["Contact information"],
            basis="you gave us your consent",
            release_key=f"disclosure:{entry.seq}",
        )
    assert Notice.objects.filter(kind="data_released").count() == 1


def test_a_rolled_back_release_owes_no_notices(csr, privacy_officer, members, partner):
    written_consent(csr, members[0], partner)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.disclosure_export(
            actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
        ).read_all()
        raise RuntimeError("roll back")
    assert not ReleaseNoticeDue.objects.exists()


def test_release_notices_store_names_and_texts_exactly_as_rendered(privacy_officer):
    """The notices go in with one COPY: a tab, a backslash or a line break in a name arrives intact, and
    every column a saved ``Notice`` has is filled the same way."""
    from members.notices.rendering import render_notice
    from tests.factories import MemberFactory

    member = MemberFactory(legal_name="Ann\\tO'Brien\tde\\Vries\nJr", email="Ann@Example.test")
    with transaction.atomic():
        notices_data_released(
            actor=privacy_officer,
            member_ids=[member.pk],
            recipient="HomeWarm Offers",
            categories=["Contact information"],
            basis="you gave us your consent",
            release_key="disclosure:77",
        )
    notice = Notice.objects.get(kind="data_released")
    assert notice.to_name == member.legal_name and notice.to_email == "ann@example.test"
    assert member.legal_name in notice.body and "\n" in notice.body
    assert (notice.state, notice.channel, notice.attempts, notice.to_address, notice.last_error) == (
        Notice.State.QUEUED,
        Notice.Channel.EMAIL,
        0,
        "",
        "",
    )
    assert notice.created_at is not None and notice.sent_at is None and notice.lease_until is None
    assert notice.message_id == f"<{notice.uuid}@{settings.NOTICE_MESSAGE_ID_DOMAIN}>"
    subject, body = render_notice(
        kind="data_released",
        member=member,
        context={
            "recipient": "HomeWarm Offers",
            "categories": "Contact information",
            "basis": "you gave us your consent",
            "when": notice.created_at,
        },
    )
    assert (notice.subject, notice.body) == (subject, body)
