"""Writes to meter usage: ingest a file, manage monthly partitions, drop months, rebuild rollups.

Ingest parses in a thread (the slow, CPU-bound part) while this thread loads what is parsed so far,
in rounds, inside one transaction (``pipeline``): the batch row, every meter-day, every correction,
the rollup deltas and the audit row commit together or not at all. A file that is malformed as a
whole (found at its header or half-way through) rolls that transaction back and is recorded as a
rejected batch (with an audit row) and nothing else. Dropping a month removes its partition (a
catalog operation, not a row-by-row delete), the month's rollups and corrections, and leaves an
audit row saying what was destroyed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from dataclasses import dataclass
from datetime import date
from functools import partial

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import Meter
from accounts.usage import loader
from accounts.usage.models import Correction, IngestBatch, MeterMonth, UsagePointMapping
from accounts.usage.parsers import ChunkDone, chosen_format, parse_file
from accounts.usage.pipeline import ParseThread
from accounts.usage.readings import BAD_ROWS_KEPT, METER_SHIFT, MalformedFile, ParsedReadings
from accounts.usage.selectors import usage_point_mapping_index
from accounts.usage.signals import usage_loaded
from accounts.usage.usage_points import UsagePointResolver
from members.actors import Actor, actor_name, signed_in_user
from members.audit import audit_record
from members.worker_pool import paused_gc

logger = logging.getLogger(__name__)

PARTITION_NAME = re.compile(r"^usage_meter_day_(\d{4})(\d{2})$")


def meter_ids_by_number() -> dict[str, int]:
    return dict(Meter.objects.values_list("meter_number", "id"))


def usage_ingest_file(
    *,
    data: bytes,
    source: str,
    filename: str = "",
    file_format: str | None = None,
    actor: Actor = None,
    actor_label: str = "",
    meters: dict[str, int] | None = None,
) -> IngestBatch:
    """Parse, validate and load one CSV or ESPI file. Returns the batch (status loaded or rejected).

    Good rows load even when some rows are bad; every bad row is in ``batch.bad_rows`` (the first
    BAD_ROWS_KEPT) and counted in ``batch.bad_row_count``. ``meters`` (number -> id) may be passed
    by callers that ingest many files in a row. The garbage collector is paused meanwhile
    (``members.worker_pool.paused_gc``: a day file is a few hundred thousand short-lived values).
    """
    with paused_gc():
        return _ingest_file(data, source, filename, file_format, actor, actor_label, meters)


def _ingest_file(
    data: bytes,
    source: str,
    filename: str,
    file_format: str | None,
    actor: Actor,
    actor_label: str,
    meters: dict[str, int] | None,
) -> IngestBatch:
    started = time.perf_counter()
    digest = hashlib.sha256(data).hexdigest()
    reject = partial(
        _record_rejection,
        data_sha256=digest,
        source=source,
        filename=filename,
        file_format=file_format or "",
        actor=actor,
        actor_label=actor_label,
        started=started,
    )
    meters = meter_ids_by_number() if meters is None else meters
    resolver = UsagePointResolver(meters=meters, mappings=usage_point_mapping_index())
    try:
        chosen = chosen_format(data, file_format, filename)
    except MalformedFile as exc:
        return reject(reason=str(exc))
    try:
        with transaction.atomic():
            batch = _new_batch(actor, actor_label, source, filename, digest, chosen, status=IngestBatch.Status.LOADED)
            parsed, stats = _parse_and_load(data, meters, chosen, filename, resolver, batch.pk)
            _fill_batch(batch, parsed, stats, started)
            batch.save(
                update_fields=[
                    "readings_received",
                    "meter_days_inserted",
                    "meter_days_changed",
                    "meter_days_unchanged",
                    "corrections",
                    "bad_row_count",
                    "bad_rows",
                    "warning_count",
                    "warnings",
                    "readings_not_loaded",
                    "not_loaded",
                    "elapsed_ms",
                ]
            )
            audit_record(
                actor=actor,
                actor_label=batch.actor_label,
                action="usage.file_ingested",
                obj=batch,
                detail={
                    # Filename and digest stay on the batch row: the audit guard (rightly) refuses digit runs.
                    "format": parsed.file_format,
                    "readings": parsed.readings,
                    "inserted": stats.inserted,
                    "changed": stats.changed,
                    "corrections": stats.corrections,
                    "bad_rows": parsed.bad_row_count,
                    "warnings": parsed.warning_count,
                    "readings_not_loaded": parsed.readings_not_loaded,
                },
            )
            if stats.inserted or stats.changed:
                meter_ids = sorted({key >> METER_SHIFT for key in parsed.groups})
                usage_loaded.send(sender=IngestBatch, batch_id=batch.pk, meter_ids=meter_ids)
    except _Refused as refused:
        # The transaction above rolled back: the batch row and every round merged before the parse
        # came to the bad part are gone; the rejection is recorded on its own.
        return reject(reason=refused.reason)
    logger.info("usage batch %s loaded: %s readings, %s bad rows", batch.pk, parsed.readings, parsed.bad_row_count)
    return batch


class _Refused(Exception):
    """The file as a whole was refused (a ``MalformedFile`` from choosing its format or parsing it)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _parse_and_load(
    data: bytes,
    meters: dict[str, int],
    file_format: str,
    filename: str,
    resolver: UsagePointResolver,
    batch_id: int,
) -> tuple[ParsedReadings, loader.LoadStats]:
    """A CSV file is parsed in a thread while this one merges each round of finished meter-days
    (``pipeline``); an ESPI file (one round at its end anyway) is parsed here, then merged. All in the
    caller's transaction. ``_Refused`` when the parse finds the file malformed."""

    def parse(on_chunk: ChunkDone | None = None) -> ParsedReadings:
        return parse_file(
            data, meters, file_format=file_format, filename=filename, resolver=resolver, on_chunk=on_chunk
        )

    merge = loader.Merge(batch_id=batch_id)
    try:
        if file_format != "csv":
            parsed = parse()
            merge.round(parsed.groups)
            return parsed, merge.stats
        with ParseThread(parse) as parsing:
            for groups in parsing.rounds():
                merge.round(groups)
    except MalformedFile as exc:
        raise _Refused(str(exc)) from None
    if parsing.parsed is None:
        raise RuntimeError("the parse thread ended without a result")
    return parsing.parsed, merge.stats


