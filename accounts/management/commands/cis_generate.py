"""``manage.py cis_generate --members N <dir>``: a synthetic co-op in the migration layout (docs/migration.md)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.cis_migrate.synthetic import write_coop


class Command(BaseCommand):
    help = "Write a synthetic co-op (fake but valid-looking, with messy CIS realities) in the migration layout."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument("--members", type=int, required=True)
        parser.add_argument("--months", type=int, default=24, help="Months of bills and payments (default 24).")
        parser.add_argument("--prefix", default="C", help="Member numbers start with this (default C).")
        parser.add_argument("--with-rejects", action="store_true", help="Add rows the check must report.")

    def handle(self, *args, directory: str, members: int, months: int, prefix: str, with_rejects: bool, **options):
        if members < 1 or months < 1:
            raise CommandError("--members and --months must be at least 1")
        written = write_coop(Path(directory), members=members, months=months, prefix=prefix, rejects=with_rejects)
        for entity, rows in written.items():
            self.stdout.write(f"  {entity}: {rows} rows")
