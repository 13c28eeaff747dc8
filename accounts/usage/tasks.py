"""Celery jobs for usage storage: thin wrappers over services, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from accounts.usage.services import usage_partitions_ensure

# How many months of empty partitions exist ahead of today, so a file for next month never waits on DDL.
PARTITION_MONTHS_AHEAD = 3


@shared_task(name="usage.ensure_partitions")
def ensure_partitions() -> list[str]:
    return usage_partitions_ensure(months_ahead=PARTITION_MONTHS_AHEAD)