def _digits_masked(text: str) -> str:
    """Rejection reasons quote file content; mask digits so nothing identifier-like reaches the audit trail."""
    return re.sub(r"\d", "#", text)


def _fill_batch(batch: IngestBatch, parsed: ParsedReadings, stats: loader.LoadStats, started: float) -> None:
    batch.readings_received = parsed.readings
    batch.meter_days_inserted = stats.inserted
    batch.meter_days_changed = stats.changed
    batch.meter_days_unchanged = stats.unchanged
    batch.corrections = stats.corrections
    batch.bad_row_count = parsed.bad_row_count
    batch.bad_rows = [{"line": line, "reason": reason} for line, reason in sorted(parsed.bad_rows)[:BAD_ROWS_KEPT]]
    batch.warning_count = parsed.warning_count
    batch.warnings = parsed.warning_list()
    batch.readings_not_loaded = parsed.readings_not_loaded
    batch.not_loaded = list(parsed.not_loaded.values())[:BAD_ROWS_KEPT]
    batch.elapsed_ms = int((time.perf_counter() - started) * 1000)


def _new_batch(
    actor: Actor, actor_label: str, source: str, filename: str, sha256: str, file_format: str, **fields
) -> IngestBatch:
    """The batch row, loaded or rejected: who sent which file, in which format."""
    return IngestBatch.objects.create(
        actor=signed_in_user(actor),
        actor_label=actor_label or actor_name(actor),
        source=source,
        filename=filename[:255],
        sha256=sha256,
        file_format=file_format,
        **fields,
    )


