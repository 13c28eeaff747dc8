from __future__ import annotations

import pytest

from members.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _login(client, username, password):
    return client.post("/auth/login/", {"username": username, "password": password})


def test_five_wrong_passwords_lock_the_login_even_for_the_right_password(client, make_user, settings):
    make_user("carol")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert _login(client, "carol", "wrong-password").status_code == 200
    response = _login(client, "carol", PASSWORD)
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="access.login_locked").count() >= 1


def test_the_password_never_reaches_the_audit_trail(client, make_user, settings):
    make_user("dave")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _login(client, "dave", "guess-Secret-987")
    assert not any("guess-Secret-987" in str(event.detail) for event in AuditEvent.objects.all())


def test_a_right_password_before_the_limit_signs_in_and_resets_the_count(client, make_user, settings):
    make_user("erin")
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _login(client, "erin", "wrong")
    assert _login(client, "erin", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _login(client, "erin", "wrong")
    assert _login(client, "erin", PASSWORD).status_code == 302


def test_the_admin_login_is_throttled_too(client, make_user, settings):
    make_user("frank", is_staff=True)
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post("/admin/login/", {"username": "frank", "password": "nope"})
    client.post("/admin/login/", {"username": "frank", "password": PASSWORD})
    assert "_auth_user_id" not in client.session


def test_many_failures_from_one_address_lock_every_username_from_it(client, make_user, settings):
    settings.LOGIN_FAILURE_IP_LIMIT = 3
    make_user("gina")
    for name in ("x1", "x2", "x3"):
        _login(client, name, "nope")
    _login(client, "gina", PASSWORD)
    assert "_auth_user_id" not in client.session
