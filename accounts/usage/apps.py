from django.apps import AppConfig


class UsageConfig(AppConfig):
    """Meter interval data: partitioned, compact storage, ingestion and rollups (docs/usage.md)."""

    name = "accounts.usage"
    label = "usage"
