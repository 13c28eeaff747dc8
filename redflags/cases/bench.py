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

from django.contrib.auth.models import Group
from django.db import connection, transaction
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
ACCESS_STAFF = "bench-access-"


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
        "alien_registration_index, ssn_last4, deposit_required, created_at, updated_at, phone_extension",
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
                "",
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
        page_timings, selector_timings, page_cpu = [], [], []
        load = os.getloadavg()[0]
        for index in range(55 if quick else 205):
            begin, cpu = time.perf_counter(), time.process_time()
            response = client.get("/admin/redflags_cases/case/")
            elapsed, cpu = (time.perf_counter() - begin) * 1000, (time.process_time() - cpu) * 1000
            assert response.status_code == 200, response.status_code  # noqa: S101 - a benchmark that measured an error is wrong
            begin = time.perf_counter()
            list(case_inbox(user=user))
            selector_elapsed = (time.perf_counter() - begin) * 1000
            if index >= 5:
                page_timings.append(elapsed)
                page_cpu.append(cpu)
                selector_timings.append(selector_elapsed)
    finally:
        _cleanup_cases()
    return {
        "redflags.case_inbox_ms_p50": statistics.median(page_timings),
        "redflags.case_inbox_ms_p95": percentile(page_timings, 95),
        "redflags.case_inbox_selector_ms_p95": percentile(selector_timings, 95),
        "redflags.case_inbox_open_cases": float(count),
        # This process's CPU per page (rendering, ORM); the rest of the wall time is PostgreSQL and waiting.
        "redflags.case_inbox_cpu_ms_p95": percentile(page_cpu, 95),
        "redflags.case_inbox_load_average_at_start": load,
    }


# The bench's access rows are generated by PostgreSQL (generate_series), not in Python and copied: 10
# million rows made and sent by this process took longer than everything else in the benchmark. They
# are not links of the audit chain: ``seq`` is negative (the chain's head is read from its anchors, which
# these rows do not get: the anchor trigger is disabled for the load's transaction only) and the hashes
# are empty. The owner removes them afterwards through the same transaction mark the owner-run purge
# functions use (memberguard_refuse_rewrite), which only the table's owner can make count.
_ACCESS_ROWS_SQL = """
    INSERT INTO members_auditevent
        (at, actor_id, actor_label, action, object_type, object_id, fields, detail, reason, entry_hash, prev_hash, seq)
    SELECT %(start)s + floor(random() * 82800) * interval '1 second',
           (%(staff)s::bigint[])[1 + floor(random() * %(staff_count)s)::int],
           'bench', 'access.view_member', 'members.member',
           ((%(members)s::bigint[])[1 + floor(random() * %(member_count)s)::int])::text,
           '[]', '{"channel": "bench"}', '', '', '', -(%(base)s + g)
    FROM generate_series(1, %(rows)s) AS g
"""


def _load_access_rows(rows: int, staff_ids: list[int], member_ids: list[int]) -> None:
    start = timezone.now() - datetime.timedelta(hours=23)
    chunk = 1_000_000  # one transaction per million rows: a failure late in a 10M load keeps what is done
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(-min(seq), 0) FROM members_auditevent WHERE seq < 0")
        base = cursor.fetchone()[0]
    for offset in range(0, rows, chunk):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("ALTER TABLE members_auditevent DISABLE TRIGGER memberguard_anchor_append")
            cursor.execute(
                _ACCESS_ROWS_SQL,
                {
                    "start": start,
                    "staff": staff_ids,
                    "staff_count": len(staff_ids),
                    "members": member_ids,
                    "member_count": len(member_ids),
                    "base": base + offset,
                    "rows": min(chunk, rows - offset),
                },
            )
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred actor checks, before the ALTER
            cursor.execute("ALTER TABLE members_auditevent ENABLE TRIGGER memberguard_anchor_append")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE members_auditevent")


def _cleanup_access() -> None:
    staff_ids = list(User.objects.filter(username__startswith=ACCESS_STAFF).values_list("pk", flat=True))
    AccessAnomaly.objects.filter(staff_id__in=staff_ids).delete()
    AccessDailyCount.objects.filter(staff_id__in=staff_ids).delete()
    _delete_access_rows(staff_ids)
    User.objects.filter(pk__in=staff_ids).delete()


def _delete_access_rows(staff_ids: list[int]) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('memberguard.purging', 'members_auditevent', true)")
        # Only the generated rows; the scan's own audit row is a link of the chain and stays.
        cursor.execute("DELETE FROM members_auditevent WHERE actor_id = ANY(%s) AND seq < 0", [staff_ids])


def bench_access_anomaly_scan(quick: bool = False) -> dict[str, float]:
    """C8: one scan over a window holding N access rows (10,000,000 in full; BENCH_ACCESS_ROWS overrides)."""
    rng = random.Random(8)  # noqa: S311 - benchmark data
    rows = int(os.environ.get("BENCH_ACCESS_ROWS", 200_000 if quick else 10_000_000))
    members = 20_000
    _cleanup_access()  # what an interrupted run left
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
            user = User.objects.create_user(username=f"{ACCESS_STAFF}{n}", password=None, is_staff=True)
            user.groups.add(group)
            staff_ids.append(user.pk)
        begin = time.perf_counter()
        _load_access_rows(rows, staff_ids, member_ids)
        load_seconds = time.perf_counter() - begin
        load = os.getloadavg()[0]
        begin, cpu = time.perf_counter(), time.process_time()
        found = access_scan.access_anomaly_scan(end=timezone.now() + datetime.timedelta(minutes=1))
        scan_seconds, cpu = time.perf_counter() - begin, time.process_time() - cpu
    finally:
        _cleanup_access()
        _cleanup_cases()
    return {
        "redflags.access_anomaly_scan_s": scan_seconds,
        "redflags.access_anomaly_scan_rows": float(rows),
        "redflags.access_anomaly_scan_load_s": load_seconds,
        "redflags.access_anomaly_scan_staff_flagged": float(found["volume"] + found["no_open_work"]),
        # This process's CPU during the scan (the work is PostgreSQL's), and the load beside the figure.
        "redflags.access_anomaly_scan_cpu_s": cpu,
        "redflags.access_anomaly_scan_load_average_at_start": load,
    }


# Run from redflags/bench.py, so ``manage.py bench --only redflags`` includes them (this app's label
# is redflags_cases).
BENCHMARKS: list = []
