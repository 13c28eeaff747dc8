from __future__ import annotations

import datetime

from accounts.usage.models import Correction, IngestBatch, MeterDay, MeterMonth
from members.models import AuditEvent
from tests.usage.conftest import csv_bytes, day_lines

DAY = datetime.date(2026, 10, 14)


def test_a_good_csv_day_loads_as_one_row_with_its_total_and_rollup(meter, ingest):
    batch = ingest(csv_bytes(day_lines(meter.meter_number, DAY)))

    assert batch.status == IngestBatch.Status.LOADED
    assert batch.readings_received == 96 and batch.bad_row_count == 0 and batch.meter_days_inserted == 1
    row = MeterDay.objects.get(meter_id=meter.pk, day=DAY)
    assert row.vals == list(range(100, 196)) and row.quality is None and row.total_wh == sum(range(100, 196))
    month = MeterMonth.objects.get(meter=meter, month=DAY.replace(day=1))
    assert month.total_wh == row.total_wh and month.days_with_data == 1
    assert AuditEvent.objects.filter(action="usage.file_ingested", object_id=str(batch.pk)).exists()


def test_sending_the_same_file_twice_changes_nothing(meter, ingest):
    data = csv_bytes(day_lines(meter.meter_number, DAY))
    ingest(data)
    before = list(MeterDay.objects.filter(meter_id=meter.pk).values_list("vals", "quality", "total_wh"))
    month_before = list(
        MeterMonth.objects.values_list("total_wh", "days_with_data", "intervals_estimated", "intervals_missing")
    )

    again = ingest(data)

    assert again.status == IngestBatch.Status.LOADED
    assert (again.meter_days_inserted, again.meter_days_changed, again.meter_days_unchanged, again.corrections) == (
        0,
        0,
        1,
        0,
    )
    assert list(MeterDay.objects.filter(meter_id=meter.pk).values_list("vals", "quality", "total_wh")) == before
    assert (
        list(MeterMonth.objects.values_list("total_wh", "days_with_data", "intervals_estimated", "intervals_missing"))
        == month_before
    )
    assert not Correction.objects.exists()


def test_a_corrected_reading_replaces_the_old_one_and_is_recorded(meter, ingest):
    ingest(csv_bytes(day_lines(meter.meter_number, DAY)))
    line = day_lines(meter.meter_number, DAY)[10].split(",")
    line[3], line[4] = "999", "edited"

    batch = ingest(csv_bytes([",".join(line)]))

    assert (batch.meter_days_changed, batch.corrections) == (1, 1)
    row = MeterDay.objects.get(meter_id=meter.pk, day=DAY)
    assert row.vals[10] == 999 and row.vals[11] == 111 and row.quality[10] == "D" and row.quality[11] == "A"
    correction = Correction.objects.get()
    assert (correction.batch_id, correction.slot, correction.old_value_wh, correction.new_value_wh) == (
        batch.pk,
        10,
        110,
        999,
    )
    assert (correction.old_quality, correction.new_quality) == ("A", "D")
    month = MeterMonth.objects.get(meter=meter)
    assert month.total_wh == row.total_wh == sum(range(100, 196)) - 110 + 999
    assert month.days_with_data == 1


def test_a_partial_day_is_completed_by_a_later_file_without_counting_as_a_correction(meter, ingest):
    lines = day_lines(meter.meter_number, DAY)
    ingest(csv_bytes(lines[:48]))
    first = MeterDay.objects.get(meter_id=meter.pk, day=DAY)
    assert first.vals[47] == 147 and first.vals[48] is None and first.quality == "A" * 48 + "-" * 48
    assert MeterMonth.objects.get(meter=meter).intervals_missing == 48

    batch = ingest(csv_bytes(lines[48:]))

    assert (batch.meter_days_changed, batch.corrections) == (1, 0)
    row = MeterDay.objects.get(meter_id=meter.pk, day=DAY)
    assert row.vals == list(range(100, 196)) and row.quality is None
    month = MeterMonth.objects.get(meter=meter)
    assert (month.total_wh, month.days_with_data, month.intervals_missing) == (sum(range(100, 196)), 1, 0)


