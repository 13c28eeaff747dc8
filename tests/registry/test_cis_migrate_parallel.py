"""The CIS migration's loader thread (accounts/cis_migrate/loading.py ``_Pipeline``), on a real database.

With ``workers`` > 1 the batches after the members file are committed by one thread on its own connection
while the command checks the next batch. Its commits cannot be seen from a test wrapped in a
transaction, so these run against a copy of the test database (``own_database``, as the import's
worker tests do).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from accounts import bulk_load as accounts_bulk
from accounts.cis_migrate import loading, migrate
from accounts.cis_migrate.synthetic import write_coop
from accounts.models import Bill, MigrationRun, Payment
from members.models import AuditEvent
from tests.registry.test_import_parallel import own_database  # noqa: F401 - the fixture

_BILLS = 1248  # 40 members' accounts, 24 months each (tests/registry/test_cis_migrate.py)


@pytest.fixture
def coop(tmp_path) -> Path:
    write_coop(tmp_path, members=40, months=24, prefix="T")
    return tmp_path


def test_the_loader_thread_commits_every_batch_and_the_run_balances(own_database, coop, monkeypatch):  # noqa: F811
    real, threads = accounts_bulk.bills_insert, []

    def recording(cursor, rows):
        threads.append(threading.current_thread().name)
        real(cursor, rows)

    monkeypatch.setattr(accounts_bulk, "bills_insert", recording)
    outcome = migrate(coop, batch_size=200, workers=2, announce_to_red_flags=False)

    assert threads == ["cis-migrate-loader"] * 7  # 1,248 bills in batches of 200, none in this thread
    assert outcome.run.balanced and outcome.run.entities["bills"]["loaded"] == _BILLS == Bill.objects.count()
    assert outcome.run.entities["payments"]["stored"] == Payment.objects.count() > 0
    assert AuditEvent.objects.filter(action="migration.loaded", object_type="accounts.bill").count() == 7
    assert not any(thread.name == "cis-migrate-loader" for thread in threading.enumerate())  # ended


def test_a_batch_failing_in_the_loader_thread_interrupts_the_run_and_a_re_run_resumes(
    own_database,  # noqa: F811
    coop,
    monkeypatch,
):
    real, calls = accounts_bulk.bills_insert, []

    def fail_on_the_third_batch(cursor, rows):
        calls.append(len(rows))
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        real(cursor, rows)

    monkeypatch.setattr(accounts_bulk, "bills_insert", fail_on_the_third_batch)
    with pytest.raises(RuntimeError, match="went away"):
        migrate(coop, batch_size=200, workers=2, announce_to_red_flags=False)

    interrupted = MigrationRun.objects.get()
    assert interrupted.outcome == MigrationRun.Outcome.INTERRUPTED and not interrupted.balanced
    bills = interrupted.entities["bills"]
    assert (bills["loaded"], bills["complete"], bills["stored"]) == (400, False, 400)  # whole batches only
    assert len(calls) == 3 and Bill.objects.count() == 400  # nothing handed over after the failure ran
    assert not any(thread.name == "cis-migrate-loader" for thread in threading.enumerate())

    monkeypatch.setattr(accounts_bulk, "bills_insert", real)
    resumed = migrate(coop, batch_size=200, workers=2, announce_to_red_flags=False)

    assert resumed.run.balanced and resumed.run.entities["bills"]["already_present"] == 400
    assert Bill.objects.count() == _BILLS


# --- The pipeline itself (no database: runs anywhere) ----------------------------------------------------


def test_the_pipeline_runs_batches_in_order_in_its_thread_and_ends():
    pipeline, ran = loading._Pipeline(), []
    for number in range(5):
        pipeline.submit(lambda number=number: ran.append((number, threading.current_thread().name)))
    pipeline.drain()

    assert ran == [(number, "cis-migrate-loader") for number in range(5)]
    pipeline.close()
    assert not any(thread.name == "cis-migrate-loader" for thread in threading.enumerate())


def test_a_failed_batch_is_raised_at_the_next_hand_over_and_nothing_after_it_runs():
    pipeline, ran = loading._Pipeline(), []

    def fail():
        raise RuntimeError("the database went away")

    pipeline.submit(lambda: ran.append(1))
    pipeline.submit(fail)
    pipeline.submit(lambda: ran.append(3))  # queued behind the failure, or refused at hand-over
    with pytest.raises(RuntimeError, match="went away"):
        pipeline.submit(lambda: ran.append(4))
        pipeline.drain()

    pipeline.close()
    assert ran == [1]


@pytest.mark.django_db
def test_inside_a_transaction_the_migration_loads_in_this_thread(coop, monkeypatch):
    real, threads = accounts_bulk.bills_insert, []

    def recording(cursor, rows):
        threads.append(threading.current_thread().name)
        real(cursor, rows)

    monkeypatch.setattr(accounts_bulk, "bills_insert", recording)
    outcome = migrate(coop, batch_size=500, workers=2, announce_to_red_flags=False)

    assert outcome.run.balanced and set(threads) == {threading.main_thread().name}
