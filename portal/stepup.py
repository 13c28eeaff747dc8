"""Step-up for the portal's pages (the rule and its window: members/signin/stepup.py). Otherwise the view
raises allauth's ``ReauthenticationRequired``: allauth's middleware parks the request (its POST kept in
the session), the member proves it again at /auth/reauthenticate/, and the parked request then runs. A
stolen session cookie alone therefore cannot change the e-mail, the mailing address, the phone or
consents. allauth's own MFA pages are stricter: they want an explicit reauthentication within the same
window.
"""

from __future__ import annotations

from functools import wraps

from allauth.core.exceptions import ReauthenticationRequired

from members.signin.stepup import checked_recently

__all__ = ["checked_recently", "step_up_required"]


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
