"""Request guards that run before any view (issue 11 items 8 and 10)."""

from __future__ import annotations

from django.http import HttpResponseBadRequest

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
