"""MemberGuard's allauth adapter: sign-in is allauth's (forms, password reset, e-mail verification,
reauthentication, MFA); throttling is ours (members/login_throttle.py), because allauth's per-login
limit locks a named account for everyone, and its message does not say for how long.

Nobody signs up: staff accounts are made by an administrator, members enroll by proving what the
co-op holds (portal enrollment), which creates their login through a service.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import ValidationError

from members import login_throttle
from members.audit import client_ip


def _login_of(credentials: dict[str, Any]) -> str:
    return credentials.get("email") or credentials.get("username") or ""


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return False

    def pre_authenticate(self, request, **credentials: Any) -> None:
        wait = login_throttle.seconds_to_wait(_login_of(credentials), request)
        if wait:
            raise ValidationError(login_throttle.message(wait))

    def authenticate(self, request, **credentials: Any):
        user = super().authenticate(request, **credentials)
        if user is not None:
            login_throttle.clear_failures(_login_of(credentials), request)
        return user

    def authentication_failed(self, request, **credentials: Any) -> None:
        login_throttle.record_failure(_login_of(credentials), request)

    def _delete_login_attempts_cached_email(self, request, **credentials: Any) -> None:
        # A completed password reset: the member proved control of their e-mail, so every count on the
        # login goes (allauth calls this on reset; its own counters are not used).
        login_throttle.clear_failures(_login_of(credentials), request, everywhere=True)

    def get_client_ip(self, request) -> str:
        return client_ip(request) or "unknown"
