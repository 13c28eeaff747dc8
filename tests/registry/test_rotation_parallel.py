"""Key rotation with worker processes, against committed rows.

Workers are forked processes with their own database connections: they can only see committed rows,
so these tests commit (``transaction=True``). ``available_apps`` makes the flush after each test
TRUNCATE ... CASCADE (the usage app's raw-SQL partitioned table has a foreign key to meters), which
removes every row planted here. The rows are planted under an "old" key and rotated to the test
settings' own key, so nothing another test relies on is left under a key it does not know.
"""

from __future__ import annotations

import os
import threading

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.db import connection
from django.test import override_settings

from accounts.models import Premise
from members import rotation, services, worker_pool
from members.crypto import blind_index, derived_fernet_keys
from members.models import AuditEvent, FinancialAccount, KeyRotationRun, Member
from members.rotation import RotationError, TableProgress, UndecryptableDuringRotation, keys_rotate
from members.selectors import members_matching
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True, available_apps=[config.name for config in apps.get_app_configs()])

OLD_FERNET = "old-fernet-key-for-parallel-tests-0123456789abc"
OLD_INDEX = "old-index-key-for-parallel-tests-0123456789abcd"
NEW_INDEX = "new-index-key-for-parallel-tests-9876543210zyxw"
MEMBERS = 14


def _keys():
    """(old, new) Fernet keys as bytes; "new" is the test settings' own key."""
    with override_settings(FERNET_KEYS=[OLD_FERNET]):
        old = derived_fernet_keys()[0]
    return old, derived_fernet_keys()[0]


def _rotating(**extra):
    return override_settings(FERNET_KEYS=[*settings.FERNET_KEYS, OLD_FERNET], **extra)


def _plant(**extra) -> list[Member]:
    with override_settings(FERNET_KEYS=[OLD_FERNET], **extra):
        members = factories.MemberFactory.create_batch(MEMBERS)
        for member in members[:5]:
            factories.FinancialAccountFactory(member=member)
        factories.PremiseFactory.create_batch(6, gate_code="1942#", meter_reading_notes="Dog in the yard")
    return members


def _raw_tokens() -> dict[tuple[str, int, str], bytes]:
    found = {}
    with connection.cursor() as cursor:
        for target in rotation.targets(with_indexes=False):
            for column in target.encrypted:
                cursor.execute(f"SELECT id, {column} FROM {target.table} WHERE {column} IS NOT NULL")  # noqa: S608
                found.update({(target.label, row_id, column): bytes(token) for row_id, token in cursor.fetchall()})
    return found


def _under(key: bytes, token: bytes) -> bool:
    try:
        Fernet(key).decrypt(token)
    except InvalidToken:
        return False
    return True


def test_two_workers_rotate_both_keys_and_every_value_ends_under_the_new_ones():
    members = _plant(BLIND_INDEX_KEY=OLD_INDEX)
    old, new = _keys()
    before = _raw_tokens()
    assert len(before) > MEMBERS * 3 and all(_under(old, token) for token in before.values())

    with _rotating(BLIND_INDEX_KEY=NEW_INDEX, BLIND_INDEX_KEY_PREVIOUS=OLD_INDEX):
        report = keys_rotate(batch_size=3, workers=2)

    assert report.workers == 2
    # Both forked workers committed batches; this process committed none (it only planned and recorded).
    assert len(report.batches_by_process) == 2 and os.getpid() not in report.batches_by_process
    assert sum(report.batches_by_process.values()) >= MEMBERS // 3 + 2
    assert report.values_reencrypted == len(before)
    assert report.per_table["members.member"]["rows"] == MEMBERS
    assert report.indexes_recomputed >= MEMBERS * 7
    after = _raw_tokens()
    assert after.keys() == before.keys()
    assert all(_under(new, token) and not _under(old, token) for token in after.values())
    run = KeyRotationRun.objects.get(pk=report.run_id)
    assert run.finished_at is not None and not run.cursors.get("done")
    assert all(cursor == -1 for label, cursor in run.cursors.items() if label != "done")
    assert AuditEvent.objects.get(action="keys.rotated").detail["workers"] == 2

    with override_settings(BLIND_INDEX_KEY=NEW_INDEX, BLIND_INDEX_KEY_PREVIOUS=""):
        for member in members:
            stored = Member.objects.get(pk=member.pk)
            assert stored.ssn == member.ssn and stored.drivers_licence_number == member.drivers_licence_number
            assert stored.tax_id_index == blind_index("ssn", member.ssn)
            assert [m.pk for m in members_matching("ssn", member.ssn)] == [member.pk]
        assert {premise.gate_code for premise in Premise.objects.all()} == {"1942#"}
        assert all(
            account.bank_account_index == blind_index("bank_account", (account.routing_number, account.account_number))
            for account in FinancialAccount.objects.all()
        )


