from django.apps import AppConfig

from members import roles


class UsageConfig(AppConfig):
    """Meter interval data: partitioned, compact storage, ingestion and rollups (docs/usage.md)."""

    name = "accounts.usage"
    label = "usage"

    def ready(self) -> None:
        # The demo modules import models, which are not loaded yet when apps.py is imported.
        from accounts.usage.demo import seed_usage, seed_usage_last_year
        from accounts.usage.demo_bills import seed_bills
        from members import demo

        # Billing reconciles meter reads with bills and runs the MDMS hand-off, so it may send files
        # and read any account's usage; Member Services reads usage to answer high-bill calls. The
        # MDMS integration itself is a user holding usage.ingest_readings directly (docs/usage.md).
        roles.grant(roles.BILLING, "usage.ingest_readings", "usage.view_account_usage", "usage.view_ingestbatch")
        roles.grant(roles.CSR, "usage.view_account_usage")
        # Billing is also the usage admin: it keeps the Green Button UsagePoint -> meter mapping.
        roles.grant(
            roles.BILLING,
            "usage.manage_usage_point_mappings",
            *(f"usage.{verb}_usagepointmapping" for verb in ("view", "add", "change", "delete")),
        )
        if seed_usage not in demo.DEMO_STEPS:
            demo.DEMO_STEPS.append(seed_usage)
        # Bills come after the readings they are billed from (accounts/usage/demo_bills.py).
        if seed_bills not in demo.DEMO_STEPS:
            demo.DEMO_STEPS.insert(demo.DEMO_STEPS.index(seed_usage) + 1, seed_bills)
        # Last year's readings (the usage page's comparison) after the bills, which bill this year's only.
        if seed_usage_last_year not in demo.DEMO_STEPS:
            demo.DEMO_STEPS.insert(demo.DEMO_STEPS.index(seed_bills) + 1, seed_usage_last_year)
