"""Retention benchmarks (issue 12).

- ``retention.purge_members_per_s``: 100,000 former members past their period (quick: 2,000), each with
  a portal login, a closed account with a settled bill and a payment, a revoked consent; one in ten
  with a resolved correction request and a Red Flags assessment; one in a hundred held (unretired
  capital credits). The whole nightly run (``retention_run_due``: every category, automatic holds,
  ledger, certificates) divided into the number of former members.
- ``retention.reapply_ledger_members_per_s``: the members' identifiers put back from a copy taken
  before the purge (what a restore does), then ``retention_ledger_reapply`` over the whole ledger.
- ``retention.partition_drop_with_holds_s``: dropping one monthly partition of 2,000 meters × 30 days
  (quick: 200) with 1 % of the meters held, their rows copied out first.

Runs only against a database whose name contains "bench" (``make bench``): it purges what it finds.
What it created is removed afterwards; runs, certificates and ledger entries stay (append-only).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from decimal import Decimal

from django.apps import apps
from django.db import connection, transaction
from django.test import override_settings

from accounts.models import Account, Bill, Meter, Payment, Premise
from accounts.usage.services import usage_partitions_ensure
from members.models import CapitalCreditAllocation, Member, User
from redflags.models import RiskAssessment
from retention.handlers import IDENTIFIER_FIELDS, IDENTIFIER_INDEX_FIELDS
from retention.models import HeldMeterDay, Hold
from retention.services import retention_ledger_reapply, retention_policy_ensure_defaults, retention_run_due
from retention.services.usage import purge_usage

# The benchmark builds rows of apps above or beside retention (layers: it may not import them), by label.
CorrectionRequest = apps.get_model("portal", "CorrectionRequest")
Consent = apps.get_model("disclosures", "Consent")
Recipient = apps.get_model("disclosures", "Recipient")

PREFIX = "RBENCH"
LEFT = dt.date(2012, 1, 1)
OLD = dt.datetime(2012, 2, 1, tzinfo=dt.UTC)
BATCH = 5000
UNUSABLE = "!"  # an unusable password hash: these logins cannot sign in


def _guard() -> bool:
    return "bench" in connection.settings_dict["NAME"]


def _members(count: int) -> list[int]:
    for start in range(0, count, BATCH):
        users = User.objects.bulk_create(
            [
                User(username=f"{PREFIX.lower()}{i}", email=f"b{i}@example.test", first_name="B", password=UNUSABLE)
                for i in range(start, min(start + BATCH, count))
            ]
        )
        Member.objects.bulk_create(
            [
                Member(
                    member_number=f"{PREFIX}{i:07d}",
                    legal_name=f"Bench Former {i}",
                    status=Member.Status.FORMER,
                    left_on=LEFT,
                    user=users[i - start],
                    ssn=f"123{45 + i % 50:02d}{i % 10000:04d}",
                    date_of_birth=dt.date(1960, 1, 1) + dt.timedelta(days=i % 15000),
                    tax_id_index=f"{i:016x}",
                    ssn_last4=f"{i % 10000:04d}",
                )
                for i in range(start, min(start + BATCH, count))
            ]
        )
    return list(Member.objects.filter(member_number__startswith=PREFIX).order_by("pk").values_list("pk", flat=True))


def _records(ids: list[int], user_id: int) -> None:
    recipient = Recipient.objects.create(name=f"{PREFIX} recipient", kind="non_affiliated")
    for start in range(0, len(ids), BATCH):
        chunk = ids[start : start + BATCH]
        accounts = Account.objects.bulk_create(
            [Account(account_number=f"{PREFIX}{pk}", member_id=pk, status=Account.Status.CLOSED) for pk in chunk]
        )
        bills = Bill.objects.bulk_create(
            [
                Bill(
                    account=a, statement_number=f"{PREFIX}{a.pk}", period_start=LEFT, period_end=LEFT,
                    issued_on=LEFT, due_on=LEFT, amount_due=Decimal("80.00"), status=Bill.Status.PAID,
                )
                for a in accounts
            ]
        )  # fmt: skip
        Payment.objects.bulk_create(
            [
                Payment(account_id=b.account_id, bill=b, received_at=OLD, amount=b.amount_due, method="check")
                for b in bills
            ]
        )
        Consent.objects.bulk_create(
            [
                Consent(
                    member_id=pk, recipient=recipient, categories=["A1_contact"], purpose="marketing",
                    channel="written", granted_at=OLD - dt.timedelta(days=30), revoked_at=OLD,
                )
                for pk in chunk
            ]
        )  # fmt: skip
        CorrectionRequest.objects.bulk_create(
            [
                CorrectionRequest(
                    member_id=pk, topic="identifiers", requested_correction="SSN typo", status="corrected",
                    submitted_by_id=user_id, resolved_at=OLD,
                )
                for pk in chunk[::10]
            ]
        )  # fmt: skip
        RiskAssessment.objects.bulk_create(
            [
                RiskAssessment(
                    event_name="bench", member_id=pk, program_version="b", warn_threshold=1, hold_threshold=2,
                    fired=[{"code": "X", "version": 1, "weight": 1, "evidence": ["bench"]}], created_at=OLD,
                )
                for pk in chunk[::10]
            ]
        )  # fmt: skip
        CapitalCreditAllocation.objects.bulk_create(
            [CapitalCreditAllocation(member_id=pk, year=2011, allocated_amount=Decimal("50")) for pk in chunk[::100]]
        )


def _cleanup() -> None:
    """Remove what the benchmark built: raw ``DELETE``s keyed on the bench members' ids (Django's delete
    collector took about 30 minutes for 100,000 members). Runs as the owner; consents are append-only
    for every role, so the revoked ones go through the same owner function the purge uses."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE rbench_members ON COMMIT DROP AS "
            "SELECT id, user_id FROM members_member WHERE member_number LIKE %s",
            [f"{PREFIX}%"],
        )
        cursor.execute(
            "CREATE TEMP TABLE rbench_accounts ON COMMIT DROP AS SELECT id FROM accounts_account "
            "WHERE member_id IN (SELECT id FROM rbench_members) OR account_number LIKE %s",
            [f"{PREFIX}%"],
        )
        cursor.execute(
            "CREATE TEMP TABLE rbench_users ON COMMIT DROP AS "
            "SELECT user_id AS id FROM rbench_members WHERE user_id IS NOT NULL "
            "UNION SELECT id FROM members_user WHERE username LIKE %s",
            [f"{PREFIX.lower()}%"],
        )
        for statement in (
            "DELETE FROM retention_hold WHERE member_id IN (SELECT id FROM rbench_members) "
            "OR account_id IN (SELECT id FROM rbench_accounts)",
            "DELETE FROM accounts_payment WHERE account_id IN (SELECT id FROM rbench_accounts)",
            "DELETE FROM accounts_bill WHERE account_id IN (SELECT id FROM rbench_accounts)",
            "DELETE FROM accounts_account WHERE id IN (SELECT id FROM rbench_accounts)",
            "SELECT memberguard_purge_lapsed_consents(ARRAY(SELECT id FROM disclosures_consent "
            "WHERE member_id IN (SELECT id FROM rbench_members)))",
            "DELETE FROM portal_correctionrequest WHERE member_id IN (SELECT id FROM rbench_members)",
            "DELETE FROM redflags_flag WHERE assessment_id IN "
            "(SELECT id FROM redflags_riskassessment WHERE member_id IN (SELECT id FROM rbench_members))",
            "DELETE FROM redflags_riskassessment WHERE member_id IN (SELECT id FROM rbench_members)",
            "DELETE FROM members_capitalcreditallocation WHERE member_id IN (SELECT id FROM rbench_members)",
            "DELETE FROM members_financialaccount WHERE member_id IN (SELECT id FROM rbench_members)",
            "DELETE FROM members_member WHERE id IN (SELECT id FROM rbench_members)",
            "DELETE FROM authtoken_token WHERE user_id IN (SELECT id FROM rbench_users)",
            "DELETE FROM account_emailaddress WHERE user_id IN (SELECT id FROM rbench_users)",
            "DELETE FROM members_user WHERE id IN (SELECT id FROM rbench_users)",
        ):
            cursor.execute(statement)
        cursor.execute(
            "DELETE FROM disclosures_recipient WHERE name LIKE %s "
            "AND NOT EXISTS (SELECT 1 FROM disclosures_consent c WHERE c.recipient_id = disclosures_recipient.id)",
            [f"{PREFIX}%"],
        )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS retention_bench_backup")
        cursor.execute("VACUUM ANALYZE members_member")


