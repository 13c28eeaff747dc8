"""``manage.py cis_migrate <dir>``: move a co-op in from its legacy CIS (docs/migration.md).

``--check`` reads and checks every file and loads nothing. Without it the files are checked, then the
accepted rows load batch by batch, the run is reconciled and kept as an ``accounts.MigrationRun`` (the
migration lead signs it off in the admin), and Red Flags scans the members it loaded.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.cis_migrate import (
    MigrationRefused,
    Plan,
    analyze_migrated_tables,
    check,
    default_workers,
    layout,
    migrate,
)
from members.models import User


class Command(BaseCommand):
    help = "Check (--check) or load a directory of legacy CIS files in the migration layout (safe to re-run)."

    def add_arguments(self, parser):
        parser.add_argument("directory", help=f"Holds any of: {', '.join(spec.filename for spec in layout.FILES)}")
        parser.add_argument("--check", action="store_true", help="Read and check every file; load nothing.")
        parser.add_argument("--encoding", help="The files' encoding (default: detected per file).")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument(
            "--workers", type=int, default=None, help="Processes loading members (default: cores, ≤ 4)."
        )
        parser.add_argument("--operator", help="Username of the person running the load (recorded on the run).")
        parser.add_argument("--report", help="Write every problem (file, line, field, reason) to this CSV file.")

    def handle(self, *args, directory: str, **options):
        path = Path(directory)
        if not path.is_dir():
            raise CommandError(f"{directory} is not a directory")
        if not any((path / spec.filename).is_file() for spec in layout.FILES):
            raise CommandError(f"{directory} holds none of the layout's files (docs/migration.md)")
        started = time.perf_counter()
        if options["check"]:
            plan = check(path, encoding=options["encoding"])
            self._problems(plan, options["report"])
            self._counts(plan)
            self.stdout.write(f"Checked in {time.perf_counter() - started:.1f}s; nothing was loaded.")
            return
        operator = self._operator(options["operator"])

        def progress(entity, count):
            self.stderr.write(
                f"  {entity}: batch {count.batches}, {count.loaded} loaded, {count.already_present} present"
            )

        try:
            outcome = migrate(
                path,
                encoding=options["encoding"],
                batch_size=options["batch_size"],
                workers=options["workers"] or default_workers(),
                run_by=operator,
                actor_label=f"migration:{path.name}",
                on_batch=progress,
            )
        except MigrationRefused as exc:
            self._problems(exc.plan, options["report"])
            raise CommandError(str(exc)) from None
        except Exception as exc:  # a batch failed: the run is recorded as interrupted; a re-run resumes
            raise CommandError(
                f"The load stopped ({type(exc).__name__}): batches committed so far stay, and the reconciliation "
                "recorded the run as interrupted; fix the cause and run the same command again to resume."
            ) from exc
        analyze_migrated_tables()
        self._problems(outcome.plan, options["report"])
        self._reconciliation(outcome.run)
        for summary in outcome.red_flags:
            self.stdout.write(self.style.SUCCESS(summary))
        self.stdout.write(f"Done in {time.perf_counter() - started:.1f}s; migration run {outcome.run.pk}.")

    def _operator(self, username: str | None) -> User | None:
        if not username:
            return None
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"--operator: no user {username}") from None

    def _problems(self, plan: Plan, report: str | None) -> None:
        for problem in plan.problems:
            self.stdout.write(f"  problem: {problem}")
        if report:
            with open(report, "w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(["file", "line", "field", "reason"])
                writer.writerows([p.file, p.line, p.field, p.reason] for p in plan.problems)

    def _counts(self, plan: Plan) -> None:
        self.stdout.write(f"{len(plan.problems)} problems.")
        for found in plan.files.values():
            state = "REFUSED" if found.refused else f"{found.good - found.present} would load"
            self.stdout.write(
                f"  {found.spec.filename} ({found.encoding or '?'}): {found.read} rows, "
                f"{len(found.bad_lines)} rejected, {found.present} already present, {state}"
            )

    def _reconciliation(self, run) -> None:
        self.stdout.write("Reconciliation (read / loaded / rejected / already present / stored of accepted):")
        for entity, row in run.entities.items():
            done = "" if row.get("complete") else "  NOT FINISHED: re-run to load the rest"
            self.stdout.write(
                f"  {entity}: {row['read']} / {row.get('loaded', 0)} / {row['rejected']} / "
                f"{row.get('already_present', 0)} / {row['stored']} of {row['accepted']}{done}"
            )
        for name, total in run.sums.items():
            self.stdout.write(
                f"  {name}: files {total['file']}, stored {total['stored']}, difference {total['difference']}"
            )
        verdict = "balances" if run.balanced else "DOES NOT BALANCE"
        style = self.style.SUCCESS if run.balanced else self.style.WARNING
        self.stdout.write(
            style(f"Migration run {run.pk} {verdict}; {run.problems} problems. Sign it off in the admin.")
        )
