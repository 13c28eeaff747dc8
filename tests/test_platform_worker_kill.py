"""A real Celery worker killed (SIGKILL) in the middle of a batch: a retention purge, a key rotation,
the shared SSN/TIN scan and the writing of a release's notices to its members. Re-running finishes the
work with each effect exactly once and the audit rows consistent with what happened (issue 18 item 3).

Each test starts a worker process on the real Redis broker against the test database (committed rows:
transactional tests), makes it stop inside a batch's transaction at a named point (members/faults.py),
kills it and its process group, then re-runs the same service and counts rows. Run alone by .ci/run
(its own step, like the notices' mid-delivery kill): inside the parallel suite another test's broker
state could stand between a task and the worker started here.
"""

from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from config.celery import app as celery_app
from members.crypto import derived_fernet_keys
from members.models import AuditEvent, KeyRotationRun, Member
from members.rotation import keys_rotate
from redflags import services as redflags_services
from redflags.models import Flag, ReviewItem, RiskAssessment
from retention.models import Category, DestructionCertificate, DestructionLedgerEntry, PurgeRun
from retention.services import retention_policy_ensure_defaults, retention_run_due
from tests import real_worker
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, available_apps=[config.name for config in apps.get_app_configs()]),
    pytest.mark.skipif(
        bool(os.environ.get("PYTEST_XDIST_WORKER")),
        reason="run alone by .ci/run's 'workers killed mid-batch' step (it starts and kills its own workers)",
    ),
]

OLD_FERNET = "old-fernet-key-for-kill-tests-0123456789abcd"
NEW_FERNET = "new-fernet-key-for-kill-tests-9876543210zyxw"


@pytest.fixture
def broker():
    real_worker.fresh_broker()
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = True
    real_worker.fresh_broker()


def _kill_at(point: str, task: str, tmp_path, env: dict[str, str] | None = None, **kwargs) -> None:
    """Start a worker that stops at ``point``, send it ``task``, and SIGKILL it once it is there."""
    flag = tmp_path / "paused"
    worker = real_worker.start(
        {"MEMBERGUARD_PAUSE_AT": point, "MEMBERGUARD_PAUSE_FLAG": str(flag), **(env or {})},
    )
    try:
        celery_app.send_task(task, kwargs=kwargs)
        assert real_worker.wait_for(flag.exists, 90), f"the worker never reached {point}"
    finally:
        real_worker.kill(worker)
    assert real_worker.wait_for_no_other_backends(), "PostgreSQL kept the dead worker's session"


def _audit(action: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("pk"))


def test_a_worker_killed_mid_purge_batch_loses_only_that_batch_and_the_rerun_destroys_the_rest_once(
    broker, tmp_path, settings
):
    category = Category.FORMER_MEMBER_IDENTIFIERS
    ledger_dir = tmp_path / "ledger"
    settings.RETENTION_LEDGER_DIR, settings.RETENTION_PURGE_BATCH_SIZE = str(ledger_dir), 2
    retention_policy_ensure_defaults()
    former = [
        MemberFactory(status=Member.Status.FORMER, left_on=timezone.localdate().replace(year=2015)) for _ in range(5)
    ]
    ids = sorted(member.pk for member in former)

    _kill_at(
        f"retention.purge_batch.{category}:2",
        "retention.run_due_purges",
        tmp_path,
        {"RETENTION_PURGE_BATCH_SIZE": "2", "RETENTION_LEDGER_DIR": str(ledger_dir)},
    )

    # The first batch committed; the second died with its transaction: nothing of it is left.
    destroyed = set(Member.objects.filter(pk__in=ids, ssn__isnull=True).values_list("pk", flat=True))
    assert destroyed == set(ids[:2])
    [dead] = PurgeRun.objects.filter(category=category)
    assert (dead.status, dead.records_destroyed, dead.batches) == (PurgeRun.Status.RUNNING, 2, 1)
    assert DestructionLedgerEntry.objects.filter(category=category).count() == 2
    assert [event.detail["ids"] for event in _audit("retention.purge_batch", object_id=dead.pk)] == [ids[:2]]

    runs = retention_run_due()  # the next night (or a re-run by hand)

    [rerun] = [run for run in runs if run.category == category]
    dead.refresh_from_db()
    assert dead.status == PurgeRun.Status.FAILED and dead.error == "interrupted"
    assert [event.object_id for event in _audit("retention.purge_interrupted")] == [str(dead.pk)]
    assert (rerun.status, rerun.records_destroyed) == (PurgeRun.Status.DONE, 3)
    assert set(Member.objects.filter(pk__in=ids, ssn__isnull=True).values_list("pk", flat=True)) == set(ids)
    # Exactly once: every record in one committed batch, one ledger entry and one audit row.
    batch_ids = [pk for event in _audit("retention.purge_batch") for pk in event.detail["ids"]]
    assert sorted(batch_ids) == ids
    digests = list(DestructionLedgerEntry.objects.filter(category=category).values_list("digest", flat=True))
    assert len(digests) == len(set(digests)) == 5
    assert DestructionCertificate.objects.get(run=rerun).records_destroyed == 3
    assert len(_audit("retention.purge_finished", object_id=rerun.pk)) == 1
    assert not _audit("retention.purge_finished", object_id=dead.pk)

    again = [run for run in retention_run_due() if run.category == category]
    assert again[0].records_destroyed == 0
    assert DestructionLedgerEntry.objects.filter(category=category).count() == 5


def _raw_ssn(pk: int) -> bytes:
    with connection.cursor() as cursor:
        cursor.execute("SELECT ssn FROM members_member WHERE id = %s", [pk])
        return bytes(cursor.fetchone()[0])