def _record_rejection(
    *,
    data_sha256: str,
    source: str,
    filename: str,
    file_format: str,
    actor: Actor,
    actor_label: str,
    reason: str,
    started: float,
) -> IngestBatch:
    with transaction.atomic():
        batch = _new_batch(
            actor,
            actor_label,
            source,
            filename,
            data_sha256,
            file_format,
            status=IngestBatch.Status.REJECTED,
            rejection_reason=reason[:2000],
            elapsed_ms=int((time.perf_counter() - started) * 1000),
        )
        audit_record(
            actor=actor,
            actor_label=batch.actor_label,
            action="usage.file_rejected",
            obj=batch,
            detail={"format": file_format},
            reason=_digits_masked(reason[:500]),
        )
    return batch


# --- partitions -------------------------------------------------------------------------------


def _add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def usage_partitions_ensure(*, months_ahead: int = 3, today: date | None = None) -> list[str]:
    """Create this month's partition and the next ``months_ahead`` (idempotent)."""
    first = (today or timezone.localdate()).replace(day=1)
    with connection.cursor() as cursor:
        names = []
        for offset in range(months_ahead + 1):
            cursor.execute("SELECT usage_create_month_partition(%s)", [_add_months(first, offset)])
            names.append(cursor.fetchone()[0])
    return names


@dataclass(frozen=True)
class Partition:
    name: str
    month: date
    estimated_rows: int
    total_bytes: int


