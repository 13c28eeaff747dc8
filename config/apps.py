"""The project package as an app, so its start-up checks register from its own ``ready()``.

Without it the key checks (config/checks.py) were registered by importing them from ``members``, the
lowest layer, which may not import the project package above it.
"""

from django.apps import AppConfig


class ProjectConfig(AppConfig):
    name = "config"
    label = "config"
    verbose_name = "MemberGuard configuration"

    def ready(self) -> None:
        # Imported here, not at the top: importing the module registers its system checks, once the
        # settings they read are loaded.
        from django.contrib.auth.signals import user_logged_in

        from config import checks  # noqa: F401
        from config.retention_wiring import wire  # models again: needs the app registry

        wire()
        from config.middleware import stamp_last_seen

        # The idle clock starts at sign-in, saved with the new session (no extra write on the first page).
        user_logged_in.connect(stamp_last_seen, dispatch_uid="config-idle-timeout-stamp")
