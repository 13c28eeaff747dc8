from __future__ import annotations

import datetime

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from accounts import services as account_services
from accounts.models import AuthorizedParty, Premise, ReturnedMail
from members import rotation, services
from members.crypto import blind_index, derived_fernet_keys
from members.fields import UndecryptableValue
from members.models import AuditEvent, FinancialAccount, KeyRotationRun, Member
from members.rotation import UndecryptableDuringRotation, keys_rotate
from members.selectors import members_matching
from tests import factories

pytestmark = pytest.mark.django_db

OLD_FERNET = "old-fernet-key-for-tests-0123456789abcdefghij"
NEW_FERNET = "new-fernet-key-for-tests-9876543210zyxwvutsrq"
OLD_INDEX = "old-index-key-for-tests-0123456789abcdefghijk"
NEW_INDEX = "new-index-key-for-tests-9876543210zyxwvutsrqp"
SSNS = ["123-45-6701", "123-45-6702", "123-45-6703", "123-45-6704", "123-45-6705"]


def _raw(table: str, column: str, row_id: int) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [row_id])  # noqa: S608
        return bytes(cursor.fetchone()[0])


def _plant(csr):
    members = [
        services.member_create(
            actor=csr,
            legal_name=f"Rotation Person {i}",
            ssn=ssn,
            date_of_birth="1971-02-03",
            drivers_licence_number=f"R{i}2345678",
            drivers_licence_state="IL",
            phone=f"217-555-01{i:02d}",
            email=f"rot{i}@example.test",
            mailing_line1=f"{i} Oak St",
            mailing_city="Springfield",
            mailing_state="IL",
            mailing_postal_code="62701",
        )
        for i, ssn in enumerate(SSNS)
    ]
    bank = services.financial_account_add(
        actor=csr, member=members[0], routing_number="011000015", account_number="55667788"
    )
    premise = account_services.premise_create(
        actor=csr,
        service_line1="9 Gate Rd",
        service_city="Decatur",
        service_state="IL",
        service_postal_code="62521",
        gate_code="1942#",
        meter_reading_notes="Dog in the yard",
    )
    account = account_services.account_open(
        actor=csr, member=members[1], premise=premise, checklist=factories.VERIFIED_CHECKLIST
    )
    party = account_services.authorized_party_add(actor=csr, account=account, name="Pat Party", phone="309-555-0188")
    mail = account_services.returned_mail_record(actor=csr, member=members[1], returned_on=datetime.date(2026, 10, 1))
    return members, bank, premise, party, mail


def test_rotating_both_keys_then_dropping_the_old_ones_keeps_everything_readable_and_searchable(csr):
    with override_settings(FERNET_KEYS=[OLD_FERNET], BLIND_INDEX_KEY=OLD_INDEX, BLIND_INDEX_KEY_PREVIOUS=""):
        members, bank, premise, party, mail = _plant(csr)
        old_token = _raw("members_member", "ssn", members[0].pk)

    with override_settings(
        FERNET_KEYS=[NEW_FERNET, OLD_FERNET], BLIND_INDEX_KEY=NEW_INDEX, BLIND_INDEX_KEY_PREVIOUS=OLD_INDEX
    ):
        # Mid-rotation the app still finds rows carrying the previous index.
        assert [m.pk for m in members_matching("ssn", SSNS[2])] == [members[2].pk]
        report = keys_rotate(batch_size=2)

    assert report.values_reencrypted >= len(SSNS) * 3 + 2 + 2
    assert report.per_table["members.member"]["rows"] == len(SSNS)
    assert report.indexes_recomputed > 0
    assert AuditEvent.objects.filter(action="keys.rotated").exists()

    with override_settings(FERNET_KEYS=[NEW_FERNET], BLIND_INDEX_KEY=NEW_INDEX, BLIND_INDEX_KEY_PREVIOUS=""):
        new_key = derived_fernet_keys()[0]
        assert _raw("members_member", "ssn", members[0].pk) != old_token
        assert Fernet(new_key).decrypt(_raw("members_member", "ssn", members[0].pk)) == b"123456701"
        for member, ssn in zip(members, SSNS, strict=True):
            stored = Member.objects.get(pk=member.pk)
            assert stored.ssn == ssn.replace("-", "")
            assert stored.date_of_birth == datetime.date(1971, 2, 3)
            assert stored.tax_id_index == blind_index("ssn", ssn)
            assert [m.pk for m in members_matching("ssn", ssn)] == [member.pk]
        assert [m.pk for m in members_matching("licence", ("R32345678", "IL"))] == [members[3].pk]
        assert [m.pk for m in members_matching("phone", "217-555-0104")] == [members[4].pk]
        assert FinancialAccount.objects.get(pk=bank.pk).account_number == "55667788"
        assert FinancialAccount.objects.get(pk=bank.pk).bank_account_index == blind_index(
            "bank_account", ("011000015", "55667788")
        )
        assert Premise.objects.get(pk=premise.pk).gate_code == "1942#"
        assert Premise.objects.get(pk=premise.pk).address_index == blind_index(
            "address", ("9 Gate Rd", "", "Decatur", "IL", "62521")
        )
        assert AuthorizedParty.objects.get(pk=party.pk).phone_index == blind_index("phone", "+13095550188")
        assert ReturnedMail.objects.get(pk=mail.pk).address_index == Member.objects.get(pk=members[1].pk).address_index

    with override_settings(FERNET_KEYS=[OLD_FERNET], BLIND_INDEX_KEY=NEW_INDEX):
        with pytest.raises(UndecryptableValue):
            Member.objects.get(pk=members[0].pk)


