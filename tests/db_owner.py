"""The test suite runs as the runtime database role (config/db_roles.py): every connection the tests open
acts as ``DATABASE_RUNTIME_ROLE`` (Django's ``assume_role``; ``migrate`` and ``flush`` switch to the
owner themselves). A test that plays the database administrator, e.g. to tamper with a log behind the
application's back, does so explicitly inside ``as_owner``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import connection


@contextmanager
def as_owner(*, triggers: bool = True) -> Iterator[None]:
    """Act as the login (the owner, a superuser on test machines); ``triggers=False`` also switches every
    trigger off for this session, as an administrator restoring or tampering would."""
    with connection.cursor() as cursor:
        cursor.execute("SET ROLE NONE")
        if not triggers:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            if not triggers:
                cursor.execute("SET session_replication_role = DEFAULT")
            cursor.execute("SET ROLE %s", [settings.DATABASE_RUNTIME_ROLE])


def tamper(sql: str, params=()) -> None:
    """Change rows as a database administrator would: as the owner, triggers off for this session only."""
    with as_owner(triggers=False), connection.cursor() as cursor:
        cursor.execute(sql, params)
