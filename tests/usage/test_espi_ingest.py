from __future__ import annotations

import datetime

import pytest

from accounts.usage import timegrid
from accounts.usage.models import IngestBatch, MeterDay
from tests.usage.espi import espi_feed

DAY = datetime.date(2026, 10, 14)


def _day_readings(day=DAY, value=250, quality=None):
    return [
        (int(timegrid.slot_start_utc(day, 15, slot).timestamp()), 900, value + slot, quality)
        for slot in range(timegrid.slots_in_day(day, 15))
    ]


def test_a_valid_green_button_feed_loads_with_its_quality_codes(meter, ingest):
    readings = _day_readings()
    readings[3] = (readings[3][0], 900, 9, "8")  # estimated from history
    readings[4] = (readings[4][0], 900, 10, "7")  # edited by hand
    readings[5] = (readings[5][0], 900, None, None)  # no value: missing
    batch = ingest(espi_feed(meter.meter_number, readings), filename="gb.xml")

    assert batch.status == IngestBatch.Status.LOADED and batch.file_format == "espi", batch.rejection_reason
    assert batch.readings_received == 96 and batch.bad_row_count == 0
    row = MeterDay.objects.get(meter_id=meter.pk, day=DAY, channel=1)
    assert row.vals[:6] == [250, 251, 252, 9, 10, None]
    assert row.quality[:7] == "AAAEDMA"


def test_reverse_flow_readings_in_kwh_land_on_the_received_channel_in_wh(solar_meter, ingest):
    readings = [(start, 900, 2, None) for start, _d, _v, _q in _day_readings()]
    ingest(espi_feed(solar_meter.meter_number, readings, flow=19, multiplier=3))
    row = MeterDay.objects.get(meter_id=solar_meter.pk, day=DAY)
    assert row.channel == 2 and set(row.vals) == {2000}


def test_an_espi_feed_sent_twice_changes_nothing(meter, ingest):
    data = espi_feed(meter.meter_number, _day_readings())
    ingest(data)
    again = ingest(data)
    assert (again.meter_days_inserted, again.meter_days_changed, again.corrections) == (0, 0, 0)


def test_bad_espi_readings_are_reported_with_their_line(meter, ingest):
    readings = _day_readings()[:3]
    readings.append(readings[0])  # the same reading again (overlapping blocks): counted once, with a warning
    readings.append((readings[1][0] + 60, 900, 5, None))  # off the 15-minute grid
    readings.append((readings[2][0] + 900, 900, 10**9, None))  # impossible value
    batch = ingest(espi_feed(meter.meter_number, readings))
    reasons = [row["reason"] for row in batch.bad_rows]
    assert batch.bad_row_count == 2
    assert any("grid" in r for r in reasons) and any("impossible" in r for r in reasons)
    assert any("repeated" in w["reason"] for w in batch.warnings)
    assert all(row["line"] > 1 for row in batch.bad_rows)
    assert MeterDay.objects.get(meter_id=meter.pk).vals[:3] == [250, 251, 252]


def test_an_unknown_usage_point_is_reported_with_its_identifiers_and_nothing_dropped_silently(meter, ingest):
    batch = ingest(espi_feed("NOT-A-METER", _day_readings()[:4]))
    assert batch.status == IngestBatch.Status.LOADED and batch.bad_row_count == 0
    assert batch.readings_received == 4 and batch.readings_not_loaded == 4
    (report,) = batch.not_loaded
    assert "unknown UsagePoint" in report["reason"] and report["readings"] == 4
    assert report["usage_point"]["title"] == "NOT-A-METER" and report["usage_point"]["usage_point_id"] == "1"
    assert not MeterDay.objects.exists()


def test_a_reading_type_other_than_watt_hours_is_refused(meter, ingest):
    batch = ingest(espi_feed(meter.meter_number, _day_readings()[:2], uom=38))
    assert batch.readings_not_loaded == 2 and "uom 38 (W)" in batch.not_loaded[0]["reason"]
    assert not MeterDay.objects.exists()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<feed xmlns='http://www.w3.org/2005/Atom'><unclosed></feed>", "not well-formed"),
        (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><bogus/></feed>', "ESPI schema"),
        (
            b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "x">]><feed xmlns="http://www.w3.org/2005/Atom">&e;</feed>',
            "",
        ),
    ],
)
def test_malformed_or_schema_invalid_xml_is_rejected_and_nothing_loads(meter, ingest, data, reason):
    batch = ingest(data, filename="gb.xml")
    assert batch.status == IngestBatch.Status.REJECTED and reason in batch.rejection_reason
    assert not MeterDay.objects.exists()


def test_a_schema_invalid_value_rejects_the_whole_feed(meter, ingest):
    data = espi_feed(meter.meter_number, _day_readings()).replace(b"<value>250</value>", b"<value>lots</value>", 1)
    batch = ingest(data)
    assert batch.status == IngestBatch.Status.REJECTED and "ESPI schema" in batch.rejection_reason
    assert not MeterDay.objects.exists()
