"""Writes of the migration's own records: the reconciliation of a run, and its sign-off.

Both are append-only (a database trigger refuses UPDATE and DELETE) and audited in the same transaction.
The sign-off is the migration lead's: someone holding ``accounts.sign_off_migrationrun`` who did not run
the migration (four eyes: the operator who loaded the files does not approve their own reconciliation),
and only of a run that balances (every entity loaded to the end, every total equal to the cent).
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from accounts.models import MigrationRun, MigrationSignOff
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import User

SIGN_OFF_PERMISSION = "accounts.sign_off_migrationrun"


def _grouped(sums: dict[str, Any]) -> dict[str, Any]:
    """The totals with thousands separators for the audit detail: the audit refuses nine digits in a row
    (they look like an SSN), and a co-op's billed total passes $100,000,000 (the run itself keeps them
    plain)."""
    return {name: {side: f"{Decimal(amount):,.2f}" for side, amount in total.items()} for name, total in sums.items()}


def migration_run_record(
    *,
    started_at: datetime.datetime,
    run_by: User | None,
    actor_label: str,
    source: str,
    outcome: str,
    files: dict[str, Any],
    entities: dict[str, Any],
    sums: dict[str, Any],
    balanced: bool,
    problems: int,
    problem_sample: list[dict[str, Any]],
) -> MigrationRun:
    with transaction.atomic():
        run = MigrationRun.objects.create(
            started_at=started_at,
            run_by=run_by,
            actor_label=actor_label,
            source=source,
            outcome=outcome,
            files=files,
            entities=entities,
            sums=sums,
            balanced=balanced and outcome == MigrationRun.Outcome.COMPLETE,
            problems=problems,
            problem_sample=problem_sample,
        )
        audit_record(
            actor=run_by,
            actor_label=actor_label,
            action="migration.reconciled",
            obj=run,
            detail={"outcome": outcome, "balanced": run.balanced, "problems": problems, "sums": _grouped(sums)},
        )
    return run


def migration_run_sign_off(*, run: MigrationRun, actor: Actor, note: str = "") -> MigrationSignOff:
    """The migration lead's approval of ``run``'s reconciliation. Raises ``ValidationError``."""
    user = signed_in_user(actor)
    if user is None or not user.has_perm(SIGN_OFF_PERMISSION):
        raise ValidationError({"run": ["Only the migration lead (permission to sign off migrations) may sign off."]})
    if run.run_by_id is not None and run.run_by_id == user.pk:
        raise ValidationError({"run": ["The operator who ran the migration cannot sign off its reconciliation."]})
    if not run.balanced:
        raise ValidationError(
            {"run": ["This run does not balance (an entity unfinished or a total off): re-run to resume, then sign."]}
        )
    with transaction.atomic():
        # Sign-offs are insert-only (no row lock for the runtime role): two signers wait on this lock; the
        # one-to-one key would refuse the second anyway.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('migration-sign-off'), %s)", [run.pk])
        if MigrationSignOff.objects.filter(run=run).exists():
            raise ValidationError({"run": ["This run is signed off already."]})
        sign_off = MigrationSignOff.objects.create(run=run, signed_by=user, note=note.strip())
        audit_record(actor=user, action="migration.signed_off", obj=run, detail={"sign_off": sign_off.pk}, reason=note)
    return sign_off
