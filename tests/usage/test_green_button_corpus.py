"""Issue 19: Green Button files as found in the field. The Alliance's samples and built hard cases,
each asserted for readings loaded, totals, DST slot counts and warnings."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from lxml import etree

from accounts.usage import timegrid
from accounts.usage.espi import espi_validate
from accounts.usage.models import Correction, IngestBatch, MeterDay, MeterMonth, UsagePointMapping
from members.models import AuditEvent
from tests.factories import MeterFactory
from tests.usage.gb_build import MeterReadingSpec, Reading, UsagePointSpec, build_feed

CORPUS = Path(__file__).parent / "corpus"
SAMPLES = ["gba_test_usage_data.xml", "gba_test_usage_data_01.xml", "gba_test_usage_data_2.xml"]
ESPI = {"e": "http://naesb.org/espi"}


def independent_totals(data: bytes) -> tuple[int, int]:
    """(IntervalReadings, sum of their values in Wh): a tiny lxml sum, not MemberGuard's reader."""
    tree = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
    multiplier = int(tree.xpath("string(//e:ReadingType/e:powerOfTenMultiplier)", namespaces=ESPI) or 0)
    values = [int(v) for v in tree.xpath("//e:IntervalReading/e:value/text()", namespaces=ESPI)]
    return len(tree.xpath("//e:IntervalReading", namespaces=ESPI)), sum(values) * 10**multiplier


def stored_total(meter, channel: int = 1) -> int:
    return sum(MeterDay.objects.filter(meter_id=meter.pk, channel=channel).values_list("total_wh", flat=True))


def day_readings(day: datetime.date, minutes: int = 15, value=lambda slot: 100 + slot, **extra) -> list[Reading]:
    return [
        Reading(
            int(timegrid.slot_start_utc(day, minutes, slot).timestamp()), value(slot), duration=minutes * 60, **extra
        )
        for slot in range(timegrid.slots_in_day(day, minutes))
    ]


def one_point(meter_number: str, readings: list[Reading], **spec) -> bytes:
    return build_feed([UsagePointSpec("1", title=meter_number, meter_readings=[MeterReadingSpec([readings], **spec)])])


def reasons(batch: IngestBatch, field: str = "warnings") -> str:
    return " | ".join(row["reason"] for row in getattr(batch, field))


def warned(batch: IngestBatch, text: str) -> int:
    """How many times a warning containing ``text`` was recorded (warnings are grouped by reason)."""
    return sum(row["count"] for row in batch.warnings if text in row["reason"])


# --- the Green Button Alliance samples -----------------------------------------------------------------


@pytest.mark.parametrize("name", SAMPLES)
def test_each_alliance_sample_loads_with_warnings_and_the_independent_total(meter, ingest, name):
    data = (CORPUS / name).read_bytes()
    count, total = independent_totals(data)
    UsagePointMapping.objects.create(kind="title", value="front electric meter", meter=meter)

    batch = ingest(data, filename=name)

    assert batch.status == IngestBatch.Status.LOADED, batch.rejection_reason
    assert (batch.readings_received, batch.bad_row_count, batch.readings_not_loaded) == (count, 0, 0)
    assert stored_total(meter) == total
    text = reasons(batch)
    for expected in (
        "no type attribute",
        "processing instruction <?xml-stylesheet?>",
        "comment ignored",
        "ESPI 1.x URL pattern",
        "ElectricPowerUsageSummary ignored",
        "ElectricPowerQualitySummary ignored",
        "LocalTimeParameters (UTC-05:00",
        f"cost on {count} readings ignored",
    ):
        assert expected in text, expected
    assert batch.warning_count == sum(row["count"] for row in batch.warnings)
    assert all(row["line"] >= 1 and row["lines"][0] == row["line"] for row in batch.warnings)
    link_lines = [row["line"] for row in batch.warnings if "type attribute" in row["reason"]]
    first_link = next(n for n, line in enumerate(data.splitlines(), 1) if b"<link " in line)
    assert min(link_lines) == first_link
    links = etree.fromstring(data).iter("{http://www.w3.org/2005/Atom}link")
    assert warned(batch, "type attribute (the ESPI 3.3 Atom profile requires one)") == sum(1 for _ in links)
    assert warned(batch, "comment ignored") == data.count(b"<!--")


