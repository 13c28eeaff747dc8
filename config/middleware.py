"""Request guards that run before any view (issue 11 items 8 and 10)."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpResponseBadRequest

from members import services
from members.audit import client_ip

NUL_MESSAGE = "The request contains a NUL character (%00), which no field accepts. Remove it and try again."
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class RejectNulBytes:
    """A NUL byte in the path, the query string or a form/JSON body is a clear 400.

    PostgreSQL refuses NUL in text, so such a value reaching a filter, a search or a service raised a
    ValueError (a 500) deep inside the ORM. Uploaded files are left to their parsers (a file may hold any
    byte); the form fields beside them are checked.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_nul(request):
            return HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _has_nul(request) -> bool:
        if "\x00" in request.path or _nul_in(request.GET):
            return True
        if request.method not in ("POST", "PUT", "PATCH"):
            return False
        if request.content_type == "application/json":
            return b"\x00" in request.body or b"\\u0000" in request.body
        if request.method == "POST" and request.content_type in _FORM_TYPES:
            return _nul_in(request.POST)  # parsed once here; CSRF reads the same parse
        return False


def _nul_in(query_dict) -> bool:
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in query_dict.lists())


LAST_SEEN = "staff_last_seen"
_TOUCH_EVERY_SECONDS = 30  # the session is saved at most this often just to move the clock


class StaffIdleTimeout:
    """Signs a staff user out after ``STAFF_IDLE_TIMEOUT_SECONDS`` without a request, with an audit row.

    The request that arrives after the idle time is then served as anonymous (the admin sends it to the
    sign-in page, the API answers 401/403). Members' portal sessions keep SESSION_COOKIE_AGE; token
    (API integration) requests carry no session and are not affected.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            self._check(request, user)
        return self.get_response(request)

    @staticmethod
    def _check(request, user) -> None:
        now = int(time.time())
        last_seen = request.session.get(LAST_SEEN)
        limit = settings.STAFF_IDLE_TIMEOUT_SECONDS
        if last_seen is not None and now - int(last_seen) > limit:
            services.staff_session_expire(user=user, idle_seconds=now - int(last_seen), ip_address=client_ip(request))
            logout(request)
            return
        if last_seen is None or now - int(last_seen) >= _TOUCH_EVERY_SECONDS:
            request.session[LAST_SEEN] = now


def stamp_last_seen(sender, request, user, **kwargs) -> None:
    """user_logged_in: start a staff session's idle clock."""
    if user.is_staff and hasattr(request, "session"):
        request.session[LAST_SEEN] = int(time.time())
