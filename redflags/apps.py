from django.apps import AppConfig


class RedflagsConfig(AppConfig):
    name = "redflags"
    verbose_name = "Red Flags (identity theft prevention)"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from members import demo, roles
        from redflags import receivers  # noqa: F401  (connects the registry signals)
        from redflags.demo import seed_redflags

        view = [
            f"redflags.view_{model}"
            for model in (
                "rule",
                "ruleversion",
                "riskassessment",
                "flag",
                "reviewitem",
                "response",
                "verificationchecklist",
                "knownfraudentry",
                "consumerreportalert",
                "identitytheftnotice",
                "securityincident",
            )
        ]
        roles.grant(
            roles.RED_FLAG_ANALYST,
            *view,
            "redflags.work_queue",
            "redflags.add_knownfraudentry",
            "redflags.add_identitytheftnotice",
            "redflags.add_consumerreportalert",
            "redflags.add_securityincident",
        )
        roles.grant(
            roles.PROGRAM_ADMINISTRATOR,
            *view,
            "redflags.manage_rules",
            "redflags.manage_program",
            "redflags.view_annual_review",
            "redflags.add_ruleversion",
            "redflags.view_programsettings",
            "redflags.change_programsettings",
            "redflags.view_trainingacknowledgement",
            "redflags.add_trainingacknowledgement",
            "redflags.view_programchange",
            "redflags.add_programchange",
            "redflags.change_programchange",
            "redflags.view_annualreview",
            "redflags.add_annualreview",
            "redflags.change_annualreview",
            "redflags.view_callerverificationattempt",
            "redflags.add_knownfraudentry",
            "redflags.add_securityincident",
        )
        roles.grant(
            roles.CSR,
            "redflags.verify_caller",
            "redflags.record_checklist",
            "redflags.add_identitytheftnotice",
            "redflags.view_identitytheftnotice",
            "redflags.add_consumerreportalert",
            "redflags.view_consumerreportalert",
        )
        if seed_redflags not in demo.DEMO_STEPS:
            demo.DEMO_STEPS.append(seed_redflags)
        post_migrate.connect(_sync_catalogue, sender=self, dispatch_uid="redflags.catalogue_sync")


def _sync_catalogue(sender, **kwargs) -> None:
    from redflags.services import catalogue_sync

    catalogue_sync()