def test_the_long_sample_has_the_spring_forward_day_of_the_coops_zone_with_92_quarter_hours(meter, ingest):
    UsagePointMapping.objects.create(kind="usage_point_id", value="5446AF3F", meter=meter)
    ingest((CORPUS / "gba_test_usage_data.xml").read_bytes())
    spring = MeterDay.objects.get(meter_id=meter.pk, day=datetime.date(2012, 3, 11))
    ordinary = MeterDay.objects.get(meter_id=meter.pk, day=datetime.date(2012, 3, 5))
    assert (len(spring.vals), len(ordinary.vals)) == (92, 96)
    assert spring.quality is None and ordinary.quality is None  # every interval read, none missing


def test_an_alliance_sample_without_a_mapping_reports_its_usage_point_and_loads_nothing(meter, ingest):
    data = (CORPUS / "gba_test_usage_data_01.xml").read_bytes()
    batch = ingest(data)
    assert batch.status == IngestBatch.Status.LOADED and batch.readings_not_loaded == 96
    (report,) = batch.not_loaded
    assert report["readings"] == 96 and "unknown UsagePoint" in report["reason"]
    assert report["usage_point"]["title"] == "Front Electric Meter"
    assert report["usage_point"]["usage_point_id"] == "5446AF3F"
    assert not MeterDay.objects.exists()


def test_the_samples_fail_the_strict_schema_only_on_their_envelope():
    data = (CORPUS / "gba_test_usage_data_2.xml").read_bytes()
    errors = espi_validate(data)
    assert errors and all("'type' is required" in error for error in errors)


# --- meters identified the co-op's way -------------------------------------------------------------------

DAY = datetime.date(2026, 10, 14)


def test_a_file_with_several_usage_points_maps_each_and_reports_the_unknown_one(db, ingest):
    by_sdp, by_id, by_title, by_number = (MeterFactory() for _ in range(4))
    UsagePointMapping.objects.create(kind="sdp", value="SDP-7781", meter=by_sdp)
    UsagePointMapping.objects.create(kind="usage_point_id", value="AB12", meter=by_id)
    UsagePointMapping.objects.create(kind="title", value="Coastal Multi-Family", meter=by_title)
    readings = day_readings(DAY)
    spec = lambda: [MeterReadingSpec([readings])]  # noqa: E731
    data = build_feed(
        [
            UsagePointSpec("1", title="Unit A", sdp_name="SDP-7781", meter_readings=spec()),
            UsagePointSpec("AB12", title="Unit B", meter_readings=spec()),
            UsagePointSpec("3", title="Coastal Multi-Family", meter_readings=spec()),
            UsagePointSpec("4", title=by_number.meter_number, meter_readings=spec()),
            UsagePointSpec("5", title="Front Electric Meter", sdp_name="SDP-0000", meter_readings=spec()),
        ]
    )
    batch = ingest(data)
    assert batch.readings_received == 5 * 96 and batch.readings_not_loaded == 96
    for meter in (by_sdp, by_id, by_title, by_number):
        assert stored_total(meter) == sum(r.value for r in readings)
    (report,) = batch.not_loaded
    assert report["usage_point"] == {
        "line": report["line"],
        "self_link": "https://mdms.example/DataCustodian/espi/1_1/resource/Subscription/9/UsagePoint/5",
        "usage_point_id": "5",
        "service_delivery_point": "SDP-0000",
        "title": "Front Electric Meter",
    }
    assert report["line"] > 1


# --- every reading type ---------------------------------------------------------------------------------

SPRING, FALL = datetime.date(2026, 3, 8), datetime.date(2026, 11, 1)


