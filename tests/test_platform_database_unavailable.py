"""A database outage is a 503 with Retry-After and no traceback, in a view and in a middleware
(config/unavailable.py). A real failed connection: the test points the connection at a port nothing
listens on (as tests/test_platform_health_database.py does), then restores it."""

from __future__ import annotations

import contextlib

import pytest
from django.apps import apps
from django.db import connection
from django.test import Client

from members import roles

# Transactional: the test closes the connection, which a test wrapped in a transaction could not do.
pytestmark = pytest.mark.django_db(transaction=True, available_apps=[config.name for config in apps.get_app_configs()])


@contextlib.contextmanager
def _database_away():
    connection.close()
    saved_host, saved_port = connection.settings_dict["HOST"], connection.settings_dict["PORT"]
    saved_options = dict(connection.settings_dict["OPTIONS"])
    connection.settings_dict.update(HOST="127.0.0.1", PORT="1")
    connection.settings_dict["OPTIONS"] = {**saved_options, "host": "127.0.0.1", "port": 1, "connect_timeout": 2}
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(HOST=saved_host, PORT=saved_port, OPTIONS=saved_options)


def _no_traceback(body: str) -> None:
    assert "Traceback" not in body and "OperationalError" not in body and "psycopg2" not in body


def test_an_api_call_while_the_database_is_away_is_a_json_503(make_user):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=make_user("outage-csr", role=roles.CSR)).key
    client = Client(raise_request_exception=False)
    with _database_away():
        response = client.get("/api/members/", HTTP_AUTHORIZATION=f"Token {token}")  # fails in the view (auth)
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "briefly unavailable" in response.json()["detail"]
    _no_traceback(response.content.decode())
    assert client.get("/api/members/", HTTP_AUTHORIZATION=f"Token {token}").status_code == 200  # back


def test_a_page_whose_session_cannot_be_loaded_is_a_503_page(make_user):
    client = Client(raise_request_exception=False)
    client.force_login(make_user("outage-member", is_staff=False))
    with _database_away():
        response = client.get("/portal/")  # the session and the user load in middleware, before any view
    assert response.status_code == 503 and response["Content-Type"].startswith("text/html")
    assert "Temporarily unavailable" in response.content.decode()
    _no_traceback(response.content.decode())


def test_any_other_error_is_still_a_plain_500():
    from config import unavailable

    client = Client(raise_request_exception=False)
    request = client.get("/healthz").wsgi_request
    response = unavailable.server_error(request)
    assert response.status_code == 500 and "Server error" in response.content.decode()
