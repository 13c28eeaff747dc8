"""The export service's output: trimmed, streamed, checksummed, injection-safe, Green Button valid."""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json

import pytest

from accounts.usage.espi import espi_validate
from disclosures import rendering, services
from disclosures.models import DataCategory as C
from disclosures.models import DisclosureLogEntry, LegalBasis, Purpose, Recipient
from disclosures.services import export_rows
from members.models import AuditEvent
from tests.disclosures.conftest import written_consent
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\r=1", "'\r=1"),
        ("-12.5", "-12.5"),
        ("\uff1dSUM(A1)", "'\uff1dSUM(A1)"),
        ("\uff0b1", "'\uff0b1"),
        ("\uff0d1", "'\uff0d1"),
        ("\uff20SUM(A1)", "'\uff20SUM(A1)"),
        ("\r\n=1", "'\r\n=1"),
        ("Main St", "Main St"),
        (None, ""),
    ],
)
def test_csv_cells_are_neutralised_against_formula_injection(value, expected):
    assert rendering.csv_safe(value) == expected


def test_a_member_named_like_a_formula_reaches_the_recipient_as_text(csr, privacy_officer, partner):
    member = MemberFactory(legal_name='=cmd|"/c calc"!A1', mailing_line1="@evil")
    written_consent(csr, member, partner)
    data = services.disclosure_export(
        actor=privacy_officer,
        recipient=partner,
        categories=[C.CONTACT],
        purpose=Purpose.MARKETING,
        member_ids=[member.pk],
    ).read_all()
    row = list(csv.DictReader(io.StringIO(data.decode())))[0]
    assert row["legal_name"].startswith("'=") and row["mailing_line1"] == "'@evil"


def test_the_log_carries_the_sha256_of_exactly_the_bytes_sent(csr, privacy_officer, members, partner):
    for member in members:
        written_consent(csr, member, partner)
    export = services.disclosure_export(
        actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING, format="json"
    )
    data = export.read_all()
    assert export.entry.file_sha256 == hashlib.sha256(data).hexdigest()
    assert export.entry.row_count == 3 and sorted(export.entry.member_ids) == sorted(m.pk for m in members)
    document = json.loads(data)
    assert [r["member_number"] for r in document["records"]] == [
        m.member_number for m in sorted(members, key=lambda m: m.pk)
    ]


def test_billing_fields_are_decrypted_only_for_a_basis_that_covers_them(
    csr, privacy_officer, members, contractor, privacy_officer_agreement_billing
):
    basis = privacy_officer_agreement_billing
    data = services.disclosure_export(
        actor=privacy_officer,
        recipient=contractor,
        categories=[C.BILLING],
        purpose=Purpose.COLLECTION,
        basis=basis,
        member_ids=[members[0].pk],
    ).read_all()
    row = list(csv.DictReader(io.StringIO(data.decode())))[0]
    assert row["ssn"] == members[0].ssn and row["date_of_birth"] == members[0].date_of_birth.isoformat()
    assert "legal_name" not in row and "drivers_licence_number" not in row


@pytest.fixture
def privacy_officer_agreement_billing(privacy_officer, contractor):
    from datetime import timedelta

    from django.utils import timezone

    today = timezone.localdate()
    agreement = services.agreement_record(
        actor=privacy_officer,
        recipient=contractor,
        reference="COLL-1",
        scope="collections",
        categories=[C.BILLING],
        signed_on=today,
        effective_from=today,
        expires_on=today + timedelta(days=30),
    )
    return services.legal_basis_record(
        actor=privacy_officer,
        kind=LegalBasis.Kind.CONTRACTOR,
        recipient=contractor,
        agreement=agreement,
        categories=[C.BILLING],
        purpose=Purpose.COLLECTION,
        valid_until=timezone.now() + timedelta(days=5),
    )


def test_the_export_streams_in_chunks_and_logs_only_when_complete(csr, privacy_officer, members, partner, monkeypatch):
    monkeypatch.setattr(rendering, "CHUNK_ROWS", 1)
    monkeypatch.setattr(export_rows, "EXPORT_PAGE_SIZE", 2)  # members are read a page at a time too
    for member in members:
        written_consent(csr, member, partner)
    export = services.disclosure_export(
        actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
    )
    chunks = export.chunks()
    first = next(chunks)
    assert first.startswith(b"member_number,")
    assert not DisclosureLogEntry.objects.filter(outcome="released").exists()  # nothing logged mid-stream
    rest = list(chunks)
    assert len(rest) >= 3
    assert DisclosureLogEntry.objects.get(outcome="released").member_ids == sorted(m.pk for m in members)


