"""Daylight-saving days in America/Chicago (settings.TIME_ZONE): 2026-03-08 has 23 hours, 2026-11-01 has 25."""

from __future__ import annotations

import datetime

import pytest
from django.test import override_settings

from accounts.usage import selectors, timegrid
from accounts.usage.models import MeterDay, MeterMonth
from tests.usage.conftest import csv_bytes, day_lines

SPRING = datetime.date(2026, 3, 8)
AUTUMN = datetime.date(2026, 11, 1)


def test_the_spring_forward_day_has_92_quarter_hours_and_the_fall_back_day_100():
    assert timegrid.slots_in_day(SPRING, 15) == 92 and timegrid.slots_in_day(SPRING, 60) == 23
    assert timegrid.slots_in_day(AUTUMN, 15) == 100 and timegrid.slots_in_day(AUTUMN, 60) == 25
    assert timegrid.slots_in_day(datetime.date(2026, 3, 9), 15) == 96


@pytest.mark.parametrize(("day", "slots"), [(SPRING, 92), (AUTUMN, 100)])
def test_a_dst_day_loads_as_one_row_of_the_right_length(meter, ingest, day, slots):
    batch = ingest(csv_bytes(day_lines(meter.meter_number, day)))
    assert batch.bad_row_count == 0 and batch.readings_received == slots
    row = MeterDay.objects.get(meter_id=meter.pk, day=day)
    assert len(row.vals) == slots and row.total_wh == sum(range(100, 100 + slots))
    assert MeterMonth.objects.get(meter=meter, month=day.replace(day=1)).total_wh == row.total_wh


def test_the_repeated_hour_is_told_apart_by_its_utc_offset(meter, ingest):
    lines = day_lines(meter.meter_number, AUTUMN)
    # 01:00-01:45 happens twice: first in CDT (-05:00, slots 4-7), then in CST (-06:00, slots 8-11).
    assert lines[4].split(",")[1] == "2026-11-01T01:00:00-05:00"
    assert lines[8].split(",")[1] == "2026-11-01T01:00:00-06:00"
    ingest(csv_bytes(lines))
    row = MeterDay.objects.get(meter_id=meter.pk, day=AUTUMN)
    assert (row.vals[4], row.vals[8]) == (104, 108)


def test_naive_local_times_that_are_ambiguous_or_skipped_are_bad_rows(meter, ingest):
    batch = ingest(
        csv_bytes(
            [
                "MTR-A-0001,2026-11-01 01:15:00,900,5,actual,delivered",  # exists twice
                "MTR-A-0001,2026-03-08 02:30:00,900,5,actual,delivered",  # never exists
                "MTR-A-0001,2026-03-08 03:00:00,900,5,actual,delivered",  # fine: first CDT quarter-hour
            ]
        )
    )
    reasons = {row["line"]: row["reason"] for row in batch.bad_rows}
    assert "ambiguous" in reasons[2] and "does not exist" in reasons[3] and 4 not in reasons
    assert MeterDay.objects.get(meter_id=meter.pk, day=SPRING).vals[8] == 5  # 03:00 CDT is slot 8 (02:00 skipped)


def test_interval_reads_on_dst_days_come_back_in_utc_order_with_the_right_starts(account, meter, ingest):
    ingest(csv_bytes(day_lines(meter.meter_number, AUTUMN)))
    readings = list(
        selectors.interval_readings_for_account(account=account, start=AUTUMN, end=AUTUMN + datetime.timedelta(days=1))
    )
    assert len(readings) == 100
    starts = [r[0] for r in readings]
    assert starts == sorted(starts) and starts[0] == datetime.datetime(2026, 11, 1, 5, tzinfo=datetime.UTC)
    assert all(b - a == datetime.timedelta(minutes=15) for a, b in zip(starts, starts[1:], strict=False))
    assert readings[8] == (datetime.datetime(2026, 11, 1, 7, tzinfo=datetime.UTC), 900, 108, "actual", "delivered")


def test_a_daily_register_read_on_a_long_day_reports_25_hours(account, meter, ingest):
    ingest(csv_bytes(day_lines(meter.meter_number, AUTUMN, [30000], minutes=1440)))
    (reading,) = selectors.interval_readings_for_account(
        account=account, start=AUTUMN, end=AUTUMN + datetime.timedelta(days=1)
    )
    assert reading[1] == 25 * 3600 and reading[2] == 30000


@override_settings(TIME_ZONE="America/New_York")
def test_the_local_day_follows_the_configured_time_zone():
    assert timegrid.day_bounds_utc(datetime.date(2026, 10, 14))[0] == datetime.datetime(
        2026, 10, 14, 4, tzinfo=datetime.UTC
    )
