"""Slow down password guessing against staff and member logins.

After ``LOGIN_FAILURE_LIMIT`` failed attempts for one username (from any address), or
``LOGIN_FAILURE_IP_LIMIT`` from one address (for any username; higher, because a co-op office sits
behind one NAT address) within ``LOGIN_FAILURE_WINDOW_SECONDS``, further attempts are refused
until the window passes, even with the right password. Counters live in Redis (the cache), so every
web process shares them. Each lock-out is an audit event; the password itself is never logged.

Wired in as an authentication backend (``ThrottledModelBackend``) so the admin, the portal and DRF's
session login all go through it.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import transaction

from members.audit import audit_record, client_ip


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.lower().encode()).hexdigest()[:32]
    return f"memberguard:login-failures:{kind}:{digest}"


def _client_ip(request) -> str:
    return (client_ip(request) or "unknown") if request is not None else "unknown"


def _limits(username: str, request) -> dict[str, int]:
    return {
        _key("user", username or ""): settings.LOGIN_FAILURE_LIMIT,
        _key("ip", _client_ip(request)): settings.LOGIN_FAILURE_IP_LIMIT,
    }


def is_locked(username: str, request) -> bool:
    limits = _limits(username, request)
    counts = cache.get_many(list(limits))
    return any(count >= limits[key] for key, count in counts.items())


def record_failure(username: str, request) -> None:
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    for key, limit in _limits(username, request).items():
        if cache.add(key, 1, timeout=window):
            continue
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            continue
        if count == limit:
            with transaction.atomic():
                audit_record(
                    actor=None,
                    actor_label="login-throttle",
                    action="access.login_locked",
                    object_type="login",
                    object_id=key.rsplit(":", 2)[-2],
                    detail={"window_s": window},
                    ip_address=_client_ip(request) if request else None,
                )


def clear_failures(username: str, request) -> None:
    cache.delete(_key("user", username or ""))


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get("email") or ""
        if is_locked(username, request):
            # PermissionDenied stops Django from trying other backends and counts as a failed login.
            raise PermissionDenied("Too many failed sign-in attempts. Try again later.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            record_failure(username, request)
        else:
            clear_failures(username, request)
        return user
