"""Usage benchmarks (issue 4): ingest throughput against a bare COPY, bytes per meter-day, account
reads, and dropping a month.

Builds its own meters (``BENCH-`` numbers, one premise each) and one member with accounts on a
sample of them, loads 90 days (quick: 7) of 15-minute readings as one CSV file per day (the shape
an MDMS sends), then removes everything it made. The data lives in 2001, a year no real
interval data can be from, so the month it drops is never anyone's.

Side by side, per day file: the full ingest path (``usage_ingest_file``: parse, validate, group,
COPY, merge, rollups, audit, commit) and a bare ``COPY ... FORMAT csv`` of the same bytes into an
unindexed table with one row per reading. Their ratio is ``usage.ingest_vs_raw_copy_ratio``.
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction

from accounts.models import Account, Meter, Premise
from accounts.usage import selectors, timegrid
from accounts.usage.espi import render_espi
from accounts.usage.models import Correction, IngestBatch, MeterMonth
from accounts.usage.parsers import CSV_HEADER
from accounts.usage.services import (
    meter_ids_by_number,
    usage_drop_partitions_before,
    usage_ingest_file,
    usage_partitions,
)
from members.models import Member

FIRST_DAY = date(2001, 6, 1)
PREFIX = "BENCH-"


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _day_file(day: date, meters: list[tuple[str, bool]], rng: random.Random) -> bytes:
    zone = timegrid.local_zone()
    slots = timegrid.slots_in_day(day, 15)
    starts = [timegrid.slot_start_utc(day, 15, slot).astimezone(zone).isoformat() for slot in range(slots)]
    # A daily load shape, scaled per meter and day; solar meters also export around noon.
    shape = [
        60 + int(140 * max(0.0, 1 - abs(slot - 76) / 24)) + int(80 * max(0.0, 1 - abs(slot - 30) / 10))
        for slot in range(slots)
    ]
    solar = [int(300 * max(0.0, 1 - abs(slot - 52) / 18)) for slot in range(slots)]
    parts = [",".join(CSV_HEADER) + "\n"]
    for number, has_solar in meters:
        scale = rng.uniform(0.5, 2.0)
        parts.append(
            "".join(
                f"{number},{start},900,{int(value * scale)},actual,delivered\n"
                for start, value in zip(starts, shape, strict=True)
            )
        )
        if has_solar:
            parts.append(
                "".join(
                    f"{number},{start},900,{value},actual,received\n"
                    for start, value in zip(starts, solar, strict=True)
                )
            )
    return "".join(parts).encode()


def _create_fixtures(count: int, sample: int):
    with transaction.atomic():
        premises = Premise.objects.bulk_create(
            Premise(
                premise_number=f"BP{index:08d}",
                service_line1=f"{index} Bench Rd",
                service_city="Benchville",
                service_state="IL",
                service_postal_code="62700",
            )
            for index in range(count)
        )
        meters = Meter.objects.bulk_create(
            Meter(meter_number=f"{PREFIX}{index:07d}", premise=premise, has_solar=index % 10 == 0)
            for index, premise in enumerate(premises)
        )
        member = Member.objects.create(member_number="BENCH-MEMBER", legal_name="Bench Member", status="active")
        opened = datetime(2000, 1, 1, tzinfo=UTC)
        accounts = Account.objects.bulk_create(
            Account(
                account_number=f"BA{index:08d}",
                member=member,
                premise=premises[index * (count // sample)],
                status="open",
                opened_at=opened,
            )
            for index in range(sample)
        )
    return meters, accounts


def _cleanup() -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        for partition in usage_partitions():
            if partition.month.year == FIRST_DAY.year:
                cursor.execute(f'DROP TABLE "{partition.name}"')  # noqa: S608  (our own partition names)
        cursor.execute("DROP TABLE IF EXISTS usage_bench_raw")
        bench_meters = Meter.objects.filter(meter_number__startswith=PREFIX)
        MeterMonth.objects.filter(meter__in=bench_meters).delete()
        Correction.objects.filter(meter__in=bench_meters).delete()
        IngestBatch.objects.filter(source="bench").delete()
        Account.objects.filter(account_number__startswith="BA", member__member_number="BENCH-MEMBER").delete()
        Member.objects.filter(member_number="BENCH-MEMBER").delete()
        premise_ids = list(bench_meters.values_list("premise_id", flat=True))
        bench_meters.delete()
        Premise.objects.filter(pk__in=premise_ids).delete()


def bench_usage(quick: bool = False) -> dict[str, float]:
    meter_count, days = (500, 7) if quick else (10_000, 90)
    # Knobs for profiling at other scales; the recorded numbers use the defaults above.
    meter_count = int(os.environ.get("USAGE_BENCH_METERS", meter_count))
    days = int(os.environ.get("USAGE_BENCH_DAYS", days))
    rng = random.Random(4)
    _cleanup()
    meters, accounts = _create_fixtures(meter_count, 20 if quick else 200)
    try:
        meter_info = [(meter.meter_number, meter.has_solar) for meter in meters]
        lookup = meter_ids_by_number()
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE usage_bench_raw (meter_number text, start timestamptz, duration_s integer,"
                " value_wh integer, quality text, channel text)"
            )
        ingest_seconds = raw_seconds = 0.0
        readings = 0
        for offset in range(days):
            day = FIRST_DAY + timedelta(days=offset)
            data = _day_file(day, meter_info, rng)
            started = time.perf_counter()
            batch = usage_ingest_file(data=data, source="bench", filename=f"bench-{day}.csv", meters=lookup)
            ingest_seconds += time.perf_counter() - started
            if batch.status != "loaded" or batch.bad_row_count:
                raise RuntimeError(
                    f"bench file rejected or had bad rows: {batch.rejection_reason or batch.bad_rows[:3]}"
                )
            readings += batch.readings_received
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.cursor.copy_expert(
                    "COPY usage_bench_raw FROM STDIN WITH (FORMAT csv, HEADER true)", _Reader(data)
                )
            raw_seconds += time.perf_counter() - started
        results = {
            "usage.ingest_readings_per_s": readings / ingest_seconds,
            "usage.raw_copy_readings_per_s": readings / raw_seconds,
            "usage.ingest_vs_raw_copy_ratio": raw_seconds / ingest_seconds,
            "usage.bench_readings": float(readings),
        }
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE usage_bench_raw")
            cursor.execute("VACUUM ANALYZE usage_meter_month")
            sizes = 0
            for partition in _bench_partitions():
                cursor.execute(f'VACUUM ANALYZE "{partition}"')  # noqa: S608  (our own partition names)
                cursor.execute("SELECT pg_total_relation_size(%s)", [partition])
                sizes += cursor.fetchone()[0]
            cursor.execute("SELECT pg_total_relation_size('usage_meter_month')")
            sizes += cursor.fetchone()[0]
            cursor.execute(
                "SELECT count(*) FROM usage_meter_day WHERE day >= %s AND day < %s",
                [FIRST_DAY, FIRST_DAY + timedelta(days=days)],
            )
            rows = cursor.fetchone()[0]
        results["usage.bytes_per_meter_day"] = sizes / (meter_count * days)
        results["usage.bytes_per_stored_row"] = sizes / rows
        if os.environ.get("USAGE_BENCH_SIZES"):
            with connection.cursor() as cursor:
                for partition in _bench_partitions():
                    cursor.execute(
                        "SELECT pg_relation_size(%s), pg_indexes_size(%s), (SELECT count(*) FROM " + partition + ")",  # noqa: S608
                        [partition, partition],
                    )
                    heap, index, count = cursor.fetchone()
                    print(partition, "heap/row", heap / max(count, 1), "index/row", index / max(count, 1), count)  # noqa: T201

        month_ms, year_ms = [], []
        for _ in range(3 if quick else 5):
            for account in accounts:
                started = time.perf_counter()
                selectors.usage_for_account(account=account, period="month", day=date(2001, 7, 1))
                month_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                selectors.usage_for_account(account=account, period="year", day=date(2001, 1, 1))
                year_ms.append((time.perf_counter() - started) * 1000)
        results["usage.account_month_ms_p95"] = _p95(month_ms)
        results["usage.account_year_daily_ms_p95"] = _p95(year_ms)

        started = time.perf_counter()
        dropped = usage_drop_partitions_before(month=date(2001, 7, 1), actor_label="bench", reason="benchmark")
        results["usage.drop_month_partition_s"] = time.perf_counter() - started
        if [p.month for p in dropped] != [date(2001, 6, 1)]:
            raise RuntimeError(f"bench dropped unexpected partitions: {[p.name for p in dropped]}")
        results["usage.dropped_month_meter_days"] = float(sum(p.estimated_rows for p in dropped))
        return results
    finally:
        _cleanup()


def _bench_partitions() -> list[str]:
    return [p.name for p in usage_partitions() if p.month.year == FIRST_DAY.year]


class _Reader:
    """A file-like view of bytes for copy_expert without copying them into a BytesIO first."""

    def __init__(self, data: bytes):
        self.view = memoryview(data)
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.view) if size is None or size < 0 else self.position + size
        chunk = self.view[self.position : end].tobytes()
        self.position += len(chunk)
        return chunk


def _day_values(day: date, meters: list[tuple[str, bool]], rng: random.Random) -> list[tuple[str, str, list[int]]]:
    """(meter number, channel, the day's 15-minute values) for every meter, the same shape as ``_day_file``."""
    slots = timegrid.slots_in_day(day, 15)
    shape = [
        60 + int(140 * max(0.0, 1 - abs(slot - 76) / 24)) + int(80 * max(0.0, 1 - abs(slot - 30) / 10))
        for slot in range(slots)
    ]
    solar = [int(300 * max(0.0, 1 - abs(slot - 52) / 18)) for slot in range(slots)]
    rows = []
    for number, has_solar in meters:
        scale = rng.uniform(0.5, 2.0)
        rows.append((number, "delivered", [int(value * scale) for value in shape]))
        if has_solar:
            rows.append((number, "received", solar))
    return rows


def _values_as_csv(day: date, rows: list[tuple[str, str, list[int]]]) -> bytes:
    zone = timegrid.local_zone()
    starts = [timegrid.slot_start_utc(day, 15, slot).astimezone(zone).isoformat() for slot in range(len(rows[0][2]))]
    parts = [",".join(CSV_HEADER) + "\n"]
    for number, channel, values in rows:
        parts.append(
            "".join(
                f"{number},{start},900,{value},actual,{channel}\n" for start, value in zip(starts, values, strict=True)
            )
        )
    return "".join(parts).encode()


def _values_as_espi(day: date, rows: list[tuple[str, str, list[int]]]) -> bytes:
    """The same readings as a Green Button feed written by MemberGuard's own writer: one UsagePoint per meter
    and channel, titled with the meter number (so no mapping is needed)."""
    starts = [timegrid.slot_start_utc(day, 15, slot) for slot in range(len(rows[0][2]))]
    points = (
        {
            "key": f"{number}-{channel}",
            "title": number,
            "channel": channel,
            "readings": [(start, 900, value, None, channel) for start, value in zip(starts, values, strict=True)],
        }
        for number, channel, values in rows
    )
    return b"".join(render_espi(points, base_url="https://bench.example", now=datetime(2001, 7, 1, tzinfo=UTC)))


def _timed_ingest(data: bytes, name: str, lookup: dict[str, int]) -> tuple[float, float, int]:
    """(wall seconds, this process's CPU seconds, readings): the CPU figure leaves out PostgreSQL's own work
    and the time spent waiting for a core, so it reads the same on a busy machine."""
    started, cpu = time.perf_counter(), time.process_time()
    batch = usage_ingest_file(data=data, source="bench", filename=name, meters=lookup)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if batch.status != "loaded" or batch.bad_row_count or batch.readings_not_loaded:
        raise RuntimeError(f"bench file {name} not loaded whole: {batch.rejection_reason or batch.bad_rows[:3]}")
    return elapsed, cpu, batch.readings_received


def bench_usage_espi(quick: bool = False) -> dict[str, float]:
    """Issue 19: a 10,000-meter day (10 % solar) as Green Button XML, against the same readings as CSV.

    Both files are ingested whole through ``usage_ingest_file`` into two empty days, so both take the
    insert path; the ratio is ESPI readings per second over CSV readings per second.
    """
    meter_count = int(os.environ.get("USAGE_BENCH_METERS", 1_000 if quick else 10_000))
    rng = random.Random(19)
    _cleanup()
    meters, _accounts = _create_fixtures(meter_count, 1)
    try:
        meter_info = [(meter.meter_number, meter.has_solar) for meter in meters]
        lookup = meter_ids_by_number()
        rows = _day_values(FIRST_DAY, meter_info, rng)
        espi = _values_as_espi(FIRST_DAY, rows)
        csv_data = _values_as_csv(FIRST_DAY + timedelta(days=1), rows)
        load = os.getloadavg()[0]
        espi_seconds, espi_cpu, espi_readings = _timed_ingest(espi, "bench-day.xml", lookup)
        csv_seconds, csv_cpu, csv_readings = _timed_ingest(csv_data, "bench-day.csv", lookup)
        if espi_readings != csv_readings:
            raise RuntimeError(f"ESPI and CSV files differ: {espi_readings} vs {csv_readings} readings")
        return {
            "usage.espi_ingest_readings_per_s": espi_readings / espi_seconds,
            "usage.espi_vs_csv_ingest_ratio": csv_seconds / espi_seconds,
            "usage.espi_ingest_cpu_readings_per_s": espi_readings / espi_cpu,
            "usage.csv_ingest_cpu_readings_per_s": csv_readings / csv_cpu,
            "usage.espi_bench_readings": float(espi_readings),
            "usage.espi_bench_megabytes": len(espi) / 1e6,
            "usage.espi_bench_load_avg_1m": load,
        }
    finally:
        _cleanup()


BENCHMARKS = [bench_usage, bench_usage_espi]