def _other_worker_got_ahead(label: str) -> bool:
    """Wait (in a worker) until the parent has recorded a batch of ``label`` above the prefix."""
    for _ in range(400):
        run = KeyRotationRun.objects.filter(finished_at__isnull=True).first()
        if run is not None and run.cursors.get("done", {}).get(label):
            return True
        threading.Event().wait(0.05)
    return False


@pytest.mark.parametrize("how", ["error", "killed"])
def test_an_interrupted_parallel_run_records_only_committed_batches_and_resumes_with_the_rest(monkeypatch, how):
    members = _plant()
    old, new = _keys()
    parent = os.getpid()
    failing_id = members[0].pk  # the first members batch: the other worker goes on with later ones meanwhile
    real = rotation._process_batch

    def dies_on_one_batch(target, cursor_after, batch_size, keys, index_key, report, upto=None):
        if target.label == "members.member" and upto is not None and cursor_after < failing_id <= upto:
            _other_worker_got_ahead(target.label)
            if how == "killed" and os.getpid() != parent:
                os._exit(9)  # as if the worker were killed mid-batch: no message, no cleanup
            raise RuntimeError("worker failed here")
        return real(target, cursor_after, batch_size, keys, index_key, report, upto)

    monkeypatch.setattr(rotation, "_process_batch", dies_on_one_batch)
    with _rotating(), pytest.raises(RotationError) as caught:
        keys_rotate(batch_size=2, workers=2)
    assert ("exited" if how == "killed" else "worker failed here") in str(caught.value)

    run = KeyRotationRun.objects.get()
    assert run.finished_at is None
    assert run.cursors["done"]["members.member"], "no batch was recorded out of order"
    # What the run recorded as done is done, and the failed batch is not.
    recorded = {
        label: TableProgress(int(run.cursors.get(label, 0)), run.cursors.get("done", {}).get(label))
        for label in {target.label for target in rotation.targets(with_indexes=False)}
    }

    def recorded_done(label: str, row_id: int) -> bool:
        progress = recorded[label]
        return (
            run.cursors.get(label) == -1 or row_id <= progress.prefix or any(a <= row_id <= b for a, b in progress.done)
        )

    tokens = _raw_tokens()
    done_cells = [cell for cell in tokens if recorded_done(cell[0], cell[1])]
    assert done_cells and all(_under(new, tokens[cell]) for cell in done_cells)
    assert not recorded_done("members.member", failing_id)
    assert _under(old, tokens[("members.member", failing_id, "ssn")])

    monkeypatch.setattr(rotation, "_process_batch", real)
    with _rotating():
        report = keys_rotate(batch_size=2, workers=2)
    assert report.resumed and report.run_id == run.pk
    # The resumed run did exactly the cells not recorded as done.
    assert report.values_reencrypted == len(tokens) - len(done_cells)
    assert all(_under(new, token) for token in _raw_tokens().values())
    assert KeyRotationRun.objects.get().finished_at is not None


