from __future__ import annotations

import datetime

from django.db import connection

from accounts.usage import tasks
from accounts.usage.models import Correction, MeterDay, MeterMonth
from accounts.usage.services import usage_drop_partitions_before, usage_partitions, usage_partitions_ensure
from members.models import AuditEvent
from tests.usage.conftest import csv_bytes, day_lines


def _names():
    return {p.name for p in usage_partitions()}


def test_partitions_are_created_three_months_ahead_and_creating_again_changes_nothing(db):
    names = usage_partitions_ensure(months_ahead=3, today=datetime.date(2031, 11, 20))
    assert names == [
        "usage_meter_day_203111",
        "usage_meter_day_203112",
        "usage_meter_day_203201",
        "usage_meter_day_203202",
    ]
    assert usage_partitions_ensure(months_ahead=3, today=datetime.date(2031, 11, 20)) == names
    assert set(names) <= _names()


def test_the_beat_task_creates_this_and_the_next_months(db):
    names = tasks.ensure_partitions.delay().get()
    assert len(names) == 4 and set(names) <= _names()


def test_a_file_for_a_month_without_a_partition_creates_it(meter, ingest):
    day = datetime.date(2024, 2, 29)
    ingest(csv_bytes(day_lines(meter.meter_number, day)))
    assert "usage_meter_day_202402" in _names()
    assert MeterDay.objects.filter(day=day).count() == 1


def test_dropping_months_removes_their_partitions_rollups_and_corrections_and_is_audited(meter, ingest, make_user):
    old, kept = datetime.date(2024, 3, 5), datetime.date(2024, 4, 5)
    ingest(csv_bytes(day_lines(meter.meter_number, old) + day_lines(meter.meter_number, kept)))
    fix = day_lines(meter.meter_number, old)[0].replace(",100,", ",101,")
    ingest(csv_bytes([fix]))
    assert Correction.objects.filter(day=old).count() == 1
    officer = make_user("retention-officer", is_staff=True)

    dropped = usage_drop_partitions_before(month=datetime.date(2024, 4, 1), actor=officer, reason="retention schedule")

    assert "usage_meter_day_202403" in [p.name for p in dropped]
    assert "usage_meter_day_202403" not in _names() and "usage_meter_day_202404" in _names()
    assert not MeterDay.objects.filter(day=old).exists() and MeterDay.objects.filter(day=kept).exists()
    assert not MeterMonth.objects.filter(month=datetime.date(2024, 3, 1)).exists()
    assert MeterMonth.objects.filter(month=datetime.date(2024, 4, 1)).exists()
    assert not Correction.objects.exists()
    event = AuditEvent.objects.get(action="usage.partitions_dropped")
    assert (
        event.actor == officer
        and "usage_meter_day_202403" in event.detail["partitions"]
        and event.reason == "retention schedule"
    )


def test_the_meter_day_table_is_partitioned_by_month(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'usage_meter_day'::regclass")
        assert cursor.fetchone() == ("r",)