def usage_partitions() -> list[Partition]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, c.reltuples::bigint, pg_total_relation_size(c.oid)
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent = 'usage_meter_day'::regclass
             ORDER BY c.relname
            """
        )
        rows = cursor.fetchall()
    partitions = []
    for name, tuples, size in rows:
        match = PARTITION_NAME.match(name)
        if match:
            partitions.append(Partition(name, date(int(match[1]), int(match[2]), 1), max(tuples, 0), size))
    return partitions


def usage_drop_partitions_before(
    *, month: date, actor: Actor = None, actor_label: str = "", reason: str = ""
) -> list[Partition]:
    """Destroy all interval data for local months before ``month`` (retention). Audited.

    Each month goes with ``DROP TABLE`` of its partition, so the cost does not depend on how many
    readings it holds. The months' rollups and correction records go too (they are usage data).
    """
    cutoff = month.replace(day=1)
    doomed = [partition for partition in usage_partitions() if partition.month < cutoff]
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Dropping a partition needs an exclusive lock on the parent; never queue behind a long read forever.
            cursor.execute("SET LOCAL lock_timeout = '10s'")
            for partition in doomed:
                # Runs as the table's owner: the runtime role may not drop a table (config/db_roles.py).
                cursor.execute("SELECT usage_drop_month_partition(%s)", [partition.name])
        rollups, _ = MeterMonth.objects.filter(month__lt=cutoff).delete()
        corrections, _ = Correction.objects.filter(day__lt=cutoff).delete()
        audit_record(
            actor=actor,
            actor_label=actor_label or actor_name(actor),
            action="usage.partitions_dropped",
            object_type="usage.meterday",
            object_id=f"before-{cutoff.isoformat()}",
            detail={
                "before_month": cutoff.isoformat(),
                "partitions": [p.name for p in doomed],
                "estimated_meter_days": sum(p.estimated_rows for p in doomed),
                "bytes": sum(p.total_bytes for p in doomed),
                "rollup_rows": rollups,
                "correction_rows": corrections,
            },
            reason=reason,
        )
    return doomed


# --- rollups ----------------------------------------------------------------------------------


def usage_rollups_rebuild(*, month: date, meter_ids: list[int] | None = None) -> int:
    """Recompute monthly rollups of ``month`` from the meter-day rows (repair tool; ingest keeps them current)."""
    first = month.replace(day=1)
    following = _add_months(first, 1)
    meter_filter = "AND d.meter_id = ANY(%(meters)s)" if meter_ids is not None else ""
    params = {"first": first, "following": following, "meters": meter_ids}
    with transaction.atomic(), connection.cursor() as cursor:
        if meter_ids is None:
            cursor.execute("DELETE FROM usage_meter_month WHERE month = %(first)s", params)
        else:
            cursor.execute(
                "DELETE FROM usage_meter_month WHERE month = %(first)s AND meter_id = ANY(%(meters)s)", params
            )
        cursor.execute(
            f"""
            INSERT INTO usage_meter_month (meter_id, month, channel, interval_minutes, total_wh, days_with_data,
                                           intervals_estimated, intervals_missing)
            SELECT d.meter_id, %(first)s, d.channel, d.interval_minutes, sum(d.total_wh), count(*),
                   coalesce(sum(length(d.quality) - length(replace(d.quality, 'E', ''))), 0),
                   coalesce(sum(length(d.quality) - length(replace(replace(d.quality, 'M', ''), '-', ''))), 0)
              FROM usage_meter_day d
             WHERE d.day >= %(first)s AND d.day < %(following)s {meter_filter}
             GROUP BY d.meter_id, d.channel, d.interval_minutes
            """,  # noqa: S608  (meter_filter is a fixed string)
            params,
        )
        return cursor.rowcount


# --- the UsagePoint -> meter mapping ------------------------------------------------------------


def _mapping_clean(*, kind: str, value: str, meter_id: int, exclude: int | None = None) -> str:
    """The stripped value, or ValidationError naming the field; nothing is written on error."""
    if kind not in UsagePointMapping.Kind.values:
        raise ValidationError({"kind": f"kind must be one of {', '.join(UsagePointMapping.Kind.values)}"})
    value = (value or "").strip()
    if not value or len(value) > 256:
        raise ValidationError({"value": "give the identifier, 1 to 256 characters"})
    if not Meter.objects.filter(pk=meter_id).exists():
        raise ValidationError({"meter": "no such meter"})
    clash = UsagePointMapping.objects.filter(kind=kind, value__iexact=value)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    if clash.exists():
        raise ValidationError({"value": "this identifier already names a meter; change that mapping instead"})
    return value


def usage_point_mapping_create(
    *, kind: str, value: str, meter_id: int, note: str = "", actor: Actor = None
) -> UsagePointMapping:
    """Say which meter a UsagePoint identifier names. Audited (the identifier itself stays on the row)."""
    with transaction.atomic():
        value = _mapping_clean(kind=kind, value=value, meter_id=meter_id)
        mapping = UsagePointMapping.objects.create(kind=kind, value=value, meter_id=meter_id, note=note[:200])
        audit_record(actor=actor, action="usage.point_mapping_created", obj=mapping, detail={"kind": kind})
    return mapping


def usage_point_mapping_update(
    *, mapping: UsagePointMapping, kind: str, value: str, meter_id: int, note: str = "", actor: Actor = None
) -> UsagePointMapping:
    with transaction.atomic():
        value = _mapping_clean(kind=kind, value=value, meter_id=meter_id, exclude=mapping.pk)
        changed = [
            name
            for name, new in (("kind", kind), ("value", value), ("meter_id", meter_id), ("note", note[:200]))
            if getattr(mapping, name) != new
        ]
        mapping.kind, mapping.value, mapping.meter_id, mapping.note = kind, value, meter_id, note[:200]
        mapping.save()
        audit_record(actor=actor, action="usage.point_mapping_changed", obj=mapping, fields=changed)
    return mapping


def usage_point_mapping_delete(*, mapping: UsagePointMapping, actor: Actor = None) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="usage.point_mapping_deleted", obj=mapping, detail={"kind": mapping.kind})
        mapping.delete()
