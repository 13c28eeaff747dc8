from django.apps import AppConfig

from members import roles, staff_tools
from members.staff_tools import StaffTool


class DisclosuresConfig(AppConfig):
    name = "disclosures"

    def ready(self) -> None:
        from disclosures import demo  # here, not at the top: it loads models, which need the app registry
        from disclosures.glance import register_panels  # imports models: the registry is ready only now
        from members import demo as members_demo
        # here for the same reason (it loads members.models)

        # Privacy Officer manages recipients, agreements, consents, legal bases and membership-list
        # requests, releases data and approves (second approver, membership lists).
        roles.grant(
            roles.PRIVACY_OFFICER,
            *(
                f"disclosures.{verb}_{model}"
                for verb in ("view", "add", "change")
                for model in (
                    "recipient",
                    "confidentialityagreement",
                    "consent",
                    "legalbasis",
                    "membershiplistrequest",
                    "noticetext",
                )
            ),
            "disclosures.view_disclosurelogentry",
            "disclosures.view_access_log",
            "disclosures.verify_chain",
            "disclosures.release_disclosure",
            "disclosures.approve_legalbasis",
            "disclosures.approve_membershiplistrequest",
        )
        # Auditors: read-only over everything here, the access log and the chain.
        roles.grant(
            roles.AUDITOR,
            *(
                f"disclosures.view_{model}"
                for model in (
                    "recipient",
                    "confidentialityagreement",
                    "consent",
                    "legalbasis",
                    "membershiplistrequest",
                    "disclosurelogentry",
                    "noticetext",
                )
            ),
            "disclosures.view_access_log",
            "disclosures.verify_chain",
        )
        # Member Services record consents given by phone or on a written form, and revocations, and take
        # membership-list requests; they cannot release data or see the log.
        roles.grant(
            roles.CSR,
            "disclosures.view_recipient",
            "disclosures.view_consent",
            "disclosures.add_consent",
            "disclosures.change_consent",
            "disclosures.add_membershiplistrequest",
            "disclosures.view_membershiplistrequest",
        )
        register_panels()  # the member's page at a glance (members/glance.py)
        from django.db.models.signals import post_migrate

        from disclosures.notice_seed import ensure_first_versions

        post_migrate.connect(ensure_first_versions, dispatch_uid="disclosures-notice-first-versions")
        # The chain key itself is checked at start-up by config/checks.py (memberguard.E004).
        if demo.seed_disclosures not in members_demo.DEMO_STEPS:
            members_demo.DEMO_STEPS.append(demo.seed_disclosures)
        staff_tools.register(
            StaffTool(
                "Release member data",
                "disclosures:release",
                "disclosures.release_disclosure",
                "Export to a recipient through the consent gate; every release is on the log.",
            ),
            StaffTool(
                "Disclosure log",
                "disclosures:audit-log",
                "disclosures.view_access_log",
                "Releases and refused attempts, the hash-chained log.",
            ),
            StaffTool(
                "Access log",
                "disclosures:audit-access-log",
                "disclosures.view_access_log",
                "Who viewed or revealed member records.",
            ),
            StaffTool(
                "Consents",
                "disclosures:audit-consents",
                "disclosures.view_access_log",
                "Every consent, active, revoked or expired.",
            ),
            StaffTool(
                "Chain verification",
                "disclosures:audit-chain",
                "disclosures.view_access_log",
                "Check that no log entry was removed or altered.",
            ),
        )
