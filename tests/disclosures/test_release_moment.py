"""Issue 11 items 2 and 8: consent is checked when each member's data is released, every member left out
is logged as refused with the reason, and a JSON release cut off part-way never ends like a complete one."""

from __future__ import annotations

import json

import pytest
from django.db import IntegrityError

from disclosures import services
from disclosures.models import DataCategory as C
from disclosures.models import DisclosureLogEntry, Purpose
from members.models import AuditEvent
from tests.db_owner import tamper
from tests.disclosures.conftest import written_consent

pytestmark = pytest.mark.django_db


def _prepare(privacy_officer, partner, member_ids, fmt="json", basis=None):
    return services.disclosure_export(
        actor=privacy_officer,
        recipient=partner,
        categories=[C.CONTACT],
        purpose=Purpose.MARKETING,
        member_ids=member_ids,
        basis=basis,
        format=fmt,
    )


def test_a_consent_revoked_after_the_release_was_prepared_stops_that_members_data(
    csr, privacy_officer, members, partner
):
    consents = [written_consent(csr, member, partner) for member in members]
    export = _prepare(privacy_officer, partner, [m.pk for m in members])
    revoked = members[1]
    services.consent_revoke(actor=csr, consent=consents[1], channel="written")

    document = json.loads(export.read_all())

    sent = {record["member_number"] for record in document["records"]}
    assert revoked.member_number not in sent and len(sent) == 2
    assert document["complete"] == {"records": 2, "members": 2, "withheld": 1}
    assert revoked.pk not in export.entry.member_ids
    refused = DisclosureLogEntry.objects.get(outcome="refused")
    assert refused.member_ids == [revoked.pk]
    assert "moment of release" in refused.reason and f"consent #{consents[1].pk} was revoked" in refused.reason
    assert AuditEvent.objects.filter(action="disclosure.refused", object_id=str(refused.seq)).exists()


def test_a_single_consent_basis_is_checked_again_when_the_data_is_read(csr, privacy_officer, members, partner):
    consent = written_consent(csr, members[0], partner)
    export = _prepare(privacy_officer, partner, None, fmt="csv", basis=consent)
    services.consent_revoke(actor=csr, consent=consent, channel="phone")

    data = export.read_all().decode()

    assert members[0].member_number not in data
    refused = DisclosureLogEntry.objects.get(outcome="refused")
    assert refused.member_ids == [members[0].pk] and "revoked" in refused.reason
    assert export.entry.member_ids == [] and export.entry.outcome == "released"


def test_a_complete_json_release_ends_with_its_completeness_marker(csr, privacy_officer, members, partner):
    for member in members:
        written_consent(csr, member, partner)
    document = json.loads(_prepare(privacy_officer, partner, [m.pk for m in members]).read_all())
    assert document["complete"] == {"records": 3, "members": 3, "withheld": 0}


def test_a_release_that_fails_before_it_is_logged_never_sends_its_last_bytes(csr, privacy_officer, members, partner):
    """A real failure at the end of the stream: the audit row of the release collides with a row an
    administrator slipped into the audit trail (unique ``seq``). Everything but the closing bytes had been
    produced; they are not sent, so the recipient's document is visibly cut off."""
    for member in members:
        written_consent(csr, member, partner)
    export = _prepare(privacy_officer, partner, [m.pk for m in members])
    next_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() + 1
    tamper(
        "INSERT INTO members_auditevent (seq, at, actor_label, action, object_type, object_id, fields, detail,"
        " reason, prev_hash, entry_hash) VALUES (%s, now(), '', 'x', '', '', '[]', '{}', '', '', '')",
        [next_seq],
    )
    received = b""
    with pytest.raises(IntegrityError):
        for chunk in export.chunks():
            received += chunk
    assert received.startswith(b'{"meta":') and b'"member_number"' in received
    assert b'"complete"' not in received
    with pytest.raises(json.JSONDecodeError):
        json.loads(received)


def test_a_reader_gone_before_the_last_chunk_gets_no_completeness_marker_and_the_log_says_interrupted(
    csr, privacy_officer, members, partner, client, monkeypatch
):
    from disclosures import rendering

    monkeypatch.setattr(rendering, "CHUNK_ROWS", 1)  # one record per chunk, so there is a middle to stop in
    for member in members:
        written_consent(csr, member, partner)
    chunks = _prepare(privacy_officer, partner, [m.pk for m in members]).chunks()
    received = next(chunks) + next(chunks)
    chunks.close()
    assert b'"complete"' not in received
    entry = DisclosureLogEntry.objects.get()
    assert entry.outcome == "interrupted"
