"""Bulk-load parsed meter-day groups: COPY into a staging table, then one set-based merge.

Runs inside the caller's transaction (``services.usage_ingest_file``), so a file either loads whole
(good rows) or not at all. Steps:

1. make sure the month partitions the file touches exist;
2. take a transaction-level advisory lock, so two files never merge the same meter-day at once;
3. ``COPY`` the groups into a temporary staging table (psycopg2 ``copy_expert``, text format);
4. find the staged rows that already exist (bounded to the file's day range, so only its
   partitions are probed); for those, merge slot by slot in SQL: a slot the file does not carry
   (quality ``-``) keeps its old value, any other slot takes the new one. Slots whose value or
   quality changed are written to ``usage_correction``; rows that end up identical are not touched
   at all, so re-sending a file changes nothing;
5. ``INSERT`` the staged rows that did not exist;
6. add the difference (new minus old totals, days, estimated and missing counts) to the monthly
   rollup rows, so rollups are maintained incrementally and never rebuilt on a page view.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from django.db import connection

from accounts.usage.readings import DAYCODE_MASK, day_of_daycode, decode_key

INGEST_LOCK_KEY = 4_242_001
_A, _E, _M, _NONE = ord("A"), ord("E"), ord("M"), 0
# COPY text of the values most intervals hold (Wh in a quarter-hour of a home or farm), and of a missing one.
_VALUE_TEXT: dict[int | None, str] = {number: str(number) for number in range(1 << 14)}
_VALUE_TEXT[None] = "NULL"


@dataclass
class LoadStats:
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    corrections: int = 0

    def add(self, other: LoadStats) -> None:
        self.inserted += other.inserted
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.corrections += other.corrections


def ensure_partitions(cursor, months: set[date]) -> None:
    for month in sorted(months):
        cursor.execute("SELECT usage_create_month_partition(%s)", [month])


def staging_buffer(groups: dict[int, list]) -> tuple[io.BytesIO, set[date], date | None, date | None]:
    """The COPY text for the staging table, plus the months and day range it covers."""
    lines = []
    append = lines.append
    days: set[int] = set()
    seen_daycodes = days.add
    for key, (values, flags) in groups.items():
        seen_daycodes((key >> 1) & DAYCODE_MASK)
        # This runs beside the parse, sharing its GIL: most values are looked up as text rather than
        # formatted (a third cheaper than repr of the list, measured), None becomes NULL on the way.
        try:
            text_values = ",".join(map(_VALUE_TEXT.__getitem__, values))
        except KeyError:  # a value past the table
            text_values = ",".join("NULL" if v is None else str(v) for v in values)
        try:
            total = sum(values)
        except TypeError:  # slots without a value (None)
            total = sum(v for v in values if v is not None)
        count = len(flags)
        actual = flags.count(_A)
        if actual == count:
            quality, estimated, missing = "\\N", 0, 0
        else:
            estimated = flags.count(_E)
            missing = flags.count(_M) + flags.count(_NONE)
            quality = flags.replace(b"\x00", b"-").decode("ascii")
        meter_id, day, channel, interval = decode_key(key)
        append(
            f"{meter_id}\t{day.isoformat()}\t{channel}\t{interval}\t{total}\t"
            f"{{{text_values}}}\t{quality}\t{estimated}\t{missing}\n"
        )
    first = last = None
    months: set[date] = set()
    if days:
        day_objects = {day_of_daycode(code) for code in days}
        first, last = min(day_objects), max(day_objects)
        months = {d.replace(day=1) for d in day_objects}
    return io.BytesIO("".join(lines).encode("ascii")), months, first, last


_STAGE_DDL = """
DROP TABLE IF EXISTS usage_stage;
CREATE TEMP TABLE usage_stage (
    meter_id integer NOT NULL, day date NOT NULL, channel smallint NOT NULL, interval_minutes smallint NOT NULL,
    total_wh integer NOT NULL, vals integer[] NOT NULL, quality text,
    estimated integer NOT NULL, missing integer NOT NULL
) ON COMMIT DROP;
"""

_FIND_EXISTING = """
DROP TABLE IF EXISTS usage_hit;
CREATE TEMP TABLE usage_hit ON COMMIT DROP AS
SELECT s.meter_id, s.day, s.channel, s.interval_minutes,
       s.vals AS new_vals, coalesce(s.quality, repeat('A', cardinality(s.vals))) AS new_quality,
       d.vals AS old_vals, coalesce(d.quality, repeat('A', cardinality(d.vals))) AS old_quality,
       d.total_wh AS old_total
  FROM usage_stage s
  JOIN usage_meter_day d
    ON d.meter_id = s.meter_id AND d.day = s.day AND d.channel = s.channel AND d.interval_minutes = s.interval_minutes
 WHERE d.day BETWEEN %(first)s AND %(last)s;
