"""The Red Flags app: roles, the demo step and the catalogue sync are registered in ``ready()``.

Modules that import models (receivers, demo, services, ``members.demo``) are imported inside
``ready()`` and ``_sync_catalogue``: this module is loaded before the app registry is, and importing a
model here raises ``AppRegistryNotReady``.
"""

from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate

from members import roles, staff_tools
from members.staff_tools import StaffTool


class RedflagsConfig(AppConfig):
    name = "redflags"
    verbose_name = "Red Flags (identity theft prevention)"

    def ready(self) -> None:
        from members import demo  # imports models: the registry is ready only now
        from redflags import receivers  # noqa: F401  (connects the registry signals; imports models)
        from redflags.demo import seed_redflags  # imports models
        from redflags.glance import register_panels  # imports models

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
        register_panels()  # the member's page at a glance (members/glance.py)
        if seed_redflags not in demo.DEMO_STEPS:
            demo.DEMO_STEPS.append(seed_redflags)
        post_migrate.connect(_sync_catalogue, sender=self, dispatch_uid="redflags.catalogue_sync")
        staff_tools.register(
            StaffTool(
                "Caller verification",
                "redflags:caller-verification",
                "redflags.verify_caller",
                "Verify a caller's identity before discussing the account.",
            ),
            StaffTool(
                "Annual review",
                "redflags:annual-review",
                "redflags.view_annual_review",
                "The Identity Theft Prevention Program's yearly report to the board.",
            ),
        )


def _sync_catalogue(sender, **kwargs) -> None:
    from redflags.services.rules import catalogue_sync  # imports models, so not at module top (see above)

    catalogue_sync()
