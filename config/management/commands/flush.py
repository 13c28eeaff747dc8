"""``flush`` as the database owner: TRUNCATE is a right the runtime role does not have (config/db_roles.py).

Nothing in production flushes; the test runner does between transactional tests.
"""

from __future__ import annotations

from django.core.management.commands import flush

from config.db_roles import AsOwner


class Command(flush.Command):
    def handle(self, *args, **options):
        with AsOwner(options["database"]):
            super().handle(*args, **options)
