"""The API's pagination: LimitOffsetPagination with a ceiling (issue 11 item 8).

Unbounded, ``?limit=9223372036854775808`` or ``?offset=`` of that size reached PostgreSQL as a LIMIT or
OFFSET beyond bigint and failed with a 500. ``limit`` is capped at ``max_limit``; an ``offset`` past
``MAX_OFFSET`` is a 400 naming the parameter.
"""

from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination

MAX_LIMIT = 1000
MAX_OFFSET = 2**31 - 1


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    max_limit = MAX_LIMIT

    def get_offset(self, request) -> int:
        raw = request.query_params.get(self.offset_query_param, "")
        if raw.strip().isdigit() and int(raw) > MAX_OFFSET:
            raise ValidationError({self.offset_query_param: [f"Ensure this value is at most {MAX_OFFSET}."]})
        return super().get_offset(request)
