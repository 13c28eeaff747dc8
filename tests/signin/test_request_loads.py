"""What every signed-in request loads, by fixed statements (config/sessions.py,
members/signin/backends.py): the same session and the same user as Django's own code, refused the same way."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.test import RequestFactory
from django.utils import timezone

from config.sessions import SessionStore
from members.signin.backends import AuthenticationBackend

pytestmark = pytest.mark.django_db


def test_the_configured_engine_and_backend_are_these():
    assert settings.SESSION_ENGINE == "config.sessions"
    assert settings.AUTHENTICATION_BACKENDS == ["members.signin.backends.AuthenticationBackend"]


def test_a_session_reads_back_what_django_wrote_in_one_statement(django_assert_num_queries):
    written = DjangoStore()
    written["answer"] = {"nested": [1, "two"]}
    written.create()
    written.save()
    with django_assert_num_queries(1):
        read = SessionStore(written.session_key)
        assert read["answer"] == {"nested": [1, "two"]}
    assert read.session_key == written.session_key


def test_an_expired_or_unknown_session_is_empty_and_its_key_is_not_reused():
    written = SessionStore()
    written["answer"] = 42
    written.create()
    Session.objects.filter(session_key=written.session_key).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    for key in (written.session_key, "x" * 32):
        read = SessionStore(key)
        assert read.load() == {}
        assert read.session_key is None  # a new key is made when it is saved, never the stale one
    read = SessionStore(written.session_key)
    read["fresh"] = True
    read.save()
    assert read.session_key != written.session_key


def test_the_backend_loads_the_same_user_as_the_orm(make_user, django_assert_num_queries):
    user = make_user("loaded-user", first_name="Ada", last_name="Lovelace", email="ada@example.org")
    with django_assert_num_queries(1):
        loaded = AuthenticationBackend().get_user(user.pk)
    expected = type(user).objects.get(pk=user.pk)
    for field in type(user)._meta.concrete_fields:
        assert getattr(loaded, field.attname) == getattr(expected, field.attname), field.name
    assert loaded._state.adding is False and loaded._state.db == "default"


def test_the_backend_refuses_an_inactive_or_missing_user(make_user):
    inactive = make_user("inactive-user")
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    assert AuthenticationBackend().get_user(inactive.pk) is None
    assert AuthenticationBackend().get_user(inactive.pk + 10_000) is None


def test_a_request_with_the_session_of_a_user_since_deactivated_is_anonymous(client, make_user):
    user = make_user("soon-inactive")
    client.force_login(user)
    request = RequestFactory().get("/")
    request.session = SessionStore(client.cookies[settings.SESSION_COOKIE_NAME].value)
    assert int(request.session[SESSION_KEY]) == user.pk
    assert get_user(request).pk == user.pk
    type(user).objects.filter(pk=user.pk).update(is_active=False)
    request.session = SessionStore(client.cookies[settings.SESSION_COOKIE_NAME].value)
    assert get_user(request).is_authenticated is False