def _restore_identifiers() -> int:
    """What restoring a pre-purge backup does to the members: their identifiers come back."""
    columns = (*IDENTIFIER_FIELDS, *IDENTIFIER_INDEX_FIELDS)
    assignments = ", ".join(f"{name} = b.{name}" for name in columns)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE members_member m SET {assignments} FROM retention_bench_backup b WHERE b.id = m.id"  # noqa: S608
        )
        return cursor.rowcount


def bench_purge(quick: bool = False) -> dict[str, float]:
    if not _guard():
        return {}
    count = 2_000 if quick else 100_000
    _cleanup()
    retention_policy_ensure_defaults()
    operator = User.objects.create(username=f"{PREFIX.lower()}-operator", password=UNUSABLE)
    try:
        ids = _members(count)
        _records(ids, operator.pk)
        columns = ", ".join(("id", *IDENTIFIER_FIELDS, *IDENTIFIER_INDEX_FIELDS))
        with connection.cursor() as cursor:
            cursor.execute(
                f"CREATE TABLE retention_bench_backup AS SELECT {columns} FROM members_member "  # noqa: S608
                "WHERE member_number LIKE %s",
                [f"{PREFIX}%"],
            )
            cursor.execute("VACUUM ANALYZE")
        with tempfile.TemporaryDirectory() as ledger, override_settings(RETENTION_LEDGER_DIR=ledger):
            load = os.getloadavg()[0]
            started, cpu = time.perf_counter(), time.process_time()
            runs = retention_run_due()
            purge_s, purge_cpu = time.perf_counter() - started, time.process_time() - cpu
            destroyed = {run.category: run.records_destroyed for run in runs}
            restored = _restore_identifiers()
            started, cpu = time.perf_counter(), time.process_time()
            reapplied = retention_ledger_reapply()
            reapply_s, reapply_cpu = time.perf_counter() - started, time.process_time() - cpu
        again = sum(run.records_destroyed for run in reapplied if run.category == "former_member_identifiers")
        return {
            "retention.purge_members_per_s": count / purge_s,
            "retention.purge_s": purge_s,
            "retention.purge_records_destroyed": float(sum(destroyed.values())),
            "retention.purge_members_destroyed": float(destroyed.get("former_member_identifiers", 0)),
            "retention.reapply_ledger_members_per_s": restored / reapply_s,
            "retention.reapply_members_destroyed_again": float(again),
            # This process's CPU (the rest of the wall time is PostgreSQL's work and waiting for a core).
            "retention.purge_cpu_s": purge_cpu,
            "retention.reapply_cpu_s": reapply_cpu,
            "retention.purge_load_average_at_start": load,
        }
    finally:
        _cleanup()
        User.objects.filter(pk=operator.pk).delete()