def test_a_value_no_key_can_decrypt_stops_a_parallel_run_naming_it_and_it_is_left_as_it_was():
    members = _plant()
    stranger = Fernet(Fernet.generate_key()).encrypt(b"123456789")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE members_member SET passport_number = %s WHERE id = %s", [stranger, members[9].pk])

    with _rotating(), pytest.raises(UndecryptableDuringRotation) as caught:
        keys_rotate(batch_size=2, workers=2)
    assert (caught.value.table, caught.value.row_id, caught.value.column) == (
        "members_member",
        members[9].pk,
        "passport_number",
    )
    assert "123456789" not in str(caught.value)
    assert _raw_tokens()[("members.member", members[9].pk, "passport_number")] == stranger
    assert KeyRotationRun.objects.get().finished_at is None


@pytest.mark.parametrize("workers", [1, 2])
def test_a_service_write_during_a_batch_waits_for_it_and_lands_under_the_new_key(monkeypatch, csr, workers):
    members = _plant()
    old, new = _keys()
    target_id = members[5].pk
    with _rotating():
        stale = Member.objects.get(pk=target_id)  # loaded before the rotation reaches it, as a request would
    context = worker_pool.multiprocessing.get_context("fork")
    batch_locked, writer_waited = context.Event(), context.Event()
    real_lock_rows = rotation._lock_rows

    def lock_rows_then_let_a_service_write_collide(cursor, target, columns, cursor_after, batch_size, upto):
        rows = real_lock_rows(cursor, target, columns, cursor_after, batch_size, upto)
        if target.table == "members_member" and rows.has_row(target_id):
            batch_locked.set()
            # pg_stat_activity shows another session's query only to its login (the owner in tests, whose
            # sessions act as the runtime role: tests/conftest.py), so watch as the login.
            cursor.execute("SET ROLE NONE")
            for _ in range(200):  # until the service's UPDATE waits on this batch's row lock (10 s at most)
                cursor.execute(
                    "SELECT pg_stat_clear_snapshot()"
                )  # else the activity view is frozen for the transaction
                cursor.execute("SELECT query FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))")
                if any(query.startswith('UPDATE "members_member"') for (query,) in cursor.fetchall()):
                    writer_waited.set()
                    break
                threading.Event().wait(0.05)
            cursor.execute("SET ROLE %s", [settings.DATABASE_RUNTIME_ROLE])
        return rows

    errors = []

    def service_write():
        try:
            assert batch_locked.wait(30)
            with _rotating():
                services.member_change_identifiers(actor=csr, member=stale, passport_number="Z12345678")
        except Exception as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            connection.close()

    monkeypatch.setattr(rotation, "_lock_rows", lock_rows_then_let_a_service_write_collide)
    writer = threading.Thread(target=service_write)
    writer.start()
    with _rotating():
        report = keys_rotate(batch_size=4, workers=workers)
    writer.join(30)
    assert not writer.is_alive() and errors == []
    assert report.workers == workers
    assert writer_waited.is_set(), "the service write never waited on the batch's lock"

    tokens = _raw_tokens()
    assert all(_under(new, token) and not _under(old, token) for token in tokens.values())
    stored = Member.objects.get(pk=target_id)
    assert stored.passport_number == "Z12345678"  # the service's write is not lost
    assert stored.ssn == members[5].ssn and stored.date_of_birth == members[5].date_of_birth  # nor the rotation's


def test_a_table_smaller_than_a_batch_per_worker_is_shared_between_the_workers():
    """14 members in batches of 100 would be one batch, one worker idle: the plan cuts such a table into one
    batch per worker, and each worker commits its share."""
    _plant()
    old, new = _keys()
    with _rotating():
        report = keys_rotate(batch_size=100, workers=2, rotate_indexes=False)
    assert report.workers == 2 and len(report.batches_by_process) == 2
    assert report.per_table["members.member"]["rows"] == MEMBERS
    tokens = _raw_tokens()
    assert all(_under(new, token) and not _under(old, token) for token in tokens.values())
    assert report.values_reencrypted == len(tokens)
