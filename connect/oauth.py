"""The authorization server's one MemberGuard rule beyond django-oauth-toolkit's: a client exists only
while its third party is approved. A suspended (or not yet approved) third party is an unknown client at
every endpoint: no authorization screen, no token, no refresh."""

from __future__ import annotations

from oauth2_provider.oauth2_validators import OAuth2Validator


class ConnectValidator(OAuth2Validator):
    def _load_application(self, client_id, request):
        application = super()._load_application(client_id, request)
        if application is None:
            return None
        third_party = getattr(application, "third_party", None)
        if third_party is None or third_party.status != "approved":
            request.client = None
            return None
        return application