def test_bad_rows_are_reported_with_line_and_reason_and_good_rows_still_load(meter, ingest):
    good = day_lines(meter.meter_number, DAY)
    lines = [
        *good[:4],
        good[3],  # line 6: duplicate of line 5
        good[4].replace(meter.meter_number, "NO-SUCH-METER"),  # line 7
        good[5].replace(",105,", ",-5,"),  # line 8
        good[6].replace(",106,", ",99999999,"),  # line 9
        "MTR-A-0001,2026-10-14T25:00:00-05:00,900,5,actual,delivered",  # line 10
        "MTR-A-0001,2026-10-14T00:07:00-05:00,900,5,actual,delivered",  # line 11: off the grid
        good[7].replace(",actual,", ",guessed,"),  # line 12
        good[8].replace(",delivered", ",sideways"),  # line 13
        "MTR-A-0001,2026-10-14T02:00:00-05:00,900",  # line 14
        good[9].replace(",109,", ",1.5,"),  # line 15
        "MTR-A-0001,2099-01-01T00:00:00Z,900,5,actual,delivered",  # line 16
    ]
    batch = ingest(csv_bytes(lines))

    reasons = {row["line"]: row["reason"] for row in batch.bad_rows}
    assert batch.bad_row_count == 11 == len(reasons)
    assert "duplicate" in reasons[6]
    assert "unknown meter" in reasons[7]
    assert "impossible value -5" in reasons[8] and "impossible value 99999999" in reasons[9]
    assert "not an ISO 8601" in reasons[10] and "grid" in reasons[11]
    assert "quality" in reasons[12] and "channel" in reasons[13] and "6 columns" in reasons[14]
    assert "whole number" in reasons[15] and "future" in reasons[16]
    row = MeterDay.objects.get(meter_id=meter.pk, day=DAY)
    assert row.vals[:4] == [100, 101, 102, 103] and row.vals[4] is None
    assert batch.readings_received == 15


def test_a_missing_interval_is_stored_as_missing_not_zero(meter, ingest):
    lines = day_lines(meter.meter_number, DAY)
    lines[0] = lines[0].replace(",100,actual,", ",,missing,")
    lines[1] = lines[1].replace(",actual,", ",estimated,")
    ingest(csv_bytes(lines))
    row = MeterDay.objects.get(meter_id=meter.pk, day=DAY)
    assert row.vals[0] is None and row.quality[:3] == "MEA"
    month = MeterMonth.objects.get(meter=meter)
    assert (month.intervals_missing, month.intervals_estimated, month.total_wh) == (1, 1, sum(range(101, 196)))


def test_readings_in_utc_and_naive_local_time_land_on_the_same_local_day(meter, ingest):
    utc_lines = day_lines(meter.meter_number, DAY, style="utc")
    assert utc_lines[0].split(",")[1] == "2026-10-14T05:00:00Z"  # Chicago is UTC-5 in October
    ingest(csv_bytes(utc_lines[:2] + ["MTR-A-0001,2026-10-14 00:30:00,900,7,actual,delivered"]))
    row = MeterDay.objects.get(meter_id=meter.pk, day=DAY)
    assert row.vals[:3] == [100, 101, 7]


def test_a_received_channel_is_stored_apart_from_delivered(solar_meter, ingest):
    ingest(
        csv_bytes(
            day_lines(solar_meter.meter_number, DAY)
            + day_lines(solar_meter.meter_number, DAY, [5] * 96, channel="received")
        )
    )
    assert sorted(MeterDay.objects.filter(meter_id=solar_meter.pk).values_list("channel", "total_wh")) == [
        (1, sum(range(100, 196))),
        (2, 480),
    ]


def test_hourly_and_daily_register_reads_are_stored_at_their_own_length(meter, ingest):
    ingest(
        csv_bytes(
            day_lines(meter.meter_number, DAY, minutes=60) + day_lines(meter.meter_number, DAY, [12000], minutes=1440)
        )
    )
    rows = dict(MeterDay.objects.filter(meter_id=meter.pk).values_list("interval_minutes", "vals"))
    assert len(rows[60]) == 24 and rows[1440] == [12000]
