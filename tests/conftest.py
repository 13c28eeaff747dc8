from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from config.celery import app as celery_app
from members import roles
from members.models import User

PASSWORD = "a-long-test-password-42"


@pytest.fixture(autouse=True)
def _celery_eager():
    """Tasks run in-process in tests; the broker round trip is covered by the health tests."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield


def mark_session_mfa(client: Client, user: User) -> None:
    """Record in the client's session that ``user`` signed in with a password and a second factor, as
    allauth's login flow does after a TOTP or WebAuthn check (members/signin/middleware.py reads it)."""
    session = client.session
    now = time.time()
    session["account_authentication_methods"] = [
        {"method": "password", "at": now, "username": user.get_username()},
        {"method": "mfa", "at": now, "type": "totp"},
    ]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()


@pytest.fixture(autouse=True)
def _force_login_proves_both_factors(monkeypatch):
    """``client.force_login(user)`` stands for a complete sign-in, second factor included, so tests of what
    staff may do need not each set up an authenticator. Tests of the sign-in itself log in through
    the real forms (tests/signin/), or use ``force_login_password_only``."""
    original = Client.force_login

    def force_login(self, user, backend=None):
        original(self, user, backend)
        mark_session_mfa(self, user)

    monkeypatch.setattr(Client, "force_login", force_login)
    monkeypatch.setattr(Client, "force_login_password_only", original, raising=False)


@pytest.fixture
def make_user(db):
    def _make(username: str, *, role: str | None = None, is_staff: bool | None = None, **extra) -> User:
        staff = role is not None if is_staff is None else is_staff
        user = User.objects.create_user(username=username, password=PASSWORD, is_staff=staff, **extra)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return _make


@pytest.fixture
def staff_client(client, make_user):
    """A client logged in as a fresh user of the given role: ``staff_client(roles.CSR)``."""

    def _login(role: str):
        user = make_user(f"staff-{role.split()[0].lower()}", role=role)
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def auditor(make_user):
    return make_user("auditor-1", role=roles.AUDITOR)
