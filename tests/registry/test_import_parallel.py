"""The CIS import with worker processes, against a real database of its own.

Worker processes commit in their own sessions, which a test wrapped in a transaction can neither see
nor roll back. These tests therefore copy the migrated test database (CREATE DATABASE ... TEMPLATE),
run the import against the copy with real forked workers, and drop the copy afterwards.
"""

from __future__ import annotations

import io
import os

import psycopg2
import pytest
from django.db import connection

from accounts.cis_import import COLUMNS, BatchFailed, import_members, loading
from accounts.cis_import.synthetic import synthetic_csv, synthetic_row
from accounts.models import Account, Meter, Premise
from members import bulk_load
from members.models import AuditEvent, FinancialAccount, Member


def _admin_connection():
    params = {key: value for key, value in connection.get_connection_params().items() if key != "cursor_factory"}
    admin = psycopg2.connect(**{**params, "dbname": "postgres"})
    admin.autocommit = True
    return admin


@pytest.fixture
def own_database(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        source = connection.settings_dict["NAME"]
        target = f"{source}_parallel"
        connection.close()
        admin = _admin_connection()
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{target}"')
            # A template must have no other session: the browser tests' live server (a thread of this
            # worker, kept for the session) may still hold one; it reconnects on its next request.
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [source],
            )
            cursor.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
        connection.settings_dict["NAME"] = target
        try:
            yield target
        finally:
            connection.close()
            connection.settings_dict["NAME"] = source
            with admin.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
            admin.close()


@pytest.fixture
def child_pids(monkeypatch, tmp_path):
    """Records the process id of every batch's loader (children inherit the patch through fork)."""
    log = tmp_path / "pids"
    real = loading._load_batch

    def recording(rows, report, **kwargs):
        with open(log, "a") as out:
            out.write(f"{os.getpid()}\n")
        return real(rows, report, **kwargs)

    monkeypatch.setattr(loading, "_load_batch", recording)
    return lambda: [int(line) for line in log.read_text().split()] if log.exists() else []


def _shared_premises_csv(count: int) -> io.StringIO:
    """Every fifth member moves into the premise (and meter) of the member ten rows earlier."""
    import csv

    rows = [synthetic_row(index, prefix="Q") for index in range(count)]
    for index in range(10, count, 5):
        rows[index]["premise_number"] = rows[index - 10]["premise_number"]
        rows[index]["meter_number"] = rows[index - 10]["meter_number"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    buffer.seek(0)
    return buffer


def test_workers_load_every_batch_in_child_processes(own_database, child_pids):
    report = import_members(_shared_premises_csv(60), batch_size=10, workers=2, actor_label="parallel-test")

    pids = child_pids()
    assert len(pids) == 6 and os.getpid() not in pids and len(set(pids)) == 6  # a fresh child per batch
    assert (report.members_loaded, report.batches, report.bad_rows) == (60, 6, 0)
    # Rows 10, 15, ... 55 share an earlier member's premise and meter, often one loaded by another
    # worker at the same moment: each premise and meter exists once, and both accounts point at it.
    assert (report.premises_loaded, report.meters_loaded, report.accounts_loaded) == (50, 50, 60)
    assert Member.objects.count() == 60 and Premise.objects.count() == 50 and Meter.objects.count() == 50
    shared = Premise.objects.get(premise_number=synthetic_row(0, prefix="Q")["premise_number"])
    assert sorted(Account.objects.filter(premise=shared).values_list("member__member_number", flat=True)) == [
        "Q00000000",
        "Q00000010",
        "Q00000020",
        "Q00000030",
        "Q00000040",
        "Q00000050",
    ]
    assert FinancialAccount.objects.count() == 20
    member = Member.objects.get(member_number="Q00000007")
    assert member.ssn == synthetic_row(7, prefix="Q")["ssn"].replace("-", "")
    assert AuditEvent.objects.filter(action="member.imported", actor_label="parallel-test").count() == 6


def test_a_failing_batch_in_a_worker_stops_the_import_and_leaves_only_whole_batches(own_database, monkeypatch):
    real_copy = bulk_load.copy_rows

    def failing_copy(cursor, table, columns, rows, *args):
        if table == "members_member" and any(row[0] == "L00000025" for row in rows):
            raise RuntimeError("disk full")
        return real_copy(cursor, table, columns, rows, *args)

    monkeypatch.setattr(bulk_load, "copy_rows", failing_copy)
    with pytest.raises(BatchFailed, match="batch 3: RuntimeError: disk full"):
        import_members(io.StringIO(synthetic_csv(50)), batch_size=10, workers=2)

    loaded = set(Member.objects.values_list("member_number", flat=True))
    assert not any(f"L{index:08d}" in loaded for index in range(20, 30))  # the failed batch: nothing
    for batch in range(5):  # every other batch either wholly there or wholly absent
        numbers = {f"L{index:08d}" for index in range(batch * 10, batch * 10 + 10)}
        assert numbers <= loaded or not numbers & loaded
    assert Account.objects.count() == len(loaded)

    monkeypatch.setattr(bulk_load, "copy_rows", real_copy)
    rerun = import_members(io.StringIO(synthetic_csv(50)), batch_size=10, workers=2)
    assert rerun.members_loaded == 50 - len(loaded) and Member.objects.count() == 50


def test_a_worker_that_dies_is_reported_not_waited_for(own_database, monkeypatch):
    real = loading._load_batch

    def dying(rows, report, **kwargs):
        if kwargs["batch_number"] == 2:
            os._exit(9)
        return real(rows, report, **kwargs)

    monkeypatch.setattr(loading, "_load_batch", dying)
    with pytest.raises(BatchFailed, match="batch 2: the worker process exited with code 9"):
        import_members(io.StringIO(synthetic_csv(30)), batch_size=10, workers=2)
    assert not Member.objects.filter(member_number__in=[f"L{index:08d}" for index in range(10, 20)]).exists()


@pytest.mark.django_db
def test_inside_a_transaction_the_import_stays_in_this_process(child_pids):
    report = import_members(io.StringIO(synthetic_csv(20)), batch_size=10, workers=2)
    assert report.members_loaded == 20 and set(child_pids()) == {os.getpid()}
    assert Member.objects.count() == 20  # visible to this (test) transaction: it ran inside it
