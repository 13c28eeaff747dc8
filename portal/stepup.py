"""Step-up: a change that would let someone take over a member's account, or a download of everything
the co-op holds about them, needs a fresh password or MFA check, not just a session.

"Fresh" means the session's last password or MFA check (the sign-in itself, or a reauthentication) is
younger than ``STEP_UP_MINUTES``. Otherwise the view raises allauth's ``ReauthenticationRequired``:
allauth's middleware parks the request (its POST kept in the session), the member proves it again at
/auth/reauthenticate/, and the parked request then runs. A stolen session cookie alone therefore cannot
change the e-mail, the mailing address, the phone or consents. allauth's own MFA pages are stricter:
they want an explicit reauthentication within the same window.
"""

from __future__ import annotations

import time
from functools import wraps

from allauth.account.authentication import get_authentication_records
from allauth.core.exceptions import ReauthenticationRequired
from django.conf import settings

_CHECKS = ("password", "mfa")


def checked_recently(request) -> bool:
    """Whether the session's last password or MFA check is within ``STEP_UP_MINUTES``."""
    if not request.user.is_authenticated:
        return False
    records = get_authentication_records(request, request.user)
    latest = max((record["at"] for record in records if record.get("method") in _CHECKS), default=None)
    return latest is not None and time.time() - latest < settings.STEP_UP_MINUTES * 60


def step_up_required(view=None, *, on_get: bool = False):
    """Require a fresh check for POSTs (and GETs too with ``on_get``: downloads)."""

    def decorator(view_func):
        @wraps(view_func)
        def wrapper(request, *args, **kwargs):
            if (on_get or request.method != "GET") and not checked_recently(request):
                raise ReauthenticationRequired()
            return view_func(request, *args, **kwargs)

        return wrapper

    return decorator(view) if view is not None else decorator
