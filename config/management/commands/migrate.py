"""``migrate`` as the database owner, then the runtime role's grants (config/db_roles.py).

The web, worker and beat processes connect as the runtime role, which may not create or alter a
table; this command switches its connection to the owner (``MIGRATION_DATABASE_URL``, or
``DATABASE_URL``'s login without ``DATABASE_ROLE``) for the duration, so ``manage.py migrate`` (and the
test runner's database set-up, which calls it) needs nothing else.
"""

from __future__ import annotations

from django.core.management.commands import migrate

from config.db_roles import AsOwner, apply_runtime_grants, ensure_runtime_role


class Command(migrate.Command):
    help = migrate.Command.help + " Connects as the database owner and then grants the runtime role its rights."

    def execute(self, *args, **options):
        # Before the system checks, which connect acting as the runtime role: a fresh server has none yet.
        ensure_runtime_role(options.get("database") or "default")
        return super().execute(*args, **options)

    def handle(self, *args, **options):
        with AsOwner(options["database"]) as connection:
            super().handle(*args, **options)
            if not (options.get("plan") or options.get("check_unapplied")):
                tables = apply_runtime_grants(connection)
                if options["verbosity"] >= 1:
                    self.stdout.write(f"Runtime role granted; append-only tables protected: {', '.join(tables)}")
