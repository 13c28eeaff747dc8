"""Benchmarks of Red Flags case work: the case inbox with 50,000 open cases, and the C8 access-log scan.

Run against its own database (``manage.py bench --only redflags``). Members and cases are loaded by
COPY and deleted afterwards. The access log is the append-only audit trail: the scan benchmark loads
its rows by COPY and removes them afterwards with the append-only trigger suspended for that one
DELETE (``pgtrigger.ignore``; only possible for the bench's owner connection, never in the service).
"""

from __future__ import annotations

import datetime
import io
import os
import random
import statistics
import time

import pgtrigger
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from members import roles
from members.bench import percentile, staff_client
from members.models import User
from redflags.cases import access_scan
from redflags.cases.models import AccessAnomaly, AccessDailyCount
from redflags.models import TrainingAcknowledgement
from redflags.services.program import training_acknowledge

PREFIX = "RFC"
USERNAME = "bench-case-analyst"


def _copy(table: str, columns: str, rows) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(row) + "\n")
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", buffer)


def _load_cases(count: int, rng: random.Random) -> None:
    now = timezone.now()
    stamp = now.isoformat()
    _copy(
        "members_member",
        "member_number, kind, legal_name, name_search, status, mailing_line1, mailing_line2, mailing_city, "
        "mailing_state, mailing_postal_code, address_index, phone, phone_index, email, email_index, "
        "drivers_licence_state, employer_name, tax_id_index, licence_index, passport_index, "
        "alien_registration_index, ssn_last4, deposit_required, created_at, updated_at",
        (
            (
                f"{PREFIX}{n:07d}",
                "person",
                f"Case Member {n}",
                f"CASE MEMBER {n}",
                "active",
                f"{n} Case St",
                "",
                "Springfield",
                "IL",
                "62701",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "0",
                stamp,
                stamp,
            )
            for n in range(count)
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO redflags_cases_case (member_id, status, inbox, opened_at, due_at, label, resolution, "
            "program_version) SELECT id, 'open', CASE WHEN random() < 0.9 THEN 'analyst' ELSE "
            "'program_administrator' END, %s, %s + (random() * interval '10 days'), '', '', '2008.1' "
            "FROM members_member WHERE member_number LIKE %s",
            [now, now - datetime.timedelta(days=5), f"{PREFIX}%"],
        )
        cursor.execute("ANALYZE redflags_cases_case")


def _cleanup_cases() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM redflags_cases_case WHERE member_id IN (SELECT id FROM members_member WHERE member_number "
            "LIKE %s)",
            [f"{PREFIX}%"],
        )
        cursor.execute("DELETE FROM members_member WHERE member_number LIKE %s", [f"{PREFIX}%"])
    TrainingAcknowledgement.objects.filter(user__username=USERNAME).delete()
    User.objects.filter(username=USERNAME).delete()


def bench_case_inbox(quick: bool = False) -> dict[str, float]:
    """The analyst's inbox page (admin changelist) and the selector, with 50,000 open cases."""
    from redflags.cases.selectors import case_inbox

    rng = random.Random(16)  # noqa: S311 - benchmark data
    count = int(os.environ.get("BENCH_OPEN_CASES", 5_000 if quick else 50_000))
    _cleanup_cases()
    try:
        _load_cases(count, rng)
        user = User.objects.create_user(username=USERNAME, password=None, is_staff=True)
        user.groups.add(Group.objects.get(name=roles.RED_FLAG_ANALYST))
        training_acknowledge(user=user, trained_by=None)
        user = User.objects.get(pk=user.pk)
        client = staff_client(user)
        page_timings, selector_timings = [], []
        for index in range(55 if quick else 205):
            begin = time.perf_counter()
            response = client.get("/admin/redflags_cases/case/")
            elapsed = (time.perf_counter() - begin) * 1000
            assert response.status_code == 200, response.status_code  # noqa: S101 - a benchmark that measured an error is wrong
            begin = time.perf_counter()
            list(case_inbox(user=user))
            selector_elapsed = (time.perf_counter() - begin) * 1000
            if index >= 5:
                page_timings.append(elapsed)
                selector_timings.append(selector_elapsed)
    finally:
        _cleanup_cases()
    return {
        "redflags.case_inbox_ms_p50": statistics.median(page_timings),
        "redflags.case_inbox_ms_p95": percentile(page_timings, 95),
        "redflags.case_inbox_selector_ms_p95": percentile(selector_timings, 95),
        "redflags.case_inbox_open_cases": float(count),
    }


def _load_access_rows(rows: int, staff_ids: list[int], member_ids: list[int], rng: random.Random) -> None:
    start = timezone.now() - datetime.timedelta(hours=23)
    chunk = 200_000
    for offset in range(0, rows, chunk):
        _copy(
            "members_auditevent",
            "at, actor_id, actor_label, action, object_type, object_id, fields, detail, reason",
            (
                (
                    (start + datetime.timedelta(seconds=rng.randrange(82_800))).isoformat(),
                    str(rng.choice(staff_ids)),
                    "bench",
                    "access.view_member",
                    "members.member",
                    str(rng.choice(member_ids)),
                    "[]",
                    '{"channel": "bench"}',
                    "",
                )
                for _ in range(min(chunk, rows - offset))
            ),
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE members_auditevent")


def bench_access_anomaly_scan(quick: bool = False) -> dict[str, float]:
    """C8: one scan over a window holding N access rows (10,000,000 in full; BENCH_ACCESS_ROWS overrides)."""
    rng = random.Random(8)  # noqa: S311 - benchmark data
    rows = int(os.environ.get("BENCH_ACCESS_ROWS", 200_000 if quick else 10_000_000))
    members = 20_000
    _cleanup_cases()
    staff_ids: list[int] = []
    try:
        _load_cases(members, rng)
        with connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM redflags_cases_case WHERE member_id IN (SELECT id FROM members_member "
                "WHERE member_number LIKE %s)",
                [f"{PREFIX}%"],
            )
            cursor.execute("SELECT id FROM members_member WHERE member_number LIKE %s", [f"{PREFIX}%"])
            member_ids = [row[0] for row in cursor.fetchall()]
        group = Group.objects.get(name=roles.CSR)
        for n in range(40):
            user = User.objects.create_user(username=f"bench-access-{n}", password=None, is_staff=True)
            user.groups.add(group)
            staff_ids.append(user.pk)
        begin = time.perf_counter()
        _load_access_rows(rows, staff_ids, member_ids, rng)
        load_seconds = time.perf_counter() - begin
        begin = time.perf_counter()
        found = access_scan.access_anomaly_scan(end=timezone.now() + datetime.timedelta(minutes=1))
        scan_seconds = time.perf_counter() - begin
    finally:
        AccessAnomaly.objects.filter(staff_id__in=staff_ids).delete()
        AccessDailyCount.objects.filter(staff_id__in=staff_ids).delete()
        with pgtrigger.ignore("members.AuditEvent:audit_append_only"), connection.cursor() as cursor:
            cursor.execute(
                "DELETE FROM members_auditevent WHERE actor_id = ANY(%s) OR action = 'redflags.access_anomaly_scan'",
                [staff_ids],
            )
        User.objects.filter(pk__in=staff_ids).delete()
        _cleanup_cases()
    return {
        "redflags.access_anomaly_scan_s": scan_seconds,
        "redflags.access_anomaly_scan_rows": float(rows),
        "redflags.access_anomaly_scan_load_s": load_seconds,
        "redflags.access_anomaly_scan_staff_flagged": float(found["volume"] + found["no_open_work"]),
    }


# Run from redflags/bench.py, so ``manage.py bench --only redflags`` includes them (this app's label
# is redflags_cases).
BENCHMARKS: list = []
