"""`manage.py reapply_destruction_ledger`: after restoring a backup, destroy again what was destroyed
since it was taken (docs/backups.md says when). Reads the ledger files (RETENTION_LEDGER_DIR, kept
apart from the database) and this database's own ledger; each category re-applied gets its own run
and certificate. Safe to run more than once."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from retention.services import retention_ledger_reapply


class Command(BaseCommand):
    help = "Re-apply the destruction ledger to a database restored from a backup"

    def add_arguments(self, parser):
        parser.add_argument("--ledger-dir", type=Path, default=None, help="Ledger files (default RETENTION_LEDGER_DIR)")

    def handle(self, *args, **options):
        runs = retention_ledger_reapply(directory=options["ledger_dir"])
        for run in runs:
            self.stdout.write(f"{run.category}: {run.records_destroyed} destroyed again (run #{run.pk})")
        self.stdout.write(self.style.SUCCESS(f"ledger re-applied: {sum(r.records_destroyed for r in runs)} records"))