"""

# One row per slot of every existing row the file touches.
_SLOTS = """
DROP TABLE IF EXISTS usage_hit_slot;
CREATE TEMP TABLE usage_hit_slot ON COMMIT DROP AS
SELECT h.meter_id, h.day, h.channel, h.interval_minutes, (u.i - 1)::smallint AS slot,
       u.old_v, u.new_v, substr(h.old_quality, u.i::int, 1) AS old_q, substr(h.new_quality, u.i::int, 1) AS new_q,
       h.old_total
  FROM usage_hit h
  CROSS JOIN LATERAL unnest(h.old_vals, h.new_vals) WITH ORDINALITY AS u(old_v, new_v, i);
"""

_MERGED = """
DROP TABLE IF EXISTS usage_merged;
CREATE TEMP TABLE usage_merged ON COMMIT DROP AS
SELECT meter_id, day, channel, interval_minutes,
       array_agg(CASE WHEN new_q = '-' THEN old_v ELSE new_v END ORDER BY slot) AS vals,
       string_agg(CASE WHEN new_q = '-' THEN old_q ELSE new_q END, '' ORDER BY slot) AS quality,
       coalesce(sum(CASE WHEN new_q = '-' THEN old_v ELSE new_v END), 0)::integer AS total_wh,
       min(old_total) AS old_total,
       count(*) FILTER (WHERE old_q = 'E') AS old_estimated,
       count(*) FILTER (WHERE old_q IN ('M', '-')) AS old_missing,
       count(*) FILTER (WHERE (CASE WHEN new_q = '-' THEN old_q ELSE new_q END) = 'E') AS estimated,
       count(*) FILTER (WHERE (CASE WHEN new_q = '-' THEN old_q ELSE new_q END) IN ('M', '-')) AS missing
  FROM usage_hit_slot
 GROUP BY meter_id, day, channel, interval_minutes
HAVING bool_or(new_q <> '-' AND (old_v IS DISTINCT FROM new_v OR old_q <> new_q));
"""

_RECORD_CORRECTIONS = """
INSERT INTO usage_correction (batch_id, meter_id, day, channel, interval_minutes, slot,
                              old_value_wh, new_value_wh, old_quality, new_quality, recorded_at)
SELECT %(batch)s, meter_id, day, channel, interval_minutes, slot, old_v, new_v, old_q, new_q, now()
  FROM usage_hit_slot
 WHERE new_q <> '-' AND old_q <> '-' AND (old_v IS DISTINCT FROM new_v OR old_q <> new_q);
"""

_APPLY_MERGED = """
UPDATE usage_meter_day d
   SET vals = m.vals, quality = NULLIF(m.quality, repeat('A', length(m.quality))), total_wh = m.total_wh
  FROM usage_merged m
 WHERE d.meter_id = m.meter_id AND d.day = m.day AND d.channel = m.channel AND d.interval_minutes = m.interval_minutes
   AND d.day BETWEEN %(first)s AND %(last)s;
"""

_INSERT_ALL = """
INSERT INTO usage_meter_day (meter_id, day, channel, interval_minutes, total_wh, vals, quality)
SELECT meter_id, day, channel, interval_minutes, total_wh, vals, quality FROM usage_stage;
"""

_INSERT_NEW = """
INSERT INTO usage_meter_day (meter_id, day, channel, interval_minutes, total_wh, vals, quality)
SELECT s.meter_id, s.day, s.channel, s.interval_minutes, s.total_wh, s.vals, s.quality
  FROM usage_stage s
 WHERE NOT EXISTS (SELECT 1 FROM usage_hit h
                    WHERE h.meter_id = s.meter_id AND h.day = s.day AND h.channel = s.channel
                      AND h.interval_minutes = s.interval_minutes);
"""

# Rollup deltas: new rows add themselves; changed rows add (new - old).
_ROLLUP_DELTA = """
INSERT INTO usage_meter_month AS m (meter_id, month, channel, interval_minutes, total_wh, days_with_data,
                                    intervals_estimated, intervals_missing)
SELECT meter_id, date_trunc('month', day)::date, channel, interval_minutes,
       sum(total_wh), sum(days), sum(estimated), sum(missing)
  FROM ({new_rows}
        UNION ALL
        SELECT meter_id, day, channel, interval_minutes, total_wh - old_total, 0,
               estimated - old_estimated, missing - old_missing
          FROM usage_merged) AS delta (meter_id, day, channel, interval_minutes, total_wh, days, estimated, missing)
 GROUP BY 1, 2, 3, 4
