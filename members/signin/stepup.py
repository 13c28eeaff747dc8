"""Step-up: a change that would let someone take over a member's account, or a download of everything
the co-op holds about them, needs a fresh password or MFA check, not just a session.

"Fresh" means the session's last password or MFA check (the sign-in itself, or a reauthentication) is
younger than ``STEP_UP_MINUTES``. The portal's pages raise allauth's ``ReauthenticationRequired``
(portal/stepup.py); the API answers 403 with where to re-authenticate (``FreshlyAuthenticated``), since
an API client cannot be parked and replayed the way a browser's form is.
"""

from __future__ import annotations

import time

from allauth.account.authentication import get_authentication_records
from django.conf import settings
from rest_framework.permissions import BasePermission

_CHECKS = ("password", "mfa")


def checked_recently(request) -> bool:
    """Whether the session's last password or MFA check is within ``STEP_UP_MINUTES``."""
    if not request.user.is_authenticated:
        return False
    records = get_authentication_records(request, request.user)
    latest = max((record["at"] for record in records if record.get("method") in _CHECKS), default=None)
    return latest is not None and time.time() - latest < settings.STEP_UP_MINUTES * 60


class FreshlyAuthenticated(BasePermission):
    """DRF: writes need a password or MFA check within ``STEP_UP_MINUTES``; reads do not."""

    message = (
        "This change needs a fresh sign-in check: confirm your password or second factor at "
        "/auth/reauthenticate/ and try again."
    )

    def has_permission(self, request, view) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return checked_recently(request)