@pytest.mark.parametrize(
    ("minutes", "spring_slots", "ordinary_slots", "fall_slots"),
    [(5, 276, 288, 300), (15, 92, 96, 100), (30, 46, 48, 50), (60, 23, 24, 25), (720, 2, 2, 2), (1440, 1, 1, 1)],
)
def test_every_interval_length_loads_with_dst_days_of_the_right_length(
    meter, ingest, minutes, spring_slots, ordinary_slots, fall_slots
):
    days = [SPRING, datetime.date(2026, 3, 9), FALL]
    readings = [r for day in days for r in day_readings(day, minutes, value=lambda slot: 3)]
    batch = ingest(one_point(meter.meter_number, readings, interval=minutes * 60))
    assert batch.status == IngestBatch.Status.LOADED and batch.bad_row_count == 0, reasons(batch, "bad_rows")
    rows = {row.day: row for row in MeterDay.objects.filter(meter_id=meter.pk)}
    assert [len(rows[day].vals) for day in days] == [spring_slots, ordinary_slots, fall_slots]
    assert {row.interval_minutes for row in rows.values()} == {minutes}
    assert stored_total(meter) == 3 * len(readings)


def test_twelve_hour_reads_follow_the_local_clock_on_a_dst_day(meter, ingest):
    noon = int(datetime.datetime(2026, 3, 8, 12, tzinfo=timegrid.local_zone()).timestamp())
    midnight = int(timegrid.day_bounds_utc(SPRING)[0].timestamp())
    batch = ingest(
        one_point(meter.meter_number, [Reading(midnight, 11, 43200), Reading(noon, 13, 43200)], interval=43200)
    )
    assert batch.bad_row_count == 0
    assert MeterDay.objects.get(meter_id=meter.pk).vals == [11, 13]
    assert timegrid.slot_duration_seconds(SPRING, 720, 0) == 11 * 3600
    off_grid = ingest(one_point(meter.meter_number, [Reading(midnight + 43200, 1, 43200)], interval=43200))
    assert "local midnight or local noon" in reasons(off_grid, "bad_rows")


@pytest.mark.parametrize(
    ("multiplier", "raw", "stored"),
    [(0, 250, 250), (3, 2, 2000), (-1, 2504, 250), (-3, 1500, 2)],  # Wh, kWh, tenths and thousandths (half to even)
)
def test_power_of_ten_multiplier_is_applied(meter, ingest, multiplier, raw, stored):
    ingest(one_point(meter.meter_number, day_readings(DAY, value=lambda slot: raw)[:1], multiplier=multiplier))
    assert MeterDay.objects.get(meter_id=meter.pk).vals[0] == stored


def test_reverse_flow_goes_to_the_received_channel_and_absent_flow_to_delivered_with_a_warning(solar_meter, ingest):
    ingest(one_point(solar_meter.meter_number, day_readings(DAY), flow=19))
    assert set(MeterDay.objects.filter(meter_id=solar_meter.pk).values_list("channel", flat=True)) == {2}
    batch = ingest(one_point(solar_meter.meter_number, day_readings(DAY + datetime.timedelta(days=1)), flow=None))
    assert "no flowDirection" in reasons(batch)
    assert MeterDay.objects.filter(meter_id=solar_meter.pk, channel=1).count() == 1


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"uom": 38}, "uom 38 (W) is not energy"),
        ({"uom": 73}, "uom 73 (VArh)"),
        ({"flow": 4}, "flowDirection 4 (net) has no channel"),
        ({"accumulation": 1}, "accumulationBehaviour 1 (bulkQuantity)"),
        ({"interval": 600}, "intervalLength 600 s is not one the store holds"),
        ({"multiplier": 12}, "powerOfTenMultiplier 12"),
    ],
)
def test_a_reading_type_the_store_cannot_hold_is_refused_with_its_reason(meter, ingest, spec, reason):
    batch = ingest(one_point(meter.meter_number, day_readings(DAY)[:4], **spec))
    assert batch.status == IngestBatch.Status.LOADED and batch.readings_not_loaded == 4
    assert reason in batch.not_loaded[0]["reason"]
    assert not MeterDay.objects.exists()