ON CONFLICT (meter_id, month, channel, interval_minutes) DO UPDATE
   SET total_wh = m.total_wh + EXCLUDED.total_wh,
       days_with_data = m.days_with_data + EXCLUDED.days_with_data,
       intervals_estimated = m.intervals_estimated + EXCLUDED.intervals_estimated,
       intervals_missing = m.intervals_missing + EXCLUDED.intervals_missing;
"""
_ROLLUP_NEW_ALL = "SELECT meter_id, day, channel, interval_minutes, total_wh, 1, estimated, missing FROM usage_stage"
_ROLLUP_NEW_SOME = (
    "SELECT s.meter_id, s.day, s.channel, s.interval_minutes, s.total_wh, 1, s.estimated, s.missing FROM usage_stage s"
    " WHERE NOT EXISTS (SELECT 1 FROM usage_hit h WHERE h.meter_id = s.meter_id AND h.day = s.day"
    " AND h.channel = s.channel AND h.interval_minutes = s.interval_minutes)"
)


class Merge:
    """One file's merge, in rounds (``pipeline``: each round while the parse of the rest goes on).

    Rounds must hold disjoint groups (no meter-day in two rounds): each row's merge depends only on its
    own staged and stored values, and the rollup deltas add up, so any split gives the same rows,
    corrections, rollups and counts as one round. All rounds run in the caller's one transaction; the
    ingest lock is taken by the first and held to its end.
    """

    def __init__(self, *, batch_id: int):
        self.batch_id = batch_id
        self.stats = LoadStats()
        self.rounds = 0
        self._months: set[date] = set()

    def round(self, groups: dict[int, list]) -> None:
        """Merge ``groups`` (key -> [values, quality]) into usage_meter_day; adds to ``self.stats``."""
        if not groups:
            return
        if not connection.in_atomic_block:
            raise RuntimeError("a merge round must run inside transaction.atomic()")
        buffer, months, first, last = staging_buffer(groups)
        bounds = {"first": first, "last": last, "batch": self.batch_id}
        with connection.cursor() as cursor:
            ensure_partitions(cursor, months - self._months)
            self._months |= months
            if not self.rounds:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [INGEST_LOCK_KEY])
            self.rounds += 1
            cursor.execute(_STAGE_DDL)
            # One read of the whole buffer: psycopg2 takes the GIL for every read (8 kB by default), and
            # while the parse thread runs each of those waits for its turn (up to 5 ms).
            cursor.cursor.copy_expert(
                "COPY usage_stage (meter_id, day, channel, interval_minutes, total_wh, vals, quality, estimated,"
                " missing) FROM STDIN",
                buffer,
                size=max(len(buffer.getbuffer()), 8192),
            )
            cursor.execute("ANALYZE usage_stage")
            cursor.execute(_FIND_EXISTING, bounds)
            cursor.execute("SELECT count(*) FROM usage_hit")
            existing = cursor.fetchone()[0]
            done = _merge_existing(cursor, bounds, existing) if existing else _insert_all(cursor)
            assert done.inserted + existing == len(groups)  # noqa: S101  (the merge accounts for every staged row)
        self.stats.add(done)


def _merge_existing(cursor, bounds: dict, existing: int) -> LoadStats:
    """Some staged rows exist: merge those slot by slot, insert the rest."""
    done = LoadStats()
    cursor.execute(_SLOTS)
    cursor.execute(_MERGED)
    cursor.execute(_RECORD_CORRECTIONS, bounds)
    done.corrections = cursor.rowcount
    cursor.execute(_APPLY_MERGED, bounds)
    done.changed = cursor.rowcount
    done.unchanged = existing - done.changed
    cursor.execute(_INSERT_NEW)
    done.inserted = cursor.rowcount
    cursor.execute(_ROLLUP_DELTA.format(new_rows=_ROLLUP_NEW_SOME))
    return done


def _insert_all(cursor) -> LoadStats:
    """No staged row exists yet: insert them all."""
    cursor.execute(_INSERT_ALL)
    done = LoadStats(inserted=cursor.rowcount)
    cursor.execute("DROP TABLE IF EXISTS usage_merged")
    cursor.execute(
        "CREATE TEMP TABLE usage_merged (meter_id bigint, day date, channel smallint,"
        " interval_minutes smallint, total_wh integer, old_total integer, estimated integer,"
        " old_estimated integer, missing integer, old_missing integer) ON COMMIT DROP"
    )
    cursor.execute(_ROLLUP_DELTA.format(new_rows=_ROLLUP_NEW_ALL))
    return done