def bench_partition_drop(quick: bool = False) -> dict[str, float]:
    """One month (2002-03, a month no real data is from) with 1 % of the meters held."""
    if not _guard():
        return {}
    meters = 200 if quick else 2_000
    month = dt.date(2002, 3, 1)
    usage_partitions_ensure(months_ahead=0, today=month)
    premises = Premise.objects.bulk_create(
        [
            Premise(premise_number=f"{PREFIX}{i}", service_line1=f"{i} Held Rd", service_city="B", service_state="IL",
                    service_postal_code="62701")
            for i in range(meters)
        ]
    )  # fmt: skip
    created = Meter.objects.bulk_create([Meter(meter_number=f"{PREFIX}{p.pk}", premise=p) for p in premises])
    member = Member.objects.create(member_number=f"{PREFIX}-M", legal_name="Bench held", status=Member.Status.ACTIVE)
    held = created[::100]
    accounts = Account.objects.bulk_create(
        [Account(account_number=f"{PREFIX}H{m.pk}", member=member, premise_id=m.premise_id) for m in held]
    )
    holds = Hold.objects.bulk_create([Hold(scope="account", account=a, reason="bench hold") for a in accounts])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO usage_meter_day (meter_id, day, channel, interval_minutes, total_wh, vals, quality) "
                "SELECT m, %s::date + d, 1, 15, 9600, array_fill(100, ARRAY[96]), NULL "
                "FROM unnest(%s::int[]) m, generate_series(0, 29) d",
                [month, [m.pk for m in created]],
            )
            cursor.execute("ANALYZE usage_meter_day")
        started = time.perf_counter()
        dropped, counts = purge_usage(month=month.replace(month=4))
        elapsed = time.perf_counter() - started
        return {
            "retention.partition_drop_with_holds_s": elapsed,
            "retention.partition_drop_held_rows_kept": float(counts["held_rows_kept"]),
            "retention.partition_drop_months": float(len(dropped)),
        }
    finally:
        HeldMeterDay.objects.filter(meter_id__in=[m.pk for m in created]).delete()
        Hold.objects.filter(pk__in=[h.pk for h in holds]).delete()
        Account.objects.filter(pk__in=[a.pk for a in accounts]).delete()
        member.delete()
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM usage_meter_day WHERE meter_id = ANY(%s)", [[m.pk for m in created]])
        Meter.objects.filter(pk__in=[m.pk for m in created]).delete()
        Premise.objects.filter(pk__in=[p.pk for p in premises]).delete()


BENCHMARKS = [bench_partition_drop, bench_purge]
