from django.apps import AppConfig

from members import roles


class ConnectConfig(AppConfig):
    """Green Button Connect My Data (issue 17): third parties, member authorizations, the ESPI API."""

    name = "connect"
    verbose_name = "Green Button Connect My Data"

    def ready(self) -> None:
        from accounts.usage.signals import usage_loaded
        from connect.notifications import on_usage_loaded

        # New usage is announced to the third parties that asked to be told (ESPI push notification).
        usage_loaded.connect(on_usage_loaded, dispatch_uid="connect.notify_on_usage_loaded")
        # The Privacy Officer reviews applications, approves and suspends third parties; auditors read.
        roles.grant(
            roles.PRIVACY_OFFICER,
            "connect.view_thirdparty",
            "connect.change_thirdparty",
            "connect.decide_thirdparty",
            "connect.view_authorization",
        )
        roles.grant(roles.AUDITOR, "connect.view_thirdparty", "connect.view_authorization")