def test_a_worker_killed_mid_rotation_batch_resumes_and_counts_every_row_once(broker, tmp_path, settings):
    with override_settings(FERNET_KEYS=[OLD_FERNET]):
        members = [MemberFactory() for _ in range(6)]
    table_rows = {"members.member": Member.objects.count()}

    _kill_at(
        "keys.rotation_batch:2",
        "members.rotate_keys",
        tmp_path,
        {"FERNET_KEYS": f"{NEW_FERNET},{OLD_FERNET}", "BLIND_INDEX_KEY": settings.BLIND_INDEX_KEY},
        batch_size=2,
        workers=1,
    )

    [run] = KeyRotationRun.objects.all()
    assert run.finished_at is None
    done_rows = sum(stats["rows"] for stats in run.counts.values())
    assert done_rows == 2  # the first batch, recorded after it committed; the second rolled back
    assert not _audit("keys.rotated")

    with override_settings(FERNET_KEYS=[NEW_FERNET, OLD_FERNET]):
        report = keys_rotate(batch_size=2, workers=1)

    assert report.resumed and report.run_id == run.pk
    run.refresh_from_db()
    assert run.finished_at is not None
    for label, rows in table_rows.items():
        assert run.counts[label]["rows"] == rows  # no batch counted twice, none skipped
    [rotated] = _audit("keys.rotated")
    assert rotated.object_id == str(run.pk) and rotated.detail["resumed"] is True
    with override_settings(FERNET_KEYS=[NEW_FERNET]):
        (new_key,) = derived_fernet_keys()[:1]
        for member in members:
            Fernet(new_key).decrypt(_raw_ssn(member.pk))  # every value now under the new key
            assert Member.objects.get(pk=member.pk).ssn == member.ssn
    with override_settings(FERNET_KEYS=[OLD_FERNET]):
        old_key = derived_fernet_keys()[0]
        with pytest.raises(InvalidToken):
            Fernet(old_key).decrypt(_raw_ssn(members[0].pk))


def test_a_worker_killed_mid_shared_ssn_scan_leaves_nothing_and_the_rerun_flags_each_member_once(broker, tmp_path):
    first_group = [MemberFactory(ssn="215443821") for _ in range(3)]
    second_group = [MemberFactory(ssn="215443822") for _ in range(2)]
    MemberFactory(ssn="215443823")  # shares with nobody
    everyone = first_group + second_group

    _kill_at("redflags.tax_id_scan_member:3", "redflags.shared_tax_id_scan", tmp_path)

    # The scan is one transaction: the two members it had scored before the kill are not left half-done.
    assert not RiskAssessment.objects.exists() and not ReviewItem.objects.exists()
    assert not _audit("redflags.tax_id_scan")

    counts = redflags_services.shared_tax_id_scan()

    assert counts["groups_found"] == 2 and counts["members_flagged"] == 5
    for member in everyone:
        assert ReviewItem.objects.filter(member=member, assessment__flags__code="B5_SSN_SHARED").count() == 1
    assert len(_audit("redflags.tax_id_scan")) == 1

    again = redflags_services.shared_tax_id_scan()

    assert again["members_flagged"] == 0 and again["members_already_flagged"] == 5
    assert Flag.objects.filter(code="B5_SSN_SHARED").count() == 5
    assert len(_audit("redflags.tax_id_scan")) == 2  # each completed scan has its row; the killed one none


def test_a_worker_killed_writing_a_releases_notices_leaves_none_and_the_sweep_writes_each_once(
    broker, tmp_path, make_user
):
    from disclosures import services as disclosures
    from disclosures.models import DataCategory, Purpose, Recipient, ReleaseNoticeDue
    from members import roles
    from members.notices.models import Notice
    from tests.disclosures.conftest import written_consent

    officer = make_user("privacy-kill", role=roles.PRIVACY_OFFICER)
    csr = make_user("csr-kill", role=roles.CSR)
    partner = disclosures.recipient_create(actor=officer, name="HomeWarm Offers", kind=Recipient.Kind.NON_AFFILIATED)
    members = MemberFactory.create_batch(3)
    for member in members:
        written_consent(csr, member, partner)
    # The release commits (its own transaction) and leaves its task on the broker for the worker below.
    disclosures.disclosure_export(
        actor=officer, recipient=partner, categories=[DataCategory.CONTACT], purpose=Purpose.MARKETING
    ).read_all()
    due = ReleaseNoticeDue.objects.get()

    _kill_at("disclosures.release_notices_write", "disclosures.release_notices_write", tmp_path, due_id=due.pk)

    # The notices and the due row's completion are one transaction: the kill left none of it.
    due.refresh_from_db()
    assert due.done_at is None and due.notices == 0
    assert not Notice.objects.filter(kind="data_released").exists()
    assert not _audit("notice.queued")

    assert disclosures.release_notices_sweep(grace_seconds=0) == 1  # the beat's sweep (or its next run)

    notices = Notice.objects.filter(kind="data_released")
    assert sorted(notice.member_id for notice in notices) == sorted(member.pk for member in members)
    due.refresh_from_db()
    assert due.done_at is not None and due.notices == len(members)
    assert len(_audit("notice.queued")) == 1
    # Exactly once: another sweep, and the task run again, write nothing more.
    assert disclosures.release_notices_sweep(grace_seconds=0) == 0
    assert disclosures.release_notices_write(due_id=due.pk) is None
    assert Notice.objects.filter(kind="data_released").count() == len(members)
    assert len(_audit("notice.queued")) == 1