def test_an_interrupted_rotation_resumes_where_it_stopped(csr, monkeypatch):
    with override_settings(FERNET_KEYS=[OLD_FERNET], BLIND_INDEX_KEY=OLD_INDEX, BLIND_INDEX_KEY_PREVIOUS=""):
        members = _plant(csr)[0]

    real = rotation._process_batch
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    with override_settings(
        FERNET_KEYS=[NEW_FERNET, OLD_FERNET], BLIND_INDEX_KEY=OLD_INDEX, BLIND_INDEX_KEY_PREVIOUS=""
    ):
        monkeypatch.setattr(rotation, "_process_batch", flaky)
        with pytest.raises(RuntimeError):
            keys_rotate(batch_size=2)
        run = KeyRotationRun.objects.get()
        assert run.finished_at is None and run.cursors
        monkeypatch.setattr(rotation, "_process_batch", real)
        report = keys_rotate(batch_size=2)
        assert report.resumed and report.run_id == run.pk

    with override_settings(FERNET_KEYS=[NEW_FERNET], BLIND_INDEX_KEY=OLD_INDEX):
        assert all(Member.objects.get(pk=m.pk).ssn for m in members)
        assert Premise.objects.get().gate_code == "1942#"


def test_a_value_no_key_can_decrypt_stops_the_rotation_and_is_never_reencrypted(csr):
    member = factories.MemberFactory()
    stranger = Fernet(Fernet.generate_key()).encrypt(b"123456789")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE members_member SET ssn = %s WHERE id = %s", [stranger, member.pk])

    with pytest.raises(UndecryptableValue, match="members.Member.ssn"):
        Member.objects.get(pk=member.pk)
    with pytest.raises(UndecryptableDuringRotation) as caught:
        keys_rotate(batch_size=10)
    assert caught.value.row_id == member.pk and caught.value.column == "ssn"
    assert _raw("members_member", "ssn", member.pk) == stranger


@pytest.mark.parametrize(
    "stored",
    [b"not\ta\ntoken\\", b"\x00\x80\xff" + b"A" * 97, b"", b"gAAAAAB" + b"=" * 93],
    ids=["tab-newline-backslash", "not ascii", "empty", "base64 padding only"],
)
def test_bytes_that_are_no_token_stop_the_rotation_naming_their_cell(stored):
    """The batch reads its rows as COPY text (bytea escaped): whatever bytes a column holds, a cell that is
    no token is named by row and column, and nothing of the batch is written."""
    first, member, last = factories.MemberFactory.create_batch(3, tin="12-3456789")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE members_member SET tin = %s WHERE id = %s", [stored, member.pk])
    before = {m.pk: _raw("members_member", "ssn", m.pk) for m in (first, member, last)}
    with pytest.raises(UndecryptableDuringRotation) as caught:
        keys_rotate(batch_size=10, rotate_indexes=False)
    assert (caught.value.row_id, caught.value.column) == (member.pk, "tin")
    assert _raw("members_member", "tin", member.pk) == stored
    assert {m.pk: _raw("members_member", "ssn", m.pk) for m in (first, member, last)} == before


