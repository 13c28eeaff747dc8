from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "retention"

    def ready(self) -> None:
        from members import roles
        from members.demo import DEMO_STEPS

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
            from retention.services import retention_policy_ensure_defaults

            retention_policy_ensure_defaults()
            return "retention policies: defaults present"

        DEMO_STEPS.append(seed_retention)
