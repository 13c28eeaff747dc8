"""Staff cannot reach the admin, staff pages or the API with a session that has no second factor;
members are offered MFA but not forced."""

from __future__ import annotations

import pytest
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value

from members import roles
from tests.conftest import PASSWORD
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def _password_login(client, username):
    return client.post("/auth/login/", {"login": username, "password": PASSWORD})


def _code(secret: str) -> str:
    import time

    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def test_staff_without_an_authenticator_are_sent_to_set_one_up_before_the_admin(client, make_user):
    make_user("csr1", role=roles.CSR)
    assert _password_login(client, "csr1").status_code == 302
    response = client.get("/admin/members/member/")
    assert response.status_code == 302
    assert response["Location"].startswith("/auth/2fa/totp/activate/?next=")
    assert client.get("/api/members/").status_code == 403
    assert client.get("/audit/").status_code == 302


def test_staff_with_totp_are_asked_for_the_code_and_then_reach_the_admin(client, make_user):
    user = make_user("csr2", role=roles.CSR)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    response = _password_login(client, "csr2")
    assert response.status_code == 302 and response["Location"].startswith("/auth/2fa/authenticate/")
    assert "_auth_user_id" not in client.session  # the password alone signs nobody in
    response = client.post("/auth/2fa/authenticate/", {"code": _code(secret)})
    assert response.status_code == 302
    assert client.get("/admin/members/member/").status_code == 200


def test_a_password_only_session_of_staff_with_totp_must_prove_the_second_factor(client, make_user):
    user = make_user("csr3", role=roles.CSR)
    TOTP.activate(user, generate_totp_secret())
    client.force_login_password_only(user)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/auth/2fa/reauthenticate/")


def test_the_mfa_pages_offer_totp_recovery_codes_and_security_keys(client, make_user):
    client.force_login(make_user("csr4", role=roles.CSR))
    body = client.get("/auth/2fa/").content.decode()
    assert "/auth/2fa/totp/activate/" in body and "/auth/2fa/webauthn/" in body


def test_members_sign_in_with_a_password_and_are_offered_mfa(client):
    member = MemberFactory(user=UserFactory(username="member-m"))
    assert _password_login(client, "member-m").status_code == 302
    assert client.get("/portal/").status_code == 200
    assert client.get("/auth/2fa/").status_code == 200
    assert member.user.is_staff is False


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/login/" in response["Location"]
