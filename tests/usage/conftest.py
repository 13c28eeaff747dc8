"""Fixtures for the usage tests: meters, accounts and small reading files built in memory."""

from __future__ import annotations

import datetime

import pytest

from accounts.usage import timegrid
from accounts.usage.parsers import CSV_HEADER

OPENED = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)


def csv_bytes(lines: list[str], header: list[str] = CSV_HEADER) -> bytes:
    return ("\n".join([",".join(header), *lines]) + "\n").encode()


def day_lines(
    meter_number: str,
    day: datetime.date,
    values=None,
    *,
    channel: str = "delivered",
    quality: str = "actual",
    minutes: int = 15,
    style: str = "offset",
) -> list[str]:
    """One CSV line per interval of the local day; ``style`` offset (local time with offset) or utc (Z)."""
    slots = timegrid.slots_in_day(day, minutes)
    values = list(range(100, 100 + slots)) if values is None else values
    lines = []
    for slot, value in enumerate(values):
        start = timegrid.slot_start_utc(day, minutes, slot)
        text = (
            start.astimezone(timegrid.local_zone()).isoformat()
            if style == "offset"
            else start.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
        lines.append(f"{meter_number},{text},{minutes * 60},{value},{quality},{channel}")
    return lines


@pytest.fixture
def meter(db):
    from tests.factories import MeterFactory

    return MeterFactory(meter_number="MTR-A-0001")


@pytest.fixture
def solar_meter(db):
    from tests.factories import MeterFactory

    return MeterFactory(meter_number="MTR-S-0002", has_solar=True)


@pytest.fixture
def account(meter):
    from tests.factories import OpenAccountFactory

    return OpenAccountFactory(premise=meter.premise, opened_at=OPENED)


@pytest.fixture
def ingest(db):
    from accounts.usage.services import usage_ingest_file

    def _ingest(data: bytes, **kwargs):
        kwargs.setdefault("source", "test")
        kwargs.setdefault("filename", "test.csv")
        return usage_ingest_file(data=data, **kwargs)

    return _ingest
