from __future__ import annotations

import datetime

import pytest

from accounts.usage.models import IngestBatch, MeterDay, MeterMonth
from members.models import AuditEvent
from tests.usage.conftest import csv_bytes, day_lines

DAY = datetime.date(2026, 10, 14)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"meter,start,value\nMTR-A-0001,2026-10-14T00:00:00-05:00,5\n", "wrong header"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'meter_number,start,duration_s,value_wh,quality,channel\nMTR-A-0001,"unterminated', "not valid CSV"),
    ],
)
def test_a_malformed_csv_file_is_rejected_whole_and_nothing_loads(meter, ingest, data, reason):
    batch = ingest(data)
    assert batch.status == IngestBatch.Status.REJECTED and reason in batch.rejection_reason
    assert not MeterDay.objects.exists() and not MeterMonth.objects.exists()
    assert AuditEvent.objects.filter(action="usage.file_rejected", object_id=str(batch.pk)).exists()


def test_a_file_with_good_rows_then_a_broken_tail_loads_nothing(meter, ingest):
    data = csv_bytes(day_lines(meter.meter_number, DAY)) + b'MTR-A-0001,"2026-10-14\n'
    batch = ingest(data)
    assert batch.status == IngestBatch.Status.REJECTED
    assert not MeterDay.objects.exists()
