from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from accounts.usage.services import usage_partitions
from members.models import AuditEvent
from retention.models import Category, PurgeRun
from retention.services import retention_policy_ensure_defaults, retention_purge_category
from tests.usage.conftest import csv_bytes, day_lines

pytestmark = pytest.mark.django_db


@pytest.fixture
def meter():
    from tests.factories import MeterFactory

    return MeterFactory(meter_number="MTR-R-0001")


def ingest(data: bytes):
    from accounts.usage.services import usage_ingest_file

    return usage_ingest_file(data=data, source="test", filename="retention.csv")


def _readings_on(day: dt.date) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM usage_meter_day WHERE day = %s", [day])
        return cursor.fetchone()[0]


def test_interval_data_older_than_the_schedule_goes_by_whole_monthly_partitions(meter):
    retention_policy_ensure_defaults()
    old_day, recent_day = dt.date(2015, 3, 10), timezone.localdate() - dt.timedelta(days=40)
    ingest(csv_bytes(day_lines(meter.meter_number, old_day) + day_lines(meter.meter_number, recent_day)))
    assert _readings_on(old_day) == 1 and _readings_on(recent_day) == 1

    run = retention_purge_category(category=Category.USAGE_INTERVALS)

    assert run.status == PurgeRun.Status.DONE and run.records_destroyed >= 1
    assert _readings_on(old_day) == 0 and _readings_on(recent_day) == 1
    assert all(partition.month > dt.date(2015, 3, 1) for partition in usage_partitions())
    batch = AuditEvent.objects.get(action="retention.purge_batch", object_id=str(run.pk))
    assert 201503 in batch.detail["ids"]


def test_dropping_a_month_keeps_the_held_meters_rows_until_the_hold_ends(meter):
    from accounts.models import Meter
    from retention.models import HeldMeterDay, Hold
    from tests.factories import MeterFactory, OpenAccountFactory

    retention_policy_ensure_defaults()
    other = MeterFactory(meter_number="MTR-R-0002")
    account = OpenAccountFactory(premise=Meter.objects.get(pk=meter.pk).premise)
    hold = Hold.objects.create(scope=Hold.Scope.ACCOUNT, account=account, reason="Meter tampering case 2026-7")
    old_day = dt.date(2015, 3, 10)
    ingest(csv_bytes(day_lines(meter.meter_number, old_day) + day_lines(other.meter_number, old_day)))

    run = retention_purge_category(category=Category.USAGE_INTERVALS)

    assert _readings_on(old_day) == 0  # the partition is gone
    kept = HeldMeterDay.objects.get()
    assert (kept.meter_id, kept.day) == (meter.pk, old_day) and kept.total_wh > 0
    batch = AuditEvent.objects.get(action="retention.purge_batch", object_id=str(run.pk))
    assert batch.detail["held_rows_kept"] == 1

    Hold.objects.filter(pk=hold.pk).update(released_at=timezone.now())
    after = retention_purge_category(category=Category.USAGE_INTERVALS)
    assert not HeldMeterDay.objects.exists()
    batch = AuditEvent.objects.get(action="retention.purge_batch", object_id=str(after.pk))
    assert batch.detail["held_rows_destroyed"] == 1
