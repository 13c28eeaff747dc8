"""allauth's authentication backend, with the signed-in user loaded by one fixed statement.

Every request of a signed-in user loads that user (``AuthenticationMiddleware`` → ``get_user``). Django's
``ModelBackend.get_user`` composes ``User.objects.get(pk=...)`` with the ORM each time: about 0.5 ms of
Python, an eighth of the CSR's lookup (members/find.py, docs/benchmarks.md). The statement here is
composed once from the model's columns and gives the same user (``tests/signin/test_request_loads.py``);
everything else, sign-in included, is allauth's.
"""

from __future__ import annotations

import functools

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth import get_user_model
from django.db import connection


class AuthenticationBackend(AllauthBackend):
    def get_user(self, user_id):
        model = get_user_model()
        sql, attnames = _user_by_pk()
        with connection.cursor() as cursor:
            cursor.execute(sql, [user_id])
            row = cursor.fetchone()
        if row is None:
            return None
        user = model.from_db(connection.alias, attnames, row)
        return user if self.user_can_authenticate(user) else None


@functools.cache
def _user_by_pk() -> tuple[str, list[str]]:
    """The user table's concrete columns by primary key, and the attribute names they load into."""
    model = get_user_model()
    fields = model._meta.concrete_fields
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    return f"SELECT {columns} FROM {table} WHERE {pk} = %s", [field.attname for field in fields]  # noqa: S608
