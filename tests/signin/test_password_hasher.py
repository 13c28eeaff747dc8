"""Passwords are hashed with Argon2id at OWASP's parameters; older hashes are upgraded at sign-in."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, PBKDF2PasswordHasher, get_hasher, identify_hasher

from members.models import User
from members.signin.hashers import OwaspArgon2idHasher
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _parameters(encoded: str) -> str:
    # argon2$argon2id$v=19$m=19456,t=2,p=1$salt$hash
    return encoded.split("$")[3]


def test_new_passwords_are_argon2id_with_owasp_parameters():
    user = User.objects.create_user(username="hasher-new", password=PASSWORD)
    assert isinstance(identify_hasher(user.password), OwaspArgon2idHasher)
    assert user.password.startswith("argon2$argon2id$")
    assert _parameters(user.password) == "m=19456,t=2,p=1"
    assert isinstance(get_hasher("default"), OwaspArgon2idHasher)


def test_a_hash_with_djangos_old_argon2_parameters_still_signs_in_and_is_rehashed(client):
    old = Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    assert _parameters(old) == "m=102400,t=2,p=8"
    user = User.objects.create_user(username="hasher-old")
    User.objects.filter(pk=user.pk).update(password=old)

    response = client.post("/auth/login/", {"login": "hasher-old", "password": PASSWORD})

    assert response.status_code == 302 and client.session.get("_auth_user_id") == str(user.pk)
    user.refresh_from_db()
    assert user.password != old
    assert _parameters(user.password) == "m=19456,t=2,p=1"
    assert user.check_password(PASSWORD)


def test_a_wrong_password_against_an_old_hash_changes_nothing(client):
    old = Argon2PasswordHasher().encode(PASSWORD, Argon2PasswordHasher().salt())
    user = User.objects.create_user(username="hasher-wrong")
    User.objects.filter(pk=user.pk).update(password=old)

    response = client.post("/auth/login/", {"login": "hasher-wrong", "password": "not-the-password-1"})

    assert response.status_code == 200 and "_auth_user_id" not in client.session
    user.refresh_from_db()
    assert user.password == old


def test_a_pbkdf2_hash_is_upgraded_to_argon2id_at_sign_in(client):
    old = PBKDF2PasswordHasher().encode(PASSWORD, PBKDF2PasswordHasher().salt())
    user = User.objects.create_user(username="hasher-pbkdf2")
    User.objects.filter(pk=user.pk).update(password=old)

    assert client.post("/auth/login/", {"login": "hasher-pbkdf2", "password": PASSWORD}).status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2$argon2id$") and _parameters(user.password) == "m=19456,t=2,p=1"
