"""Demo interval data: realistic 15-minute load shapes for the demo meters, loaded through the real ingest path.

Each meter gets a household profile (base load, morning and evening peaks, air conditioning in
summer, electric heat in winter, weekends), solar meters export around midday, a few meters have
gaps (missing intervals) and estimated stretches. Values are a pure function of (meter, interval),
so the step is idempotent: it only generates days after the latest one already stored, and even a
re-run over stored days would change nothing (the loader's merge skips identical rows).
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta

from django.db import connection
from django.utils import timezone

from accounts.models import Meter
from accounts.usage import timegrid
from accounts.usage.bench_loader import bench_meter_days_load
from accounts.usage.parsers import CSV_HEADER
from accounts.usage.services import usage_ingest_file, usage_partitions_ensure

DEMO_DAYS = 75
MAX_DEMO_METERS = 500


def _interval_wh(meter_id: int, has_solar: bool, day: date, hour: float, rng: random.Random) -> tuple[int, int]:
    """(delivered, received) Wh for the quarter-hour starting at local ``hour`` of ``day``."""
    profile = random.Random(meter_id)  # stable per household
    base_w = profile.uniform(150, 450)
    size = profile.uniform(0.7, 1.6)
    season = math.cos(2 * math.pi * (day.timetuple().tm_yday - 200) / 365)  # +1 mid-July, -1 mid-January
    morning = 900 * math.exp(-((hour - 7.5) ** 2) / 1.5)
    evening = 1400 * math.exp(-((hour - 19) ** 2) / 4)
    cooling = max(season, 0) * 2500 * math.exp(-((hour - 16) ** 2) / 10)
    heating = max(-season, 0) * 1800 * (1.2 - 0.4 * math.exp(-((hour - 14) ** 2) / 12))
    weekend = 1.15 if day.weekday() >= 5 and 9 <= hour <= 17 else 1.0
    load_w = (base_w + (morning + evening + cooling + heating) * size) * weekend * rng.uniform(0.8, 1.25)
    solar_w = 0.0
    if has_solar:
        daylight = 12 + 2.5 * season  # hours of daylight
        sunrise, sunset = 12.5 - daylight / 2, 12.5 + daylight / 2
        if sunrise < hour < sunset:
            clouds = random.Random(f"{meter_id}-{day}").uniform(0.3, 1.0)
            solar_w = 5000 * math.sin(math.pi * (hour - sunrise) / daylight) * clouds
    net = load_w - solar_w
    return (int(max(net, 0) / 4), int(max(-net, 0) / 4))


def _demo_file(meters: list[tuple[int, str, bool]], days: list[date]) -> bytes:
    zone = timegrid.local_zone()
    lines = [",".join(CSV_HEADER)]
    for day in days:
        slots = timegrid.slots_in_day(day, 15)
        starts = [timegrid.slot_start_utc(day, 15, slot) for slot in range(slots)]
        for meter_id, number, has_solar in meters:
            rng = random.Random(f"{meter_id}-{day}")
            # A few meters lose a stretch of readings now and then; the MDMS estimates some others.
            gap = range(rng.randrange(slots), slots) if meter_id % 7 == 3 and rng.random() < 0.08 else range(0)
            gap = range(gap.start, min(gap.start + 8, slots)) if gap else gap
            estimated = range(40, 52) if meter_id % 5 == 1 and rng.random() < 0.1 else range(0)
            for slot, start in enumerate(starts):
                local = start.astimezone(zone)
                delivered, received = _interval_wh(meter_id, has_solar, day, local.hour + local.minute / 60, rng)
                text = local.isoformat()
                if slot in gap:
                    lines.append(f"{number},{text},900,,missing,delivered")
                    if has_solar:
                        lines.append(f"{number},{text},900,,missing,received")
                    continue
                quality = "estimated" if slot in estimated else "actual"
                lines.append(f"{number},{text},900,{delivered},{quality},delivered")
                if has_solar:
                    lines.append(f"{number},{text},900,{received},{quality},received")
    return ("\n".join(lines) + "\n").encode()


def seed_usage() -> str:
    """15-minute usage for the demo meters up to yesterday (the longest step)

    A demo step (members.demo.DEMO_STEPS).
    """
    usage_partitions_ensure(months_ahead=3)
    meters = list(
        Meter.objects.exclude(meter_number__startswith="BENCH-")
        .order_by("pk")
        .values_list("pk", "meter_number", "has_solar")[:MAX_DEMO_METERS]
    )
    if not meters:
        return "usage demo data: no meters yet"
    yesterday = timezone.localdate() - timedelta(days=1)
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(day) FROM usage_meter_day WHERE meter_id = ANY(%s)", [[m[0] for m in meters]])
        latest = cursor.fetchone()[0]
    # From the first of a month, so every billing cycle (accounts/usage/demo_bills.py) starts inside the
    # readings: a bill the readings cover in full is billed for exactly their total.
    first = (latest + timedelta(days=1)) if latest else (yesterday - timedelta(days=DEMO_DAYS - 1)).replace(day=1)
    days = [first + timedelta(days=offset) for offset in range((yesterday - first).days + 1)]
    if not days:
        return "usage demo data: already up to date"
    batch = usage_ingest_file(
        data=_demo_file(meters, days), source="demo", filename=f"demo-{first}-{yesterday}.csv", actor_label="demo"
    )
    return (
        f"usage demo data: {batch.readings_received} readings for {len(meters)} meters, {len(days)} days"
        f" ({batch.meter_days_inserted} meter-days, {batch.bad_row_count} bad rows)"
    )


def _a_year_before(day: date) -> date:
    return day.replace(year=day.year - 1, day=min(day.day, 28) if day.month == 2 else day.day)


def seed_usage_last_year() -> str:
    """Last year's usage for the demo meters (the usage page's "same period last year")

    A demo step, after the bills. The demo readings cover the last DEMO_DAYS days; the usage page sets
    each period beside the same period a year earlier, which showed "no readings" in the demo. This
    step fills the same days a year earlier (from the first of that month) with the usage store's fast
    bench loader (accounts/usage/bench_loader.py: PostgreSQL generates the rows, no ingest, seconds not
    minutes; delivered energy only). Idempotent: the loader skips months already complete, and a
    later run extends last year as the demo's own readings grow.
    """
    meters = list(
        Meter.objects.exclude(meter_number__startswith="BENCH-")
        .order_by("pk")
        .values_list("pk", flat=True)[:MAX_DEMO_METERS]
    )
    if not meters:
        return "last year's usage: no meters yet"
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(day) FROM usage_meter_day WHERE meter_id = ANY(%s)", [meters])
        last = cursor.fetchone()[0]
        if last is None:
            return "last year's usage: no demo readings to compare with yet"
        # The readings of the last year (the demo's own, which grow by a day each day it is run) ...
        cursor.execute(
            "SELECT min(day) FROM usage_meter_day WHERE meter_id = ANY(%s) AND day > %s",
            [meters, _a_year_before(last)],
        )
        first = cursor.fetchone()[0]
    # ... and the same days a year earlier, from the first of that month; months already there are skipped.
    year_before_last = _a_year_before(last)
    first = _a_year_before(first).replace(day=1)
    loaded = bench_meter_days_load(meter_ids=meters, first_day=first, last_day=year_before_last)
    if not loaded["months_loaded"]:
        return "last year's usage: already loaded"
    return (
        f"last year's usage: {first} to {year_before_last} for {len(meters)} meters"
        f" ({loaded['months_loaded']} months loaded, {loaded['months_skipped']} already there)"
    )
