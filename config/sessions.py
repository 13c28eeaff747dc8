"""The database session store, with a session read by one fixed statement.

Every request with a session cookie reads the session. Django's ``db.SessionStore`` composes
``Session.objects.get(session_key=..., expire_date__gt=now)`` with the ORM each time: about 0.3 ms of Python
per request (docs/benchmarks.md). This store reads the same row with a statement written once; writes,
expiry, cycling and clearing are Django's (``tests/signin/test_request_loads.py``).
"""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.db import connections, router
from django.utils import timezone


class SessionStore(DatabaseStore):
    def _get_session_from_db(self):
        model = self.model
        using = router.db_for_read(model)
        connection = connections[using]
        quote = connection.ops.quote_name
        sql = f"SELECT session_data, expire_date FROM {quote(model._meta.db_table)} WHERE session_key = %s AND expire_date > %s"  # noqa: S608, E501
        with connection.cursor() as cursor:
            cursor.execute(sql, [self.session_key, timezone.now()])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # as Django's store does: a missing or expired key is not reused
            return None
        return model(session_key=self.session_key, session_data=row[0], expire_date=row[1])
