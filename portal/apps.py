from django.apps import AppConfig

from members import roles


class PortalConfig(AppConfig):
    """The member self-service portal: a member's own records, contact updates, correction requests.

    Privacy Policy B.2 ("permits its members to access and seek correction of records about
    themselves") and B.3 (usage data through an interface). Staff never use these pages.
    """

    name = "portal"
    label = "portal"

    def ready(self) -> None:
        from portal.retention import register_purgeable  # imports models: needs the app registry

        register_purgeable()
        from portal.glance import register_panels  # imports models

        register_panels()  # the member's page at a glance (members/glance.py)
        roles.grant(roles.CSR, "portal.view_correctionrequest", "portal.change_correctionrequest")
        # Member Services takes the calls and letters: a member who disputes a declined request that way
        # has their statement filed for them (portal/admin.py); the Privacy Officer may too.
        roles.grant(roles.CSR, "portal.file_statement_for_member")
        roles.grant(roles.PRIVACY_OFFICER, "portal.file_statement_for_member")
        roles.grant(roles.BILLING, "portal.view_correctionrequest", "portal.change_correctionrequest")
        roles.grant(roles.PRIVACY_OFFICER, "portal.view_correctionrequest")
        roles.grant(roles.AUDITOR, "portal.view_correctionrequest")
        # Connects self-enrollment to allauth's e-mail verification (needs the app registry, hence here).
        from portal import receivers  # noqa: F401
