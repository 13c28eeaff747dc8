"""Searches by identifier without the identifier in a URL (issue 11 item 5).

The admin's member search form posts its term; the term is kept in the signed-in user's session under
a random token and the list is shown at ``?_qt=<token>``, so an SSN or licence never reaches the query
string, browser history, a proxy's or gunicorn's access log, or a Referer header. Tokens live as long
as the session (their terms expire after ``TTL_SECONDS``) and at most ``KEEP`` are kept per session.
The term is stored Fernet-encrypted (members.crypto), never in clear in the session table.
"""

from __future__ import annotations

import secrets

from cryptography.fernet import InvalidToken

from members import crypto

SESSION_KEY = "member_search_tokens"
TOKEN_VAR = "_qt"  # noqa: S105 - the name of a query parameter, not a secret
KEEP = 20
TTL_SECONDS = 30 * 60


def search_token_store(*, session, term: str) -> str:
    tokens: dict[str, str] = dict(session.get(SESSION_KEY, {}))
    token = secrets.token_urlsafe(12)
    tokens[token] = crypto.fernet().encrypt(term.encode()).decode()
    session[SESSION_KEY] = dict(list(tokens.items())[-KEEP:])
    return token


def search_token_term(*, session, token: str) -> str | None:
    """The term behind a token of this session, or ``None`` for an unknown or foreign token."""
    stored = session.get(SESSION_KEY, {}).get(token)
    if not stored:
        return None
    try:
        return crypto.fernet().decrypt(stored.encode(), ttl=TTL_SECONDS).decode()
    except InvalidToken:
        return None