def test_reading_quality_is_kept(meter, ingest):
    readings = day_readings(DAY)
    readings[1].quality, readings[2].quality, readings[3].value = "8", "7", None
    ingest(one_point(meter.meter_number, readings))
    assert MeterDay.objects.get(meter_id=meter.pk).quality[:5] == "AEDMA"


# --- zones, gaps, overlaps, corrections ----------------------------------------------------------------


def test_local_time_parameters_of_another_zone_are_a_warning_and_readings_land_on_the_coops_days(meter, ingest):
    pacific_midnight = int(datetime.datetime(2026, 10, 14, 7, tzinfo=datetime.UTC).timestamp())  # 00:00 PDT
    readings = [Reading(pacific_midnight + 900 * slot, 10) for slot in range(96)]
    data = build_feed(
        [UsagePointSpec("1", title=meter.meter_number, meter_readings=[MeterReadingSpec([readings])])],
        local_time=(-28800, 3600),
    )
    batch = ingest(data)
    assert "LocalTimeParameters (UTC-08:00" in reasons(batch) and "America/Chicago" in reasons(batch)
    rows = {row.day: row for row in MeterDay.objects.filter(meter_id=meter.pk)}
    # 00:00 PDT is 02:00 CDT: the co-op's 14 October gets 22 hours (88 slots), the 15th the other 2 hours.
    assert rows[DAY].vals.count(10) == 88 and rows[DAY + datetime.timedelta(days=1)].vals.count(10) == 8
    assert stored_total(meter) == 960


def test_a_local_time_parameters_that_is_no_zone_rejects_the_file(meter, ingest):
    data = build_feed([UsagePointSpec("1", title=meter.meter_number)], local_time=(-18001, 3600))
    batch = ingest(data)
    assert batch.status == IngestBatch.Status.REJECTED and "not a real time zone" in batch.rejection_reason


def test_gaps_are_stored_as_missing_slots_and_counted_in_the_rollup(meter, ingest):
    readings = [r for slot, r in enumerate(day_readings(DAY)) if not 40 <= slot < 44]
    batch = ingest(one_point(meter.meter_number, readings))
    assert batch.readings_received == 92 and batch.bad_row_count == 0
    row = MeterDay.objects.get(meter_id=meter.pk)
    assert row.vals[40:44] == [None] * 4 and row.quality[40:44] == "----"
    assert row.total_wh == sum(r.value for r in readings)
    assert MeterMonth.objects.get(meter=meter).intervals_missing == 4


def test_overlapping_blocks_that_agree_count_once_with_a_warning(meter, ingest):
    readings = day_readings(DAY)
    data = build_feed(
        [
            UsagePointSpec(
                "1", title=meter.meter_number, meter_readings=[MeterReadingSpec([readings[:60], readings[50:]])]
            )
        ]
    )
    batch = ingest(data)
    assert batch.readings_received == 106 and batch.bad_row_count == 0
    assert warned(batch, "repeated in an overlapping IntervalBlock") == 10
    assert stored_total(meter) == sum(r.value for r in readings)


def test_overlapping_blocks_that_disagree_reject_the_file_with_the_line(meter, ingest):
    readings = day_readings(DAY)
    changed = [Reading(r.start, r.value + 1) for r in readings[50:]]
    data = build_feed(
        [UsagePointSpec("1", title=meter.meter_number, meter_readings=[MeterReadingSpec([readings[:60], changed])])]
    )
    batch = ingest(data)
    assert batch.status == IngestBatch.Status.REJECTED
    assert batch.rejection_reason.startswith("line ") and "contradicts an earlier reading" in batch.rejection_reason
    assert not MeterDay.objects.exists()


