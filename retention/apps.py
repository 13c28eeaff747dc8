from django.apps import AppConfig

from members import roles


class RetentionConfig(AppConfig):
    name = "retention"

    def ready(self) -> None:
        # Imported here, not at the top: both import models, which need the app registry ready.
        from members.demo import DEMO_STEPS
        from retention.services import retention_policy_ensure_defaults

        roles.grant(
            roles.PRIVACY_OFFICER,
            "retention.view_retentionpolicy",
            "retention.change_retentionpolicy",
            "retention.run_purge",
            "retention.view_purgerun",
        )
        roles.grant(roles.AUDITOR, "retention.view_retentionpolicy", "retention.view_purgerun")
        roles.grant(roles.PROGRAM_ADMINISTRATOR, "retention.view_retentionpolicy", "retention.view_purgerun")

        def seed_retention() -> str:
            retention_policy_ensure_defaults()
            return "retention policies: defaults present"

        DEMO_STEPS.append(seed_retention)
