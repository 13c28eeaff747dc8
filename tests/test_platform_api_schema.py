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


def test_staff_read_the_schema_and_a_member_may_not(client, make_user):
    """Issue 11 item 10: the schema maps every endpoint, so only staff read it."""
    from members import roles

    client.force_login(make_user("member-login", is_staff=False))
    assert client.get("/api/schema/").status_code == 403
    client.force_login(make_user("integration", role=roles.CSR))
    assert client.get("/api/schema/").status_code == 200
