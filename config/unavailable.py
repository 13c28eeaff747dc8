"""A 503, not a 500 with a traceback, while PostgreSQL cannot be reached (issue 18 item 3).

When the database is restarting, failing over or out of connections, every request that needs it
raises ``OperationalError`` / ``InterfaceError``. Those become a short 503 with ``Retry-After``: JSON
under ``/api/``, a plain page elsewhere, built without the database (no template context, no user)
and naming nothing of the failure. Two places catch them:

- ``DatabaseUnavailableMiddleware.process_exception``: raised by a view (in any mode, DEBUG too);
- ``server_error`` (``handler500``): raised anywhere else, e.g. by a middleware loading the session
  or the user, which Django turns into its 500 handler before an outer middleware could see it.

Nothing else changes: the error is still logged by Django (``django.request``), the transaction of the
request was never committed (PostgreSQL rolls back what a lost connection left open), and the worker
keeps running: ``CONN_HEALTH_CHECKS`` makes the next request open a fresh connection once the server
is back, so service recovers without restarting the web workers.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, HttpResponseServerError, JsonResponse
from django.views.decorators.csrf import requires_csrf_token

RETRY_AFTER_SECONDS = 5
MESSAGE = "MemberGuard is briefly unavailable (its database cannot be reached). Nothing was saved; please try again."
_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable</title></head>'
    "<body><main><h1>Temporarily unavailable</h1><p>{message}</p></main></body></html>"
)


def is_database_unavailable(exc: BaseException | None) -> bool:
    return isinstance(exc, (OperationalError, InterfaceError))


def unavailable_response(request) -> HttpResponse:
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": MESSAGE}, status=503)
    else:
        response = HttpResponse(_PAGE.format(message=MESSAGE), status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if is_database_unavailable(exception):
            return unavailable_response(request)
        return None


_GENERIC_500 = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Server error</title></head>'
    "<body><main><h1>Server error</h1><p>Something went wrong on our side. It has been logged.</p></main></body></html>"
)


@requires_csrf_token
def server_error(request, *args, **kwargs):
    """handler500: a database outage is a 503; anything else Django's plain 500 (no traceback)."""
    if is_database_unavailable(sys.exc_info()[1]):
        return unavailable_response(request)
    return HttpResponseServerError(_GENERIC_500, content_type="text/html; charset=utf-8")
