"""Staff reach no staff page without a second factor.

A signed-in staff user (``is_staff``) whose session has not completed an MFA step is sent to set up
two-step sign-in (no authenticator yet) or to prove it (an authenticator exists but this session
signed in some other way), before any page but sign-in itself. API calls get a 403 instead of a
redirect. Members are offered MFA in the portal, not forced.

allauth's own login flow asks for the second factor when the user has one, and records it in the
session (``get_authentication_records``); this middleware reads that record.
"""

from __future__ import annotations

from urllib.parse import urlencode

from allauth.account.authentication import get_authentication_records
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse

# Paths a staff user must reach to set up or prove the second factor, or to leave.
_OPEN_PREFIXES = ("/auth/", "/static/", "/healthz")


def session_has_mfa(request) -> bool:
    return any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user))


class StaffMFARequiredMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            settings.STAFF_MFA_REQUIRED
            and user is not None
            and user.is_authenticated
            and user.is_staff
            and not request.path.startswith(_OPEN_PREFIXES)
            and not session_has_mfa(request)
        ):
            return self._second_factor(request, user)
        return self.get_response(request)

    def _second_factor(self, request, user):
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": "Staff must sign in with a second factor."}, status=403)
        has_authenticator = Authenticator.objects.filter(
            user=user, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
        ).exists()
        target = reverse("mfa_reauthenticate" if has_authenticator else "mfa_activate_totp")
        return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
