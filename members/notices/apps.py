from django.apps import AppConfig

from members import roles


class NoticesConfig(AppConfig):
    """The notification outbox: notices to members by e-mail and printed letter (docs/notices.md)."""

    name = "members.notices"
    label = "notices"

    def ready(self) -> None:
        # Staff who answer members and auditors who check the program read the delivery log; nobody
        # edits it (the admin is read-only, the log append-only).
        reading = ("notices.view_notice", "notices.view_noticeattempt", "notices.view_letterbatch")
        for role in (roles.CSR, roles.PRIVACY_OFFICER, roles.AUDITOR, roles.RED_FLAG_ANALYST):
            roles.grant(role, *reading)
        roles.grant(roles.CSR, "notices.print_letters")
        # Connects the notices for password and two-step sign-in changes made on allauth's pages.
        from members.signin import receivers  # noqa: F401  (needs the app registry, hence here)
