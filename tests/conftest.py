from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from django.test import Client

from config.celery import app as celery_app
from members import roles
from members.models import User
from members.signin.records import both_factors_records

PASSWORD = "a-long-test-password-42"


# --- The suite runs as the runtime database role (config/db_roles.py, docs/deployment.md) ---------------
# The test database is created, migrated (migrate also grants the runtime role its rights) and dropped
# by the owner; every test then connects as the runtime role: DATABASE_ROLE is Django's ``assume_role``,
# so each connection starts with SET ROLE. ``flush`` between transactional tests switches to the owner
# itself (config/management/commands/flush.py); tests/db_owner.py is how a test plays the administrator.


def _assumed_roles(remove: bool, saved: dict) -> None:
    for connection in connections.all():
        options = connection.settings_dict.setdefault("OPTIONS", {})
        if remove:
            if "assume_role" in options:
                saved[connection.alias] = options.pop("assume_role")
        elif connection.alias in saved:
            options["assume_role"] = saved[connection.alias]
        connection.close()


_SAVED_ROLES: dict[str, str] = {}


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Create (and later drop) the test databases as the owner."""
    _assumed_roles(True, _SAVED_ROLES)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The plugin's set-up (as the owner), then every connection acts as the runtime role until teardown."""
    with django_db_blocker.unblock():
        _assumed_roles(False, _SAVED_ROLES)
    yield
    with django_db_blocker.unblock():
        _assumed_roles(True, _SAVED_ROLES)


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
    session.update(both_factors_records(user))
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
            if not Group.objects.filter(name=role).exists():
                # A transactional test's flush (available_apps) empties auth_group and does not re-emit
                # post_migrate; whichever test runs next in that process gets the roles back here.
                from django.core.management.sql import emit_post_migrate_signal

                emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
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


@pytest.fixture(autouse=True)
def _migration_data_survives_flushes(request, django_db_blocker):
    """A transactional test ends with a flush that empties every table, including what migrations and
    post_migrate wrote (the roles' groups, the nightly purge's schedule, the Red Flags catalogue); a later
    test in the same worker would then find none. Before each database test, put them back if gone."""
    if not (request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)):
        yield
        return
    with django_db_blocker.unblock():
        if not Group.objects.exists():
            from django.core.management.sql import emit_post_migrate_signal

            emit_post_migrate_signal(verbosity=0, interactive=False, db="default")
    yield
