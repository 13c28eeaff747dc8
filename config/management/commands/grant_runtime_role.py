"""Grant the runtime database role its rights again (``migrate`` does this itself after every run).

manage.py grant_runtime_role [--role NAME]
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from config.db_roles import AsOwner, apply_runtime_grants


class Command(BaseCommand):
    help = "Create the runtime role if missing, grant its rights and protect the append-only tables (as owner)."

    def add_arguments(self, parser):
        parser.add_argument("--role", default="", help="the runtime role (default: DATABASE_RUNTIME_ROLE)")
        parser.add_argument("--database", default="default")

    def handle(self, *args, **options):
        with AsOwner(options["database"]) as connection:
            tables = apply_runtime_grants(connection, role=options["role"] or None)
        self.stdout.write(f"append-only tables protected: {', '.join(tables)}")
