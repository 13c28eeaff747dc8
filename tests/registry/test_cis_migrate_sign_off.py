"""The migration lead's sign-off of a reconciliation (accounts/cis_migrate/services.py, the admin action)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InternalError, ProgrammingError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.cis_migrate import migrate
from accounts.cis_migrate.services import migration_run_record, migration_run_sign_off
from accounts.cis_migrate.synthetic import write_coop
from accounts.models import MigrationRun, MigrationSignOff
from members import roles
from members.models import AuditEvent

pytestmark = pytest.mark.django_db

RUNS = reverse("admin:accounts_migrationrun_changelist")


@pytest.fixture
def operator(make_user):
    return make_user("operator-olga", role=roles.PROGRAM_ADMINISTRATOR)


@pytest.fixture
def lead(make_user):
    return make_user("lead-lou", role=roles.PROGRAM_ADMINISTRATOR)


@pytest.fixture
def run(tmp_path, operator):
    write_coop(tmp_path, members=5, months=2, prefix="V")
    return migrate(tmp_path, run_by=operator).run


def test_the_lead_signs_off_a_balanced_run_once_with_an_audit_row(run, lead):
    sign_off = migration_run_sign_off(run=run, actor=lead, note="Totals agree with the CIS trial balance.")

    assert sign_off.signed_by == lead and run.sign_off == sign_off
    assert AuditEvent.objects.filter(action="migration.signed_off", actor=lead, object_id=str(run.pk)).exists()
    with pytest.raises(ValidationError, match="signed off already"):
        migration_run_sign_off(run=run, actor=lead)


def test_the_operator_cannot_sign_off_their_own_run(run, operator):
    with pytest.raises(ValidationError, match="operator who ran the migration"):
        migration_run_sign_off(run=run, actor=operator)
    assert not MigrationSignOff.objects.exists()


@pytest.mark.parametrize("role", [None, roles.CSR, roles.AUDITOR])
def test_only_a_holder_of_the_sign_off_permission_may_sign(run, make_user, role):
    actor = make_user("someone", role=role) if role else None
    with pytest.raises(ValidationError, match="Only the migration lead"):
        migration_run_sign_off(run=run, actor=actor)


def test_a_run_that_does_not_balance_cannot_be_signed_off(run, lead):
    unbalanced = MigrationRun.objects.create(
        started_at=run.started_at, actor_label="t", source="x", outcome="interrupted", balanced=False
    )
    with pytest.raises(ValidationError, match="does not balance"):
        migration_run_sign_off(run=unbalanced, actor=lead)


def test_runs_and_sign_offs_are_append_only(run, lead):
    migration_run_sign_off(run=run, actor=lead)
    for statement in (
        lambda: MigrationRun.objects.filter(pk=run.pk).update(balanced=False),
        lambda: MigrationRun.objects.filter(pk=run.pk).delete(),
        lambda: MigrationSignOff.objects.filter(run=run).update(note="changed"),
    ):
        with pytest.raises((InternalError, IntegrityError, ProgrammingError)), transaction.atomic():
            statement()


def test_the_lead_signs_off_in_the_admin(client, run, lead):
    client.force_login(lead)
    response = client.get(RUNS)
    assert response.status_code == 200 and "sign_off" in response.content.decode()

    client.post(RUNS, {"action": "sign_off", "_selected_action": [run.pk]})

    assert MigrationSignOff.objects.get(run=run).signed_by == lead


def test_the_admin_shows_runs_to_no_one_without_the_permission(client, run, make_user):
    client.logout()
    assert client.get(RUNS).status_code == 302  # anonymous: to the login page
    csr = make_user("csr-cal", role=roles.CSR)
    client.force_login(csr)
    assert client.get(RUNS).status_code == 403
    auditor = make_user("auditor-al", role=roles.AUDITOR)
    client.force_login(auditor)
    response = client.get(RUNS)
    assert response.status_code == 200 and "sign_off" not in response.content.decode()  # may read, not sign
    client.post(RUNS, {"action": "sign_off", "_selected_action": [run.pk]})
    assert not MigrationSignOff.objects.exists()


def test_a_run_whose_totals_pass_nine_digits_is_recorded_with_its_audit_row(operator):
    # At 20,000 members the billed total passed $100,000,000: "123456789.00" looks like an SSN to the
    # audit's guard, which refused the run's record at the very end of the load.
    sums = {"bills.amount_due": {"file": "123456789.00", "stored": "123456789.00", "difference": "0.00"}}
    run = migration_run_record(
        started_at=timezone.now(),
        run_by=operator,
        actor_label="migration:cis",
        source="coop",
        outcome=MigrationRun.Outcome.COMPLETE,
        files={},
        entities={},
        sums=sums,
        balanced=True,
        problems=0,
        problem_sample=[],
    )

    assert MigrationRun.objects.get(pk=run.pk).sums == sums  # the run keeps them as they were
    audit = AuditEvent.objects.get(action="migration.reconciled", object_id=str(run.pk))
    assert audit.detail["sums"]["bills.amount_due"]["file"] == "123,456,789.00"
