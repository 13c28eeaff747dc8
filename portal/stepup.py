"""Step-up: a change that would let someone take over a member's account, or a download of everything
the co-op holds about them, needs a fresh password or MFA check, not just a session.

allauth's reauthentication does the work: a request whose session's last password or MFA check is older
than ``STEP_UP_MINUTES`` (``ACCOUNT_REAUTHENTICATION_TIMEOUT``) is parked (its POST kept in the session),
the member proves it again at /auth/reauthenticate/, and the parked request then runs. A stolen session
cookie alone therefore cannot change the e-mail, the mailing address, the phone, consents or MFA
settings (allauth's own MFA pages carry the same check).
"""

from __future__ import annotations

from allauth.account.decorators import reauthentication_required


def step_up_required(view=None, *, on_get: bool = False):
    """Require a fresh check for POSTs (and GETs too with ``on_get``: downloads)."""
    decorator = reauthentication_required(allow_get=not on_get)
    return decorator(view) if view is not None else decorator
