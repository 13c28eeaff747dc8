"""Red Flags benchmark: scoring an account opening with a million members in the registry.

Members are bulk-loaded with COPY (random blind-index values of the registry's width, one shared
ciphertext for the SSN so candidate confirmation really decrypts), plus a fraud list of 1,000 entries.
Each timed opening is a fresh applicant whose SSN, address and phone indexes each collide with ~250
loaded members (what the registry's 12-bit index gives at this scale; the engine narrows them in SQL),
scored by the same service the ``account_opening`` receiver calls, inside a transaction that is rolled
back. Everything loaded is deleted afterwards.

Run it against its own database: ``DATABASE_URL=.../mg_redflags_bench manage.py bench --only redflags``.
"""

from __future__ import annotations

import io
import random
import statistics
import time

from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Account
from members import crypto
from members.models import Member
from redflags.cases.bench import bench_access_anomaly_scan, bench_case_inbox
from redflags.lookups import DUPLICATE_SQL
from redflags.models import KnownFraudEntry
from redflags.services.assessments import opening_assess
from redflags.services.rules import catalogue_sync

PREFIX = "RFB"
FRAUD_SOURCE = "benchmark (deleted afterwards)"


def _p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _load_members(count: int, rng: random.Random) -> None:
    ciphertext = crypto.fernet().encrypt(b"123009999").hex()
    licence_ciphertext = crypto.fernet().encrypt(b"B00000000").hex()
    bits, width = crypto.BLIND_INDEX_BITS, crypto.BLIND_INDEX_HEX_LENGTH

    def index() -> str:
        return f"{rng.getrandbits(bits):0{width}x}"

    now = timezone.now().isoformat()
    columns = (
        "member_number, kind, legal_name, name_search, status, "
        "mailing_line1, mailing_line2, mailing_city, mailing_state, mailing_postal_code, address_index, "
        "phone, phone_index, email, email_index, ssn, drivers_licence_number, drivers_licence_state, employer_name, "
        "tax_id_index, licence_index, passport_index, alien_registration_index, ssn_last4, deposit_required, "
        "created_at, updated_at, phone_extension"
    )
    chunk = 50_000
    with connection.cursor() as cursor:
        for start in range(0, count, chunk):
            buffer = io.StringIO()
            for number in range(start, min(count, start + chunk)):
                buffer.write(
                    f"{PREFIX}{number:07d}\tperson\tBench Member {number}\tBENCH MEMBER {number}\tactive\t"
                    f"{number} Bench St\t\tSpringfield\tIL\t"
                    f"62701\t{index()}\t+12175550100\t{index()}\t\t{index()}\t\\\\x{ciphertext}\t"
                    f"\\\\x{licence_ciphertext}\tIL\t\t"
                    f"{index()}\t{index()}\t\t\t{rng.randrange(10000):04d}\t0\t{now}\t{now}\t\n"
                )
            buffer.seek(0)
            cursor.copy_expert(f"COPY members_member ({columns}) FROM STDIN", buffer)
    # A production table is vacuumed; without this the first read of each freshly COPYed page sets
    # hint bits and writes it back, which would be timed as if it were scoring work.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE members_member")


def _load_fraud_list(rng: random.Random) -> None:
    kinds = ["tax_id", "phone", "address", "email", "licence", "bank_account"]
    KnownFraudEntry.objects.bulk_create(
        [
            KnownFraudEntry(
                kind=rng.choice(kinds),
                index_value=f"{rng.getrandbits(crypto.BLIND_INDEX_BITS):0{crypto.BLIND_INDEX_HEX_LENGTH}x}",
                value=f"bench-{index}",
                source=FRAUD_SOURCE,
            )
            for index in range(1_000)
        ]
    )


# Example parameters of each duplicate lookup (the engine's own SQL), for EXPLAIN.
_EXPLAIN_PARAMS = {
    "tax_id": ["abc", "1234", 0],
    "licence": ["abc", "IL", 0],
    "address": ["abc", "62701", ["12"], ["12"], 0],
    "phone": ["abc", "+12175550100", 0],
}


def _explain_uses_index() -> bool:
    """Each duplicate lookup (one statement per kind, no cap) must be an index scan, not a table scan."""
    plans = []
    with connection.cursor() as cursor:
        for kind, sql in DUPLICATE_SQL.items():
            cursor.execute("EXPLAIN " + sql, _EXPLAIN_PARAMS[kind])
            plans.append(" ".join(row[0] for row in cursor.fetchall()))
    return all("Index" in plan and "Seq Scan on members_member" not in plan for plan in plans)


def _cleanup() -> None:
    KnownFraudEntry.objects.filter(source=FRAUD_SOURCE).delete()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM members_member WHERE member_number LIKE %s", [f"{PREFIX}%"])


def bench_opening_score(quick: bool = False) -> dict[str, float]:
    rng = random.Random(20081216)  # noqa: S311 - benchmark data, not security
    members = 20_000 if quick else 1_000_000
    iterations = 50 if quick else 300
    catalogue_sync()
    started = time.perf_counter()
    try:
        _load_members(members, rng)
        _load_fraud_list(rng)
        load_seconds = time.perf_counter() - started
        uses_index = _explain_uses_index()
        timings: list[float] = []
        checklist = {
            "identity_document_reviewed": True,
            "identity_document_type": "drivers_licence",
            "identifying_information_obtained": True,
        }
        for index in range(iterations + 5):
            with transaction.atomic():
                ssn = f"1230{rng.randrange(10**5):05d}"
                line1 = f"{rng.randrange(1, 99999)} Applicant Ave"
                phone = f"+1217555{rng.randrange(200, 9999):04d}"
                licence = f"B{rng.randrange(10**8):08d}"
                member = Member.objects.create(
                    member_number=f"{PREFIX}X{index:06d}",
                    legal_name="Bench Applicant",
                    status="applicant",
                    mailing_line1=line1,
                    mailing_city="Springfield",
                    mailing_state="IL",
                    mailing_postal_code="62701",
                    address_index=crypto.blind_index("address", (line1, "", "Springfield", "IL", "62701")),
                    phone=phone,
                    phone_index=crypto.blind_index("phone", phone),
                    ssn=ssn,
                    tax_id_index=crypto.blind_index("ssn", ssn),
                    ssn_last4=ssn[-4:],
                    drivers_licence_number=licence,
                    drivers_licence_state="IL",
                    licence_index=crypto.blind_index("licence", (licence, "IL")),
                )
                account = Account.objects.create(
                    member=member, account_number=f"{PREFIX}A{index:06d}", status="pending"
                )
                begin = time.perf_counter()
                opening_assess(account=account, actor=None, checklist=checklist)
                elapsed = (time.perf_counter() - begin) * 1000
                if index >= 5:  # warm-up: first queries, caches
                    timings.append(elapsed)
                transaction.set_rollback(True)
    finally:
        _cleanup()
    return {
        "redflags.opening_score_ms_p50": statistics.median(timings),
        "redflags.opening_score_ms_p95": _p(timings, 95),
        "redflags.bench_members": float(members),
        "redflags.bench_load_s": load_seconds,
        "redflags.duplicate_lookup_uses_index": 1.0 if uses_index else 0.0,
    }


BENCHMARKS = [bench_opening_score, bench_case_inbox, bench_access_anomaly_scan]
