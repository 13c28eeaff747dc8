"""Access logs never carry identifiers (issue 11 item 5).

Identifier searches no longer put values in URLs (members.search_tokens, POST /api/members/search/), but
a hand-typed or old bookmarked URL still can. Two guards keep such a value out of the logs:

* gunicorn logs the path without its query string and without the Referer (``config/gunicorn.conf.py``,
  ``ACCESS_LOG_FORMAT``);
* ``MaskQueryIdentifiers``, a logging filter on every handler (runserver's ``django.server`` request
  lines included), replaces any query-string value that looks like an identifier (five or more digits,
  or letters and digits of licence length) with ``[masked]``.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

# gunicorn: %(U)s is the path without the query string; no %(r)s, %(q)s or %(f)s (Referer).
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)s'

MASK = "[masked]"
_QUERY = re.compile(r"\?[^\s\"']*")
_PAIR = re.compile(r"([^&=]*)(=?)([^&]*)")


def _identifier_like(value: str) -> bool:
    text = unquote_plus(value)
    digits = sum(ch.isdigit() for ch in text)
    return digits >= 5 or (digits >= 2 and len(re.sub(r"[\W_]", "", text)) >= 7 and any(c.isalpha() for c in text))


def _mask_query(match: re.Match) -> str:
    def pair(part: re.Match) -> str:
        name, equals, value = part.groups()
        return f"{name}{equals}{MASK}" if equals and _identifier_like(value) else part.group(0)

    return _PAIR.sub(pair, match.group(0))


def mask_identifiers_in_urls(text: str) -> str:
    return _QUERY.sub(_mask_query, text)


class MaskQueryIdentifiers(logging.Filter):
    """Rewrites the record's message with identifier-like query values masked (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        masked = mask_identifiers_in_urls(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True
