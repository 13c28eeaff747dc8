"""Issue 11 item 8 (usage part): uploads with starts no meter can have (an ESPI start of -9.2e18, year 0,
a CSV 0001-01-01) are a clear 400 naming the line, never a 500, and the rejected batch is recorded."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.usage import timegrid
from accounts.usage.models import IngestBatch, MeterDay
from members import roles
from members.models import AuditEvent
from tests.usage.conftest import csv_bytes, day_lines
from tests.usage.espi import espi_feed

INGEST = "/api/usage/ingest/"
DAY = datetime.date(2026, 10, 14)


def _post(client, data: bytes, name: str):
    return client.post(INGEST, {"file": SimpleUploadedFile(name, data)})


def _good_readings():
    return [
        (int(timegrid.slot_start_utc(DAY, 15, slot).timestamp()), 900, 100, None)
        for slot in range(timegrid.slots_in_day(DAY, 15))
    ]


@pytest.mark.parametrize("start", [-(2**63), -62167219200, -1, 253402300800, 2**63 - 1])
def test_an_espi_start_out_of_range_is_a_400_with_the_line_and_a_rejected_batch(staff_client, meter, start):
    readings = _good_readings()
    readings[5] = (start, 900, 100, None)
    response = _post(staff_client(roles.BILLING), espi_feed(meter.meter_number, readings), "gb.xml")
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["status"] == "rejected" and body["rejection_reason"].startswith("line ")
    assert "outside the range MemberGuard accepts" in body["rejection_reason"]
    batch = IngestBatch.objects.get(pk=body["id"])
    assert batch.status == IngestBatch.Status.REJECTED and batch.file_format == ""
    assert AuditEvent.objects.filter(action="usage.file_rejected", object_id=str(batch.pk)).exists()
    assert not MeterDay.objects.exists()


@pytest.mark.parametrize(
    "start",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+05:00",
        "0001-01-01T00:00:00",
        "0000-01-01T00:00:00Z",
        "1969-12-31T18:00:00-06:00",
        "99999-01-01T00:00:00Z",
    ],
)
def test_a_csv_start_out_of_range_is_a_400_with_the_line_and_a_rejected_batch(staff_client, meter, start):
    lines = day_lines(meter.meter_number, DAY)
    lines[3] = f"{meter.meter_number},{start},900,100,actual,delivered"
    response = _post(staff_client(roles.BILLING), csv_bytes(lines), "reads.csv")
    assert response.status_code == 400, response.content[:300]
    body = response.json()
    assert body["status"] == "rejected" and body["rejection_reason"].startswith("line 5:")
    assert IngestBatch.objects.filter(pk=body["id"], status=IngestBatch.Status.REJECTED).exists()
    assert not MeterDay.objects.exists()


def test_a_start_just_inside_the_range_is_an_ordinary_bad_or_good_row(staff_client, meter):
    lines = day_lines(meter.meter_number, DAY)
    lines.append(f"{meter.meter_number},1990-01-01T06:00:00Z,900,100,actual,delivered")
    response = _post(staff_client(roles.BILLING), csv_bytes(lines), "reads.csv")
    assert response.status_code == 201 and response.json()["bad_row_count"] == 0
