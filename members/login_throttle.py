"""Slow down password guessing without handing an attacker a way to lock out a chosen member.

Failures are counted in Redis (the cache, shared by every web process) under three keys, each with its
own threshold, and past a threshold each further attempt must wait a doubling delay (``base * 2**n``,
capped) counted from the last failure. The delay applies whatever is typed, so the right password
does not reveal itself, and the message says how long: "Too many attempts. Try again in N minutes or
reset your password." It is the same for an existing and an unknown login, so it reveals nothing.

* the login *from one client address* (``LOGIN_FAILURE_LIMIT``, default 5; cap 15 minutes): the
  guesser's own door;
* the client address alone (``LOGIN_FAILURE_IP_LIMIT``, default 20; cap 15 minutes): one address
  trying many logins. The address is the real client's behind the TLS proxy
  (``TRUSTED_PROXY_COUNT``, members/audit.py ``client_ip``), not the proxy's;
* the login from anywhere (``LOGIN_FAILURE_ACCOUNT_LIMIT``, default 50; cap ``LOGIN_ACCOUNT_MAX_DELAY_SECONDS``,
  default 60 s): a spray from many addresses slows the account to one try a minute at worst; it never
  locks the member out, and a password reset clears every count.

Each key reaching its threshold is an audit event naming the account (its user id, when the login names
one) and the address; the password is never recorded. Hooked into allauth by ``members.signin.adapter``.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q

from members.audit import audit_record, client_ip
from members.models import User

_PREFIX = "memberguard:login-backoff"


@dataclass(frozen=True)
class Scope:
    name: str
    limit: int
    cap_seconds: int


def _scopes(login: str, request) -> dict[str, Scope]:
    login = (login or "").strip().lower()
    address = (client_ip(request) if request is not None else None) or "unknown"
    window_cap = settings.LOGIN_FAILURE_WINDOW_SECONDS

    def key(kind: str, value: str) -> str:
        return f"{_PREFIX}:{kind}:{hashlib.sha256(value.encode()).hexdigest()[:32]}"

    return {
        key("login+ip", f"{login}\0{address}"): Scope("login+address", settings.LOGIN_FAILURE_LIMIT, window_cap),
        key("ip", address): Scope("address", settings.LOGIN_FAILURE_IP_LIMIT, window_cap),
        key("login", login): Scope(
            "login", settings.LOGIN_FAILURE_ACCOUNT_LIMIT, settings.LOGIN_ACCOUNT_MAX_DELAY_SECONDS
        ),
    }


def _delay(count: int, scope: Scope) -> int:
    if count < scope.limit:
        return 0
    return min(settings.LOGIN_BACKOFF_BASE_SECONDS * 2 ** (count - scope.limit), scope.cap_seconds)


def seconds_to_wait(login: str, request) -> int:
    """How long the next attempt for ``login`` from this request's client must wait (0: go ahead)."""
    scopes = _scopes(login, request)
    now = time.time()
    wait = 0.0
    for key, state in cache.get_many(list(scopes)).items():
        count, last = _state(state, now)
        wait = max(wait, last + _delay(count, scopes[key]) - now)
    return math.ceil(wait) if wait > 0 else 0


def _state(value, now: float) -> tuple[int, float]:
    """``(failures, time of the last)`` as stored; anything else (none, or a foreign value) counts as none."""
    if isinstance(value, tuple | list) and len(value) == 2:
        return int(value[0]), float(value[1])
    return 0, now


def message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"Too many attempts. Try again in {minutes} {unit} or reset your password."


def _account_of(login: str) -> User | None:
    login = (login or "").strip()
    if not login:
        return None
    return User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login)).order_by("pk").first()


def record_failure(login: str, request) -> None:
    now = time.time()
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    scopes = _scopes(login, request)
    current = cache.get_many(list(scopes))
    updates = {}
    for key, scope in scopes.items():
        count = _state(current.get(key), now)[0] + 1
        updates[key] = (count, now)
        if count == scope.limit:
            _audit_throttled(login, request, scope)
    cache.set_many(updates, timeout=window)


def _audit_throttled(login: str, request, scope: Scope) -> None:
    account = _account_of(login)
    with transaction.atomic():
        audit_record(
            actor=None,
            actor_label="login-throttle",
            action="access.login_throttled",
            object_type="members.user" if account else "login",
            object_id=account.pk if account else "unknown",
            detail={
                "scope": scope.name,
                "account": account.get_username() if account else "",
                "failures": scope.limit,
                "window_s": settings.LOGIN_FAILURE_WINDOW_SECONDS,
            },
            ip_address=client_ip(request) if request is not None else None,
        )


def clear_failures(login: str, request, *, everywhere: bool = False) -> None:
    """A right password clears this address's count for the login; a password reset (``everywhere``)
    clears the login's counts from every address."""
    pair, _address, anywhere = list(_scopes(login, request))
    cache.delete_many([pair, anywhere] if everywhere else [pair])
