"""Moving a co-op in from its legacy CIS: one CSV per entity, checked before it loads, reconciled after.

The operator's guide is docs/migration.md. The interface:

* ``check(directory, encoding=None)`` reads and checks every file (``checking``), loads nothing;
* ``migrate(directory, ...)`` checks, refuses the whole run if a file cannot be read (encoding, header),
  loads the accepted rows batch by batch (``loading``), reconciles (``reconcile``), keeps the result as an
  append-only ``accounts.MigrationRun`` (``services``) and announces the members it loaded or gave
  accounts (``members.signals.members_imported``: Red Flags scans them, redflags/receivers.py);
* ``layout.FILES``: the files, their keys, columns and references; ``synthetic``: a generated co-op.

It builds on the legacy import (accounts.cis_import): the members' columns, cleaners, bulk Fernet, blind
indexes and worker pool are that import's, so one recipe indexes and encrypts both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial as partial_function
from pathlib import Path

from django.db import connection
from django.utils import timezone

from accounts.cis_migrate.checking import Plan, Problem, check, check_and_load, problem_sample
from accounts.cis_migrate.loading import Loader, LoadResult
from accounts.cis_migrate.reconcile import reconcile
from accounts.cis_migrate.services import migration_run_record
from accounts.models import MigrationRun
from members.models import Member, User
from members.signals import members_imported
from members.worker_pool import default_workers

__all__ = [
    "MigrationRefused",
    "Outcome",
    "Plan",
    "Problem",
    "analyze_migrated_tables",
    "check",
    "default_workers",
    "migrate",
]

_ANALYZED = (
    "members_member",
    "members_financialaccount",
    "members_capitalcreditallocation",
    "members_capitalcreditretirement",
    "accounts_premise",
    "accounts_meter",
    "accounts_account",
    "accounts_authorizedparty",
    "accounts_bill",
    "accounts_payment",
)


class MigrationRefused(ValueError):
    """A file cannot be read (its encoding or its header): nothing was loaded. ``plan`` says why."""

    def __init__(self, plan: Plan):
        self.plan = plan
        refused = ", ".join(check.spec.filename for check in plan.refused)
        super().__init__(f"Nothing was loaded: {refused} cannot be read as the layout says (see the problems).")


@dataclass
class Outcome:
    plan: Plan
    result: LoadResult
    run: MigrationRun
    red_flags: list[str]


def analyze_migrated_tables() -> None:
    """Refresh the planner's statistics after a load (``manage.py cis_migrate`` does; autovacuum would,
    later, and the portal's and admin's queries should not wait for it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(_ANALYZED)}")


def _files(plan: Plan) -> dict[str, dict[str, str]]:
    return {check.spec.filename: {"encoding": check.encoding} for check in plan.files.values()}


def migrate(
    directory: Path,
    *,
    encoding: str | None = None,
    batch_size: int = 5000,
    workers: int = 1,
    run_by: User | None = None,
    actor_label: str = "migration:cis",
    on_batch: Callable | None = None,
    announce_to_red_flags: bool = True,
) -> Outcome:
    """Check and load in one pass, reconcile and record. Raises ``MigrationRefused`` (nothing loaded) when
    a file cannot be read; re-raises what interrupted a load after recording the run as interrupted (a
    re-run resumes)."""
    started = timezone.now()
    loader = Loader(actor_label=actor_label, workers=workers, on_batch=on_batch)
    partial = Plan(directory)
    record = partial_function(
        _record, loader=loader, started=started, run_by=run_by, actor_label=actor_label, directory=directory
    )
    try:
        plan = check_and_load(directory, loader, encoding=encoding, batch_size=batch_size, into=partial)
    except BaseException:
        loader.abort()
        record(partial, MigrationRun.Outcome.INTERRUPTED)
        raise
    loader.close()
    if plan.refused:
        raise MigrationRefused(plan)
    run = record(plan, MigrationRun.Outcome.COMPLETE)
    red_flags = announce(loader.result, actor_label=actor_label) if announce_to_red_flags else []
    return Outcome(plan, loader.result, run, red_flags)


def _record(
    plan: Plan, outcome: str, *, loader: Loader, started, run_by: User | None, actor_label: str, directory: Path
) -> MigrationRun:
    entities, sums, balanced = reconcile(plan, loader.result)
    return migration_run_record(
        started_at=started,
        run_by=run_by,
        actor_label=actor_label,
        source=str(directory),
        outcome=outcome,
        files=_files(plan),
        entities=entities,
        sums=sums,
        balanced=balanced,
        problems=len(plan.problems),
        problem_sample=problem_sample(plan),
    )


def announce(result: LoadResult, *, actor_label: str) -> list[str]:
    """``members_imported`` for the members this run loaded or gave accounts: Red Flags scans them (shared
    SSN/TIN, shared address or phone, the fraud list). Returns the receivers' one-line summaries."""
    if not result.member_ids:
        return []
    responses = members_imported.send(sender=Member, member_ids=sorted(result.member_ids), actor_label=actor_label)
    return [summary for _, summary in responses if summary]
