"""Red Flags after a CIS migration: shared addresses and phones (B6) and the fraud list (B3) over the
members it loaded, through the engine (services.import_scan, from the members_imported receiver)."""

from __future__ import annotations

import csv

import pytest

from accounts.cis_migrate import migrate
from accounts.cis_migrate.synthetic import write_coop
from members.models import AuditEvent, Member
from redflags import events, services
from redflags.models import Flag, RiskAssessment

pytestmark = pytest.mark.django_db

B6, B3 = "B6_ADDRESS_OR_PHONE_SHARED", "B3_KNOWN_FRAUD"


def _evidence(number: str, code: str) -> str:
    return "; ".join(
        Flag.objects.filter(code=code, assessment__member__member_number=number).values_list("evidence", flat=True)
    )


@pytest.fixture
def coop(tmp_path):
    """Six members: 2 has 1's phone, 4 has 3's mailing address, 5's bank account is on the fraud list."""
    write_coop(tmp_path, members=6, months=1, prefix="F")
    path = tmp_path / "members.csv"
    rows = list(csv.reader(path.open(encoding="utf-8-sig")))
    header = rows[0]
    phone, line1, postal = header.index("phone"), header.index("mailing_line1"), header.index("mailing_postal_code")
    rows[3][phone] = rows[2][phone]
    rows[5][line1], rows[5][postal] = rows[4][line1], rows[4][postal]
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    services.fraud_entry_add(
        kind="bank_account",
        value=("011000015", "0000000003"),
        listing="fraudulent_application",
        source="case 2025-14",
        actor=None,
    )
    return tmp_path


def test_members_sharing_a_phone_or_address_and_fraud_list_matches_are_queued_after_a_migration(coop):
    outcome = migrate(coop)

    assert any("B6" in summary for summary in outcome.red_flags)
    assert "phone matches member F0000001" in _evidence("F0000002", B6)
    assert "phone matches member F0000002" in _evidence("F0000001", B6)
    assert "address matches member F0000003" in _evidence("F0000004", B6)
    assert "bank account matches known-fraud list entry" in _evidence("F0000003", B3)
    assessed = set(RiskAssessment.objects.values_list("member__member_number", flat=True))
    assert assessed == {"F0000001", "F0000002", "F0000003", "F0000004"}  # F0000000 and F0000005: nothing shared
    assert all(a.event_name == events.IMPORT_SCAN for a in RiskAssessment.objects.all())
    # Evidence names member numbers and the kind of match, never the value.
    everything = " ".join(Flag.objects.values_list("evidence", flat=True))
    assert "555-" not in everything and "0000000003" not in everything
    assert AuditEvent.objects.filter(action="redflags.import_scan").count() == 1


def test_a_second_scan_of_the_same_members_creates_nothing_new(coop):
    migrate(coop)
    before = RiskAssessment.objects.count()

    counts = services.imported_contact_scan(member_ids=Member.objects.values_list("pk", flat=True))

    assert counts["members_assessed"] == 0 and counts["members_already_scanned"] == 4
    assert RiskAssessment.objects.count() == before
