from django.apps import AppConfig


class CasesConfig(AppConfig):
    """Red Flags cases: alerts grouped per member, inboxes, escalation, snoozes (docs/redflags.md)."""

    name = "redflags.cases"
    label = "redflags_cases"
    verbose_name = "Red Flags cases"

    def ready(self) -> None:
        from members import guards, roles
        from redflags.cases import binding  # imports models: the registry is ready only now

        guards.register(binding.red_flag_warning_guard)
        view = [
            f"redflags_cases.view_{model}"
            for model in ("case", "casenote", "caseattachment", "rulesnooze", "accessanomaly")
        ]
        roles.grant(
            roles.RED_FLAG_ANALYST,
            *view,
            "redflags_cases.work_case",
            "redflags_cases.add_casenote",
            "redflags_cases.add_caseattachment",
        )
        roles.grant(
            roles.PROGRAM_ADMINISTRATOR,
            *view,
            "redflags_cases.work_case",
            "redflags_cases.add_casenote",
            "redflags_cases.add_caseattachment",
            "redflags_cases.snooze_rule",
            "redflags_cases.add_rulesnooze",
            "redflags_cases.view_unverified_members",
        )
