"""What allauth leaves in a session after a password and a TOTP check, for sessions made without the
forms: the test client's ``force_login``, the benchmarks' clients and the load test's cookies. The MFA
middleware (members/signin/middleware.py) and step-up (members/signin/stepup.py) read these records."""

from __future__ import annotations

import time


def both_factors_records(user) -> dict:
    """The session keys of a fresh sign-in with a password and a second factor (TOTP), as of now."""
    now = time.time()
    return {
        "account_authentication_methods": [
            {"method": "password", "at": now, "username": user.get_username()},
            {"method": "mfa", "at": now, "type": "totp"},
        ],
        "account_authentication_methods_user": str(user.pk),
    }
