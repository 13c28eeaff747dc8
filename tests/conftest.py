from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

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
