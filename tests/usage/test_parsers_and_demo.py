from __future__ import annotations

import datetime

from accounts.usage import parsers
from accounts.usage.demo import seed_usage
from accounts.usage.models import IngestBatch, MeterDay
from members import demo
from tests.factories import MeterFactory
from tests.usage.conftest import csv_bytes, day_lines

DAY = datetime.date(2026, 10, 14)


def test_the_fast_column_path_and_the_row_path_give_the_same_groups(monkeypatch):
    meters = {"MTR-1": 1, "MTR-2": 2}
    lines = day_lines("MTR-1", DAY) + day_lines("MTR-2", DAY) + day_lines("MTR-1", DAY, channel="received")
    fast = parsers.parse_csv(csv_bytes(lines), meters)
    monkeypatch.setattr(parsers, "_fast_chunk", lambda *args: False)
    slow = parsers.parse_csv(csv_bytes(lines), meters)
    assert fast.groups == slow.groups and fast.readings == slow.readings == 288 and not fast.bad_rows


def test_a_quoted_csv_goes_through_the_csv_module_with_the_same_result():
    meters = {"MTR-1": 1}
    lines = day_lines("MTR-1", DAY)
    quoted = [",".join(f'"{field}"' for field in line.split(",")) for line in lines]
    assert parsers.parse_csv(csv_bytes(quoted), meters).groups == parsers.parse_csv(csv_bytes(lines), meters).groups


def test_a_chunk_with_one_bad_row_reports_it_at_its_true_line(monkeypatch):
    monkeypatch.setattr(parsers, "CSV_CHUNK_ROWS", 50)
    monkeypatch.setattr(parsers, "CSV_CHUNK_CHARS", 2000)
    lines = day_lines("MTR-1", DAY)
    lines[70] = lines[70].replace("MTR-1", "MTR-X")
    parsed = parsers.parse_csv(csv_bytes(lines), {"MTR-1": 1})
    assert parsed.bad_rows == [(72, "unknown meter 'MTR-X'")] and parsed.readings == 96


def test_the_usage_demo_step_is_registered_loads_load_shapes_and_is_idempotent(db):
    assert seed_usage in demo.DEMO_STEPS
    solar = MeterFactory(meter_number="DEMO-S-1", has_solar=True)
    MeterFactory(meter_number="DEMO-2")
    message = seed_usage()
    assert "readings" in message
    rows = MeterDay.objects.filter(meter_id=solar.pk)
    assert rows.filter(channel=2).exists() and rows.filter(channel=1).exists()
    days = rows.filter(channel=1).count()
    assert 75 <= days <= 106  # from the first of the month DEMO_DAYS ago, so every billing cycle starts inside
    sample = rows.filter(channel=1).first().vals
    assert max(v or 0 for v in sample) > min(v or 0 for v in sample)  # a daily cycle, not a flat line
    batches = IngestBatch.objects.count()
    assert "up to date" in seed_usage() and IngestBatch.objects.count() == batches


def test_crlf_line_ends_blank_lines_and_a_header_only_file_are_handled():
    meters = {"MTR-1": 1}
    lines = day_lines("MTR-1", DAY)
    plain = parsers.parse_csv(csv_bytes(lines), meters)
    assert parsers.parse_csv(csv_bytes(lines).replace(b"\n", b"\r\n"), meters).groups == plain.groups
    with_blank = parsers.parse_csv(csv_bytes([*lines[:10], "", *lines[10:]]), meters)
    assert with_blank.groups == plain.groups and not with_blank.bad_rows and with_blank.readings == 96
    header_only = parsers.parse_csv(csv_bytes([]), meters)
    assert header_only.readings == 0 and not header_only.groups


def test_a_bad_row_after_a_blank_line_keeps_its_true_line_number():
    lines = day_lines("MTR-1", DAY)[:3]
    parsed = parsers.parse_csv(csv_bytes([lines[0], "", lines[1].replace("MTR-1", "MTR-X"), lines[2]]), {"MTR-1": 1})
    assert parsed.bad_rows == [(4, "unknown meter 'MTR-X'")]