def test_a_fresh_plan_covers_every_id_once_in_batches_of_at_most_the_batch_size(csr):
    members = factories.MemberFactory.create_batch(11)
    Member.objects.filter(pk__in=[members[3].pk, members[4].pk, members[8].pk]).delete()  # gaps in the ids
    target = next(t for t in rotation.targets(with_indexes=False) if t.label == "members.member")
    prefix = members[0].pk
    with connection.cursor() as cursor:
        planned = rotation.TableProgress(prefix).plan(cursor, target, 3)
        cursor.execute("SELECT id FROM members_member WHERE id > %s ORDER BY id", [prefix])
        ids = [row[0] for row in cursor.fetchall()]
    assert planned[0].first == prefix + 1 and planned[-1].last == ids[-1]
    assert all(earlier.last + 1 == later.first for earlier, later in zip(planned, planned[1:], strict=False))
    per_batch = [[i for i in ids if batch.first <= i <= batch.last] for batch in planned]
    assert [len(rows) for rows in per_batch] == [3] * (len(ids) // 3) + ([len(ids) % 3] if len(ids) % 3 else [])
    with connection.cursor() as cursor:
        assert rotation.TableProgress(ids[-1]).plan(cursor, target, 3) == []


def test_the_command_and_the_task_report_counts(csr, capsys):
    factories.MemberFactory.create_batch(3)
    call_command("rotate_keys", "--batch-size", "2")
    assert "values re-encrypted" in capsys.readouterr().out
    from members.tasks import rotate_keys_task

    result = rotate_keys_task.delay(batch_size=2).get()
    assert result["status"] == "done" and result["values"] >= 9


def test_progress_moves_the_cursor_only_over_batches_with_nothing_pending_before_them():
    progress = rotation.TableProgress(10, [[40, 49]])
    progress.pending = {(11, 20), (21, 30), (31, 39), (50, 60)}
    progress.complete(21, 30)  # out of order: recorded as a range, the cursor stays
    assert (progress.prefix, progress.done) == (10, [[21, 30], [40, 49]])
    progress.complete(11, 20)
    assert (progress.prefix, progress.done) == (30, [[40, 49]])
    progress.complete(31, 39)  # reaches the range an earlier attempt finished
    assert (progress.prefix, progress.done) == (49, [])
    progress.complete(50, 60)
    assert (progress.prefix, progress.done) == (60, [])


def test_a_resumed_run_plans_batches_only_for_rows_not_yet_done(csr):
    with override_settings(FERNET_KEYS=[OLD_FERNET]):
        members = factories.MemberFactory.create_batch(9)
    ids = [member.pk for member in members]
    # As a parallel run interrupted after two batches out of order would have left it.
    KeyRotationRun.objects.create(cursors={"members.member": ids[1], "done": {"members.member": [[ids[4], ids[5]]]}})
    progress = rotation.TableProgress(ids[1], [[ids[4], ids[5]]])
    target = next(t for t in rotation.targets(with_indexes=False) if t.label == "members.member")
    with connection.cursor() as cursor:
        planned = progress.plan(cursor, target, 2)
    assert [(batch.first, batch.last) for batch in planned] == [(ids[2], ids[3]), (ids[6], ids[7]), (ids[8], ids[8])]

    skipped = {member_id: _raw("members_member", "ssn", member_id) for member_id in [*ids[:2], *ids[4:6]]}
    with override_settings(FERNET_KEYS=[NEW_FERNET, OLD_FERNET]):
        report = keys_rotate(batch_size=2, workers=2)
    assert report.resumed and report.workers == 1  # inside the test's transaction: this process only
    assert report.per_table["members.member"]["rows"] == 5
    assert {member_id: _raw("members_member", "ssn", member_id) for member_id in skipped} == skipped
    with override_settings(FERNET_KEYS=[NEW_FERNET]):
        new_key = derived_fernet_keys()[0]
    for member_id in [*ids[2:4], *ids[6:]]:
        assert Fernet(new_key).decrypt(_raw("members_member", "ssn", member_id))
    run = KeyRotationRun.objects.get()
    assert run.finished_at is not None and run.cursors["members.member"] == -1 and run.cursors["done"] == {}


def test_only_one_rotation_runs_at_a_time(csr):
    import psycopg2

    factories.MemberFactory()
    other = psycopg2.connect(**connection.get_connection_params())
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [rotation._LOCK_ID])
        with pytest.raises(rotation.RotationError, match="another key rotation is running"):
            keys_rotate(batch_size=10)
        assert not KeyRotationRun.objects.exists()
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [rotation._LOCK_ID])
    finally:
        other.close()
    assert keys_rotate(batch_size=10).values_reencrypted >= 3


def test_the_command_takes_a_worker_count(csr, capsys):
    factories.MemberFactory.create_batch(2)
    call_command("rotate_keys", "--batch-size", "1", "--workers", "3")
    out = capsys.readouterr().out
    assert "values re-encrypted" in out and "1 worker)" in out  # in a transaction: never forks


def _update_counts(table: str) -> tuple[int, int]:
    """This transaction's (updated rows, of them HOT) in ``table``."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(n_tup_upd), 0), coalesce(sum(n_tup_hot_upd), 0) FROM pg_stat_xact_user_tables "
            "WHERE relname = %s",
            [table],
        )
        updated, hot = cursor.fetchone()
        return int(updated), int(hot)


def test_rotation_rewrites_member_rows_in_place_without_new_index_entries():
    """Issue 18: members_member keeps half of each page free (members migration 0012) and no index covers an
    encrypted column, so each row's re-encryption is a HOT update (no new entry in any of its 17 indexes).
    On full pages most of these would be ordinary updates: this fails if the fillfactor or an index on an
    encrypted column comes back."""
    factories.MemberFactory.create_batch(60, ssn="123-45-6789", tin="12-3456789")
    before = _update_counts("members_member")
    report = keys_rotate(batch_size=1000, rotate_indexes=False)
    updated, hot = (after - earlier for after, earlier in zip(_update_counts("members_member"), before, strict=True))
    assert report.per_table["members.member"]["rows"] >= 60
    assert updated >= 60
    assert hot == updated
