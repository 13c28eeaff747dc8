"""Usage intervals: whole monthly partitions go, but the rows of held meters are copied out first into
``retention_held_meter_day``, where they stay while the hold does (docs/retention.md)."""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction

from accounts.usage.services import usage_drop_partitions_before, usage_partitions
from retention.models import HeldMeterDay
from retention.selectors import held_meter_ids

_COLUMNS = "meter_id, day, channel, interval_minutes, total_wh, vals, quality"


def month_number(month: dt.date) -> int:
    return month.year * 100 + month.month


def purge_usage(*, month: dt.date) -> tuple[list[int], dict[str, int]]:
    """Drop every partition before ``month`` keeping held meters' rows; returns (yyyymm list, counts)."""
    doomed = [partition for partition in usage_partitions() if partition.month < month]
    held = held_meter_ids()
    kept = 0
    with transaction.atomic():
        if held and doomed:
            with connection.cursor() as cursor:
                for partition in doomed:
                    cursor.execute(
                        f"INSERT INTO retention_held_meter_day ({_COLUMNS}, held_at) SELECT {_COLUMNS}, now() "  # noqa: S608
                        f'FROM "{partition.name}" WHERE meter_id = ANY(%s) ON CONFLICT DO NOTHING',
                        [held],
                    )
                    kept += cursor.rowcount
        dropped = usage_drop_partitions_before(month=month, actor_label="retention", reason="retention schedule")
        released, _ = HeldMeterDay.objects.filter(day__lt=month).exclude(meter_id__in=held).delete()
    return [month_number(partition.month) for partition in dropped], {
        "held_meters": len(held),
        "held_rows_kept": kept,
        "held_rows_destroyed": released,
    }
