"""/healthz when PostgreSQL cannot be reached: a real failed connection, not a patched check.

No ``django_db`` mark: the test closes the connection and points it at a port nothing listens on,
which a test wrapped in a transaction could not do. It restores the settings before it ends.
"""

from __future__ import annotations

from django.db import connection

from config.health import heartbeat


def test_healthz_is_503_naming_the_database_when_it_is_unreachable(client, django_db_setup, django_db_blocker):
    heartbeat.delay()  # Redis and the worker are up: only the database is down
    with django_db_blocker.unblock():
        connection.close()
        saved_host, saved_port = connection.settings_dict["HOST"], connection.settings_dict["PORT"]
        saved_options = dict(connection.settings_dict["OPTIONS"])
        connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
        connection.settings_dict["OPTIONS"] = {**saved_options, "host": "127.0.0.1", "port": 1, "connect_timeout": 2}
        try:
            response = client.get("/healthz")
        finally:
            connection.close()
            connection.settings_dict.update(HOST=saved_host, PORT=saved_port, OPTIONS=saved_options)
        assert response.status_code == 503
        body = response.json()
        assert body["database"] == {"ok": False, "error": "OperationalError"}
        assert body["redis"]["ok"] and body["worker"]["ok"] and body["status"] == "unavailable"
        with connection.cursor() as cursor:  # and the connection works again afterwards
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
