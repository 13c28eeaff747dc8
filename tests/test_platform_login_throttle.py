"""Password guessing is slowed without a way to lock out a chosen member, behind the TLS proxy too.

Sign-in is allauth's form at /auth/login/ (field ``login``); the throttle is members/login_throttle.py.
"""

from __future__ import annotations

import pytest

from members.models import AuditEvent
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

TRUTHFUL = "Too many attempts. Try again in"


def _login(client, username, password, address: str | None = None):
    extra = {"HTTP_X_FORWARDED_FOR": address} if address else {}
    return client.post("/auth/login/", {"login": username, "password": password}, **extra)


def _signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_five_wrong_passwords_slow_the_login_even_for_the_right_password(client, make_user, settings):
    make_user("carol")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        assert _login(client, "carol", "wrong-password").status_code == 200
    response = _login(client, "carol", PASSWORD)
    assert response.status_code == 200 and not _signed_in(client)
    assert AuditEvent.objects.filter(action="access.login_throttled").count() >= 1


def test_the_message_tells_how_long_to_wait_and_the_same_for_an_unknown_login(client, make_user, settings):
    make_user("carol")
    bodies = []
    for login in ("carol", "nobody-by-this-name"):
        for _ in range(settings.LOGIN_FAILURE_LIMIT):
            _login(client, login, "wrong-password")
        bodies.append(_login(client, login, "wrong-password").content.decode())
    for body in bodies:
        assert f"{TRUTHFUL} 1 minute or reset your password." in body
        assert "not correct" not in body


def test_the_password_never_reaches_the_audit_trail(client, make_user, settings):
    make_user("dave")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _login(client, "dave", "guess-Secret-987")
    assert not any("guess-Secret-987" in str(event.detail) for event in AuditEvent.objects.all())


def test_the_throttle_audit_row_names_the_account(client, make_user, settings):
    dave = make_user("dave")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _login(client, "dave", "nope")
    events = AuditEvent.objects.filter(action="access.login_throttled", detail__scope="login+address")
    assert events.count() == 1, list(AuditEvent.objects.values_list("action", "detail"))
    event = events.get()
    assert event.object_type == "members.user" and event.object_id == str(dave.pk)
    assert event.detail["account"] == "dave" and event.ip_address == "127.0.0.1"


def test_a_right_password_before_the_limit_signs_in_and_resets_the_count(client, make_user, settings):
    make_user("erin")
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _login(client, "erin", "wrong")
    assert _login(client, "erin", PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.LOGIN_FAILURE_LIMIT - 1):
        _login(client, "erin", "wrong")
    assert _login(client, "erin", PASSWORD).status_code == 302


def test_the_admin_signs_in_through_the_same_throttled_form(client, make_user, settings):
    make_user("frank", is_staff=True)
    response = client.get("/admin/login/?next=/admin/members/member/")
    assert response.status_code == 302
    assert response["Location"] == "/auth/login/?next=%2Fadmin%2Fmembers%2Fmember%2F"
    client.post("/admin/login/", {"username": "frank", "password": PASSWORD})
    assert not _signed_in(client)  # the admin's own form no longer signs anyone in
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _login(client, "frank", "nope")
    _login(client, "frank", PASSWORD)
    assert not _signed_in(client)


def test_many_failures_from_one_address_slow_every_username_from_it(client, make_user, settings):
    settings.LOGIN_FAILURE_IP_LIMIT = 3
    make_user("gina")
    for name in ("x1", "x2", "x3"):
        _login(client, name, "nope")
    assert TRUTHFUL in _login(client, "gina", PASSWORD).content.decode()
    assert not _signed_in(client)


def test_behind_the_proxy_one_clients_failures_do_not_slow_everyone(client, make_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_FAILURE_IP_LIMIT = 3
    make_user("gina")
    for name in ("x1", "x2", "x3"):  # one guesser; every request reaches us from the proxy's address
        _login(client, name, "nope", address="203.0.113.7")
    assert TRUTHFUL in _login(client, "x4", "nope", address="203.0.113.7").content.decode()
    # A forged left-hand entry does not change who the proxy says the client is.
    assert TRUTHFUL in _login(client, "x5", "nope", address="198.51.100.1, 203.0.113.7").content.decode()
    assert _login(client, "gina", PASSWORD, address="198.51.100.20").status_code == 302


def test_a_guesser_cannot_lock_a_named_member_out(client, make_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    make_user("hana")
    for _ in range(settings.LOGIN_FAILURE_LIMIT * 2):
        _login(client, "hana", "nope", address="203.0.113.66")
    assert _login(client, "hana", PASSWORD, address="198.51.100.5").status_code == 302


def test_a_spray_from_many_addresses_only_slows_the_account_briefly(client, make_user, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_FAILURE_ACCOUNT_LIMIT = 4
    settings.LOGIN_BACKOFF_BASE_SECONDS = 600  # would be ten minutes; the account-wide cap makes it one
    make_user("ivan")
    for n in range(4):
        _login(client, "ivan", "nope", address=f"203.0.113.{n + 1}")
    body = _login(client, "ivan", PASSWORD, address="198.51.100.9").content.decode()
    assert f"{TRUTHFUL} 1 minute or reset your password." in body  # capped at a minute, never a lock-out
    assert not _signed_in(client)
    assert AuditEvent.objects.filter(action="access.login_throttled", detail__scope="login").exists()