def test_a_later_file_corrects_an_earlier_one_interval_by_interval(meter, ingest):
    readings = day_readings(DAY)
    ingest(one_point(meter.meter_number, readings))
    corrected = [Reading(r.start, r.value + (50 if slot in (10, 11, 12) else 0)) for slot, r in enumerate(readings)]
    batch = ingest(one_point(meter.meter_number, corrected))
    assert (batch.meter_days_changed, batch.corrections) == (1, 3)
    assert sorted(Correction.objects.values_list("slot", "old_value_wh", "new_value_wh")) == [
        (10, 110, 160),
        (11, 111, 161),
        (12, 112, 162),
    ]
    assert stored_total(meter) == sum(r.value for r in readings) + 150
    assert MeterMonth.objects.get(meter=meter).total_wh == stored_total(meter)


# --- envelope tolerance and data strictness ---------------------------------------------------------------


def test_an_older_producers_envelope_loads_with_a_warning_per_deviation(meter, ingest):
    readings = day_readings(DAY)
    data = build_feed(
        [UsagePointSpec("1", title=meter.meter_number, meter_readings=[MeterReadingSpec([readings])])], legacy=True
    )
    data = data.replace(b"<feed ", b"<?producer v1?><!-- exported --><feed ", 1)
    data = data.replace(b'<content type="xml"><UsagePoint', b'<content type="xml"><!-- the meter --><UsagePoint', 1)
    batch = ingest(data)
    assert batch.status == IngestBatch.Status.LOADED and stored_total(meter) == sum(r.value for r in readings)
    text = reasons(batch)
    assert warned(batch, "no type attribute") == 11  # UsagePoint 3 links, MeterReading 4, ReadingType 2, block 2
    assert warned(batch, "entry has no <published> or <updated>") == 4
    assert "processing instruction <?producer?>" in text and warned(batch, "comment ignored") == 2


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda d: d.replace(b"<value>100</value>", b"<value>lots</value>", 1), "not valid against the ESPI schema"),
        (
            lambda d: d.replace(b'1/IntervalBlock" type="espi-feed/IntervalBlock"', b'7/IntervalBlock" type="x"'),
            "matches no MeterReading",
        ),
        (lambda d: d.replace(b"<uom>72</uom>", b"<uom>72</uom><uom>72</uom>", 1), "not valid against the ESPI schema"),
    ],
)
def test_content_that_cannot_be_read_one_way_rejects_the_file_whole_with_line_and_reason(meter, ingest, mangle, reason):
    data = mangle(one_point(meter.meter_number, day_readings(DAY)))
    batch = ingest(data)
    assert batch.status == IngestBatch.Status.REJECTED and reason in batch.rejection_reason
    assert "line " in batch.rejection_reason
    assert not MeterDay.objects.exists()


def test_a_meter_reading_with_two_reading_types_rejects_the_file(meter, ingest):
    data = one_point(meter.meter_number, day_readings(DAY))
    rt = b"https://mdms.example/DataCustodian/espi/1_1/resource/ReadingType/"
    start = data.index(rt)
    href = data[start : data.index(b'"', start)]
    second_type = data[data.rindex(b"<entry>", 0, data.index(b'rel="self" href="' + href)) :]
    second_type = second_type[: second_type.index(b"</entry>") + 8].replace(href, href + b"2")
    data = data.replace(
        b'"espi-feed/related"/><title>Readings',
        b'"espi-feed/related"/><link rel="related" href="' + href + b'2" type="espi-feed/related"/><title>Readings',
        1,
    )
    data = data.replace(b"</feed>", second_type + b"</feed>")
    batch = ingest(data)
    assert batch.status == IngestBatch.Status.REJECTED and "has 2 ReadingType" in batch.rejection_reason


def test_xml_protections_stay(meter, ingest):
    doctype = b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    batch = ingest(doctype + one_point(meter.meter_number, day_readings(DAY)).split(b"?>", 1)[1])
    assert batch.status == IngestBatch.Status.REJECTED and "DOCTYPE" in batch.rejection_reason
    assert not AuditEvent.objects.filter(action="usage.file_ingested").exists()
