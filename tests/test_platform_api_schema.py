from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_documents_every_api_endpoint_without_warnings(tmp_path, capsys):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(target), "--fail-on-warn")
    schema = target.read_text()
    for path in (
        "/api/members/",
        "/api/accounts/",
        "/api/premises/",
        "/api/bills/",
        "/api/payments/",
        "/api/me/consents/",
    ):
        assert f"{path}:" in schema, path


def test_anonymous_callers_cannot_read_the_schema(client):
    assert client.get("/api/schema/").status_code in (401, 403)


def test_a_signed_in_user_can_read_the_schema(client, make_user):
    client.force_login(make_user("integration"))
    assert client.get("/api/schema/").status_code == 200
