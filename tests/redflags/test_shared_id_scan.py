"""Red Flag B5 for bulk-imported members: the shared SSN/TIN scan (services.shared_tax_id_scan).

The CIS import loads members with COPY and raises no opening, so nothing scores them; the scan finds
every group of members with the same taxpayer number (confirmed by decrypting, not by the 12-bit blind
index) and puts each member of a group through the engine, so B5 lands in the ordinary review queue.
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command
from django.db import connection

from accounts.cis_import import COLUMNS, import_members
from accounts.cis_import.synthetic import synthetic_row
from accounts.models import Account
from members import crypto
from members.audit import AuditEvent
from members.models import Member
from redflags import events, services
from redflags.models import Flag, ObservedEvent, ReviewItem, RiskAssessment
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

SHARED_SSN = "215-44-3821"
SHARED_DIGITS = "215443821"


def _colliding_ssn(ssn_digits: str) -> str:
    """Another valid SSN with the same 12-bit blind index and the same last four (so even the engine's
    SQL narrowing keeps it as a candidate): only decrypting tells the two apart."""
    target, last4 = crypto.blind_index("ssn", ssn_digits), ssn_digits[-4:]
    for area in range(100, 666):
        for group in range(1, 100):
            candidate = f"{area:03d}{group:02d}{last4}"
            if candidate != ssn_digits and crypto.blind_index("ssn", candidate) == target:
                return f"{candidate[:3]}-{candidate[3:5]}-{candidate[5:]}"
    raise AssertionError("no colliding SSN found")  # pragma: no cover - 56,000 tries, ~14 expected hits


def _import(rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    buffer.seek(0)
    report = import_members(buffer, workers=1)
    assert report.members_loaded == len(rows), report.errors


def _member(row: dict) -> Member:
    return Member.objects.get(member_number=row["member_number"])


def _b5_items(member: Member) -> list[ReviewItem]:
    return list(ReviewItem.objects.filter(member=member, assessment__flags__code="B5_SSN_SHARED"))


def _b5_evidence(member: Member) -> str:
    return "; ".join(
        Flag.objects.filter(code="B5_SSN_SHARED", assessment__member=member).values_list("evidence", flat=True)
    )


@pytest.fixture
def imported():
    """Three imported people: two with the same SSN, a third whose SSN only collides in the blind index."""
    rows = [synthetic_row(index, prefix="S") for index in (1, 2, 3, 4)]
    rows[0]["ssn"] = rows[1]["ssn"] = SHARED_SSN
    rows[2]["ssn"] = _colliding_ssn(SHARED_DIGITS)
    _import(rows)
    first, second, collider, bystander = (_member(row) for row in rows)
    assert collider.tax_id_index == first.tax_id_index and collider.ssn_last4 == first.ssn_last4  # a real candidate
    return first, second, collider, bystander


def test_imported_members_sharing_an_ssn_are_queued_with_evidence_naming_each_other(imported):
    first, second, collider, bystander = imported
    assert not RiskAssessment.objects.exists()  # the import itself scored nothing

    counts = services.shared_tax_id_scan()

    assert counts["members_checked"] == 4
    assert counts["groups_found"] == 1 and counts["members_in_groups"] == 2
    assert counts["members_flagged"] == 2
    for member, other in ((first, second), (second, first)):
        [item] = _b5_items(member)
        assert item.status == ReviewItem.Status.OPEN and item.outcome == "hold"
        assert item.assessment.event_name == events.TAX_ID_SCAN
        assert f"SSN matches member {other.member_number}" in _b5_evidence(member)
        # The ordinary post-opening response to a queued flag: the live account carries the warning.
        account = Account.objects.get(member=member)
        assert item.account == account and account.red_flag_warning
    assert _b5_items(collider) == [] and _b5_items(bystander) == []
    assert not RiskAssessment.objects.filter(member__in=[collider, bystander]).exists()


def test_a_second_scan_creates_nothing_new(imported):
    services.shared_tax_id_scan()
    before = (
        ObservedEvent.objects.count(),
        RiskAssessment.objects.count(),
        Flag.objects.count(),
        ReviewItem.objects.count(),
    )

    counts = services.shared_tax_id_scan()

    assert counts["groups_found"] == 1 and counts["members_flagged"] == 0 and counts["members_already_flagged"] == 2
    assert (
        ObservedEvent.objects.count(),
        RiskAssessment.objects.count(),
        Flag.objects.count(),
        ReviewItem.objects.count(),
    ) == before


def test_a_resolved_item_stays_resolved_until_someone_new_shares_the_number(imported, analyst):
    first, second, *_ = imported
    services.shared_tax_id_scan()
    for member in (first, second):
        [item] = _b5_items(member)
        services.review_respond(item=item, actor=analyst, kind="monitor", notes="twins mixed up in the legacy CIS")

    assert services.shared_tax_id_scan()["members_flagged"] == 0

    newcomer = MemberFactory(ssn=SHARED_DIGITS)
    counts = services.shared_tax_id_scan()
    assert counts["members_in_groups"] == 3 and counts["members_flagged"] == 3
    assert newcomer.member_number in _b5_evidence(first)
    assert ReviewItem.objects.filter(member=first, status=ReviewItem.Status.OPEN).count() == 1


def test_the_scan_never_writes_the_number(imported):
    services.shared_tax_id_scan()
    texts = [
        *Flag.objects.values_list("evidence", flat=True),
        *(str(fired) for fired in RiskAssessment.objects.values_list("fired", flat=True)),
        *(str(payload) for payload in ObservedEvent.objects.values_list("payload", flat=True)),
        *(f"{event.detail} {event.reason}" for event in AuditEvent.objects.filter(action__startswith="redflags.")),
    ]
    scan_audit = AuditEvent.objects.get(action="redflags.tax_id_scan")
    assert scan_audit.detail["members_flagged"] == 2 and scan_audit.detail["groups_found"] == 1
    assert texts and not [text for text in texts if SHARED_DIGITS in text or SHARED_SSN in text or "3821" in text]


def test_a_business_tin_with_the_same_nine_digits_as_a_persons_ssn_is_shared(db):
    person, business = synthetic_row(7, prefix="T"), synthetic_row(25, prefix="T")
    assert business["kind"] == "business"
    person["ssn"] = SHARED_SSN
    business["tin"] = f"{SHARED_DIGITS[:2]}-{SHARED_DIGITS[2:]}"
    _import([person, business])

    counts = services.shared_tax_id_scan()

    assert counts["groups_found"] == 1 and counts["members_flagged"] == 2
    assert f"SSN matches member {business['member_number']}" in _b5_evidence(_member(person))
    assert f"TIN matches member {person['member_number']}" in _b5_evidence(_member(business))


def test_member_ids_limit_who_is_reported_not_who_is_matched(imported):
    first, second, *_ = imported
    existing = MemberFactory(ssn=SHARED_DIGITS)  # a member of long standing with the same SSN

    counts = services.shared_tax_id_scan(member_ids=[first.pk])

    assert counts["members_in_groups"] == 3 and counts["members_flagged"] == 1
    assert existing.member_number in _b5_evidence(first) and second.member_number in _b5_evidence(first)
    assert _b5_items(second) == [] and _b5_items(existing) == []


def test_the_command_prints_the_counts_and_honours_the_prefix(imported):
    existing = MemberFactory(ssn=SHARED_DIGITS)
    out = io.StringIO()

    call_command("redflags_scan_shared_ids", "--member-number-prefix", "S", stdout=out)

    text = out.getvalue()
    assert (
        "5 members checked: 1 groups sharing an SSN/TIN (3 members); 2 members flagged for review, 0 already flagged"
        in text
    )
    assert SHARED_DIGITS not in text and "3821" not in text
    assert _b5_items(existing) == []
    out = io.StringIO()
    call_command("redflags_scan_shared_ids", stdout=out)
    assert "1 members flagged for review, 2 already flagged" in out.getvalue()
    assert len(_b5_items(existing)) == 1


def test_a_member_whose_ssn_does_not_decrypt_stops_the_scan_naming_only_the_member(imported):
    first, *_ = imported
    with connection.cursor() as cursor:
        cursor.execute("UPDATE members_member SET ssn = %s WHERE id = %s", [b"not-a-fernet-token", first.pk])
    with pytest.raises(services.TaxIdScanError, match=f"member id {first.pk}:") as caught:
        services.shared_tax_id_scan()
    assert SHARED_DIGITS not in str(caught.value)
    assert not AuditEvent.objects.filter(action="redflags.tax_id_scan").exists()