def test_an_abandoned_download_is_logged_as_interrupted_with_what_was_sent(
    csr, privacy_officer, members, partner, monkeypatch
):
    monkeypatch.setattr(rendering, "CHUNK_ROWS", 1)
    for member in members:
        written_consent(csr, member, partner)
    export = services.disclosure_export(
        actor=privacy_officer, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
    )
    chunks = export.chunks()
    next(chunks), next(chunks)
    chunks.close()  # the client went away
    entry = DisclosureLogEntry.objects.get()
    assert entry.outcome == "interrupted" and entry.member_ids and "interrupted" in entry.reason
    assert AuditEvent.objects.filter(action="disclosure.interrupted", object_id=str(entry.seq)).exists()


def test_usage_cannot_be_mixed_with_other_categories(privacy_officer, members, partner):
    with pytest.raises(services.DisclosureRefused, match="on its own"):
        services.disclosure_export(
            actor=privacy_officer,
            recipient=partner,
            categories=[C.USAGE, C.CONTACT],
            purpose=Purpose.MARKETING,
            member_ids=[members[0].pk],
        )


def test_green_button_xml_is_for_usage_only(csr, privacy_officer, members, partner):
    written_consent(csr, members[0], partner)
    with pytest.raises(services.DisclosureRefused, match="usage data only"):
        services.disclosure_export(
            actor=privacy_officer,
            recipient=partner,
            categories=[C.CONTACT],
            purpose=Purpose.MARKETING,
            member_ids=[members[0].pk],
            format="espi",
        )


# --- Usage exports with the usage app's real data ---------------------------------------------------


@pytest.fixture
def usage_account(db):
    from accounts.usage.services import usage_ingest_file
    from tests.factories import MeterFactory, OpenAccountFactory
    from tests.usage.conftest import csv_bytes, day_lines

    meter = MeterFactory(meter_number="MTR-D-0001", has_solar=True)
    account = OpenAccountFactory(premise=meter.premise, opened_at=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC))
    day = datetime.date(2026, 3, 8)  # a daylight-saving day: 23 local hours
    lines = day_lines(meter.meter_number, day) + day_lines(
        meter.meter_number, day + datetime.timedelta(days=1), quality="estimated"
    )
    lines += day_lines(meter.meter_number, day, channel="received", values=[5] * 92)
    batch = usage_ingest_file(data=csv_bytes(lines), source="test", filename="t.csv")
    assert batch.status == "loaded", batch.bad_rows
    return account


@pytest.fixture
def solar_installer_consent(csr, usage_account, recipient):
    installer = recipient(Recipient.Kind.MEMBER_DESIGNATED, "SunnyRoof Solar")
    return written_consent(
        csr, usage_account.member, installer, categories=[C.USAGE], purpose=Purpose.MEMBER_DESIGNATED
    )


def test_a_green_button_export_validates_against_the_espi_schema(privacy_officer, solar_installer_consent):
    export = services.disclosure_export(
        actor=privacy_officer,
        recipient=solar_installer_consent.recipient,
        categories=[C.USAGE],
        purpose=Purpose.MEMBER_DESIGNATED,
        basis=solar_installer_consent,
        format="espi",
        usage_start=datetime.date(2026, 3, 1),
        usage_end=datetime.date(2026, 3, 31),
    )
    document = export.read_all()
    assert espi_validate(document) == []
    assert document.count(b"<espi:IntervalReading>") == 92 + 96 + 92
    assert b"<espi:flowDirection>19</espi:flowDirection>" in document  # the solar channel
    assert b"<espi:quality>8</espi:quality>" in document  # estimated intervals flagged
    assert export.entry.format == "espi" and export.entry.file_sha256 == hashlib.sha256(document).hexdigest()


def test_the_schema_check_catches_an_invalid_document(privacy_officer, solar_installer_consent):
    document = services.disclosure_export(
        actor=privacy_officer,
        recipient=solar_installer_consent.recipient,
        categories=[C.USAGE],
        purpose=Purpose.MEMBER_DESIGNATED,
        basis=solar_installer_consent,
        format="espi",
        usage_start=datetime.date(2026, 3, 1),
        usage_end=datetime.date(2026, 3, 31),
    ).read_all()
    broken = document.replace(b"<espi:duration>900</espi:duration>", b"<espi:duration>-900</espi:duration>", 1)
    assert espi_validate(broken)


def test_monthly_usage_exports_as_csv(privacy_officer, solar_installer_consent, usage_account):
    data = services.disclosure_export(
        actor=privacy_officer,
        recipient=solar_installer_consent.recipient,
        categories=[C.USAGE],
        purpose=Purpose.MEMBER_DESIGNATED,
        basis=solar_installer_consent,
        usage_start=datetime.date(2026, 1, 1),
        usage_end=datetime.date(2026, 12, 1),
    ).read_all()
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert {(r["account_number"], r["month"], r["channel"]) for r in rows} == {
        (usage_account.account_number, "2026-03-01", "delivered"),
        (usage_account.account_number, "2026-03-01", "received"),
    }
