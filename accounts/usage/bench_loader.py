"""A fast loader of synthetic 15-minute readings for benchmarks that need a lot of history (issue 14).

The portal's load test wants members drawn from 10,000 meters with a year of 15-minute data: 3.65
million meter-days (about 1.6 GB with the indexes). Through the real ingest path (CSV text, parse,
validate, COPY, merge, rollup deltas, corrections) that takes hours on a small machine. This loader
**bypasses ingest on purpose**: PostgreSQL generates the rows itself, one ``INSERT ... SELECT`` over
``generate_series`` per month straight into ``usage_meter_day`` (the month's partition ensured first),
then rebuilds that month's ``usage_meter_month`` rollups for the loaded meters. Ingest is measured by
its own benchmarks (``accounts/usage/bench.py``); what the portal benchmark needs is the stored shape
the portal reads, and that is exactly what this writes: one row per meter, local day and channel, an
``integer[]`` of Wh per interval from local midnight (96 values; 92 or 100 on the days the clocks
change), ``total_wh`` their sum, quality NULL (every interval an actual read).

Realistic shapes: a household's day (a base load, a morning peak, a larger evening peak), a season
(more in winter and in high summer, least in spring and autumn), weekends a little higher, a per-meter
size from a hash of its id (0.5 to 1.6 times), and +/-15 % noise per interval (8 variants of each
day): about 15-35 kWh a day.

Idempotent: a month whose last meter already has every day is skipped; a partly loaded month is
completed (``ON CONFLICT DO NOTHING``) and its rollups rebuilt. One transaction per month, so an
interrupted load keeps the months it finished. Bench and demo data only: never run it on production.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction

from accounts.usage.services import usage_rollups_rebuild

# The day shapes, made once per load: for each day length (92, 96 or 100 intervals), each of 20 meter
# sizes, 25 season levels and 8 noise variants, the intervals' Wh and their total (float arithmetic;
# numeric exp() per value would cost milliseconds a row). A meter-day then picks its shape by a join
# instead of computing 96 values: the insert is a copy of arrays, as fast as the disk writes them.
_PROFILES = """
CREATE TEMP TABLE IF NOT EXISTS bench_usage_profile AS
WITH shape AS MATERIALIZED (
    SELECT s, 150 + 170 * exp(-((s / 4.0::float8 - 7.5) ^ 2) / 2.0)
              + 330 * exp(-((s / 4.0::float8 - 19.0) ^ 2) / 5.0) AS wh
      FROM generate_series(0, 99) AS s
)
SELECT n AS slots, size_level, season_level, variant, array_agg(w ORDER BY s) AS vals, sum(w)::int AS total
  FROM (SELECT n, size_level, season_level, variant, s,
               round((0.5 + size_level * 1.1 / 19) * (0.6 + season_level * 0.05) * (0.85 + 0.30 * random())
                     * shape.wh)::int AS w
          FROM unnest(ARRAY[92, 96, 100]) AS n,
               generate_series(0, 19) AS size_level,
               generate_series(0, 24) AS season_level,
               generate_series(0, 7) AS variant,
               shape
         WHERE s < n) AS x
 GROUP BY n, size_level, season_level, variant
"""

# One local day of one meter: the interval count follows the day's length in the co-op's zone (DST);
# the season is more use in winter (peak late January) and in high summer (late July), weekends +12 %.
_INSERT = """
INSERT INTO usage_meter_day (meter_id, day, channel, interval_minutes, total_wh, vals, quality)
SELECT m.id, d.day, 1, 15, p.total, p.vals, NULL
  FROM unnest(%(meters)s::int[]) AS m(id)
 CROSS JOIN (
       SELECT g::date AS day,
              (extract(epoch FROM ((g::date + 1)::timestamp AT TIME ZONE %(tz)s)
                                - (g::date::timestamp AT TIME ZONE %(tz)s)) / 900)::int AS slots,
              least(24, greatest(0, round((
                  (1.0 + 0.35 * cos(2 * pi() * (extract(doy FROM g)::float8 - 20) / 365.0)
                       + 0.45 * greatest(0, cos(2 * pi() * (extract(doy FROM g)::float8 - 205) / 365.0)) ^ 4)
                  * CASE WHEN extract(isodow FROM g) >= 6 THEN 1.12 ELSE 1.0 END - 0.6) / 0.05)))::int AS season_level
         FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS g
       ) AS d
  JOIN bench_usage_profile p
    ON p.slots = d.slots AND p.season_level = d.season_level
   AND p.size_level = abs(hashint4(m.id)) %% 20
   AND p.variant = abs(hashint8(m.id::bigint * 100000 + (d.day - date '2000-01-01'))) %% 8
ON CONFLICT DO NOTHING
"""


def _months(first: date, last: date) -> list[tuple[date, date]]:
    """[(first day, last day)] of each month that [first, last] touches, clipped to it."""
    spans, month = [], first.replace(day=1)
    while month <= last:
        following = (month + timedelta(days=32)).replace(day=1)
        spans.append((max(first, month), min(last, following - timedelta(days=1))))
        month = following
    return spans


def bench_meter_days_load(*, meter_ids: list[int], first_day: date, last_day: date) -> dict[str, float]:
    """Delivered 15-minute readings for ``meter_ids`` over [first_day, last_day], and their rollups.

    Returns {"months_loaded", "months_skipped", "seconds"}. See the module docstring: bench data only.
    """
    started, loaded, skipped = time.perf_counter(), 0, 0
    if not meter_ids:
        return {"months_loaded": 0, "months_skipped": 0, "seconds": 0.0}
    meters = sorted(meter_ids)
    shapes_made = False
    for first, last in _months(first_day, last_day):
        with connection.cursor() as cursor:
            cursor.execute("SELECT usage_create_month_partition(%s)", [first])
            cursor.execute(
                "SELECT count(*) FROM usage_meter_day WHERE meter_id = %s AND day BETWEEN %s AND %s AND channel = 1",
                [meters[-1], first, last],
            )
            if cursor.fetchone()[0] == (last - first).days + 1:
                skipped += 1
                continue
        if not shapes_made:  # only when a month needs loading: a re-run that skips everything is instant
            with connection.cursor() as cursor:
                cursor.execute(_PROFILES)
                cursor.execute("ANALYZE bench_usage_profile")
            shapes_made = True
        with transaction.atomic(), connection.cursor() as cursor:
            params = {"meters": meters, "first": first, "last": last, "tz": settings.TIME_ZONE}
            cursor.execute("SET LOCAL jit = off")  # compiling the plan costs more than it saves here
            cursor.execute(_INSERT, params)
        usage_rollups_rebuild(month=first, meter_ids=meters)
        loaded += 1
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_usage_profile")
        if loaded:
            cursor.execute("ANALYZE usage_meter_day")
            cursor.execute("ANALYZE usage_meter_month")
    return {"months_loaded": loaded, "months_skipped": skipped, "seconds": time.perf_counter() - started}
