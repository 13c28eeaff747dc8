"""Portal benchmark: ``portal.full_copy_s``, a member's full copy of their data (issue 14 item 3).

The member has ten years of monthly bills and payments, capital credits, and a year of 15-minute
readings (both channels, a solar meter) loaded through the usage store's ingest path; the copy is
timed as the portal makes it (``member_copy_export`` with the portal's own sections), as JSON and as
PDF. ``portal.full_copy_s`` is the slower of the two (the PDF), the median of a few runs.

The bench member (``BENCH-COPY``) and its login stay between runs: every copy is a release on the
insert-only disclosure log and an audit row, both of which name them. Bills, payments, credits and
readings are removed at the end. The member has no e-mail or mailing address, so no notice is queued.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account, Bill, Meter, Payment, Premise
from accounts.usage import timegrid
from accounts.usage.models import IngestBatch, MeterMonth
from accounts.usage.parsers import CSV_HEADER
from accounts.usage.services import meter_ids_by_number, usage_ingest_file
from disclosures.services import member_copy_export
from members.models import CapitalCreditAllocation, Member, User
from portal.views_rights import portal_copy_sections

NUMBER = "BENCH-COPY"


def _fixtures() -> tuple[Member, Account, Meter]:
    with transaction.atomic():
        user, _ = User.objects.get_or_create(username="bench-copy-member", defaults={"is_active": True})
        premise, _ = Premise.objects.get_or_create(
            premise_number="BENCHCOPY",
            defaults={"service_line1": "1 Copy Rd", "service_city": "Benchville", "service_state": "IL",
                      "service_postal_code": "62700"},
        )  # fmt: skip
        meter, _ = Meter.objects.get_or_create(meter_number=NUMBER, defaults={"premise": premise, "has_solar": True})
        member, _ = Member.objects.get_or_create(
            member_number=NUMBER,
            defaults={"legal_name": "Bench Copy Member", "status": "active", "user": user, "ssn": "900000001",
                      "date_of_birth": date(1960, 1, 2), "drivers_licence_number": "B1234567",
                      "drivers_licence_state": "IL"},
        )  # fmt: skip
        account, _ = Account.objects.get_or_create(
            account_number="BCOPY0001",
            defaults={"member": member, "premise": premise, "status": "open",
                      "opened_at": datetime(2015, 1, 1, tzinfo=UTC)},
        )  # fmt: skip
    return member, account, meter


def _history(member: Member, account: Account) -> None:
    """Ten years of monthly bills and payments, and ten capital-credit allocations."""
    today = timezone.localdate()
    bills, payments = [], []
    for months_ago in range(120):
        end = (today.replace(day=1) - timedelta(days=30 * months_ago)).replace(day=1) - timedelta(days=1)
        start = end.replace(day=1)
        bills.append(
            Bill(account=account, statement_number=f"BCOPY{months_ago:05d}", period_start=start, period_end=end,
                 issued_on=end + timedelta(days=2), due_on=end + timedelta(days=22),
                 kwh=Decimal("850.000"), amount_due=Decimal("112.40"), status="paid")
        )  # fmt: skip
        payments.append(
            Payment(account=account, amount=Decimal("112.40"), method="ach",
                    received_at=datetime.combine(end + timedelta(days=15), datetime.min.time(), tzinfo=UTC))
        )  # fmt: skip
    with transaction.atomic():
        Bill.objects.bulk_create(bills)
        Payment.objects.bulk_create(payments)
        CapitalCreditAllocation.objects.bulk_create(
            CapitalCreditAllocation(member=member, year=today.year - 1 - n, patronage_amount=Decimal("1300.00"),
                                    allocated_amount=Decimal("52.00"), allocated_on=date(today.year - n, 3, 1))
            for n in range(10)
        )  # fmt: skip


def _readings(meter: Meter, days: int) -> int:
    """``days`` of 15-minute readings ending yesterday, one file per 30 days, through the ingest path."""
    zone = timegrid.local_zone()
    rng = random.Random(14)  # noqa: S311 - benchmark data, not secrets
    lookup = meter_ids_by_number()
    first = timezone.localdate() - timedelta(days=days)
    loaded = 0
    for chunk_start in range(0, days, 30):
        lines = [",".join(CSV_HEADER) + "\n"]
        for offset in range(chunk_start, min(chunk_start + 30, days)):
            day = first + timedelta(days=offset)
            for slot in range(timegrid.slots_in_day(day, 15)):
                start = timegrid.slot_start_utc(day, 15, slot).astimezone(zone).isoformat()
                lines.append(f"{NUMBER},{start},900,{rng.randint(50, 400)},actual,delivered\n")
                if 28 <= slot <= 72:
                    lines.append(f"{NUMBER},{start},900,{rng.randint(0, 300)},actual,received\n")
        batch = usage_ingest_file(data="".join(lines).encode(), source="bench-copy", filename="copy.csv", meters=lookup)
        if batch.status != "loaded" or batch.bad_row_count:
            raise RuntimeError(f"bench readings rejected: {batch.rejection_reason or batch.bad_rows[:3]}")
        loaded += batch.readings_received
    return loaded


def _cleanup(meter: Meter | None = None) -> None:
    with transaction.atomic():
        Payment.objects.filter(account__account_number="BCOPY0001").delete()
        Bill.objects.filter(account__account_number="BCOPY0001").delete()
        CapitalCreditAllocation.objects.filter(member__member_number=NUMBER).delete()
        if meter is not None:
            with connection.cursor() as cursor:
                cursor.execute("DELETE FROM usage_meter_day WHERE meter_id = %s", [meter.pk])
            MeterMonth.objects.filter(meter=meter).delete()
        IngestBatch.objects.filter(source="bench-copy").delete()


def bench_full_copy(quick: bool = False) -> dict[str, float]:
    member, account, meter = _fixtures()
    _cleanup(meter)
    try:
        _history(member, account)
        readings = _readings(meter, 60 if quick else 365)
        timings: dict[str, list[float]] = {"json": [], "pdf": []}
        sizes: dict[str, int] = {}
        for _ in range(2 if quick else 3):
            for format in ("json", "pdf"):
                started = time.perf_counter()
                export = member_copy_export(
                    actor=member.user,
                    member=member,
                    format=format,
                    extra=portal_copy_sections(member),
                )
                sizes[format] = len(export.read_all())
                timings[format].append(time.perf_counter() - started)
        json_s, pdf_s = statistics.median(timings["json"]), statistics.median(timings["pdf"])
        return {
            "portal.full_copy_s": max(json_s, pdf_s),
            "portal.full_copy_json_s": json_s,
            "portal.full_copy_pdf_s": pdf_s,
            "portal.full_copy_pdf_kb": sizes["pdf"] / 1024,
            "portal.full_copy_bench_readings": float(readings),
        }
    finally:
        _cleanup(meter)
