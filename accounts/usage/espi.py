"""Green Button (NAESB ESPI 3.3): the format's vocabulary, the one copy of its schemas, the reader and
the writer.

Meter usage arrives as ESPI from the MDMS (``espi_read.parse_espi``, called by ``parsers.parse_file``) and leaves
as ESPI: the member's own "Download My Data" (``api.AccountGreenButtonApi``) and the disclosures
export, which renders through ``render_espi`` (``disclosures.rendering`` re-exports it). Keeping the
writer here lets the usage app stay below disclosures: nothing here knows who receives a file or
records a release; the disclosures app decides that and logs it.

Reading (``espi_read``, with ``espi_envelope`` and ``espi_types``): tolerant of the Atom envelope
older producers write, strict about the data, validated against the schema below before anything is
read; docs/usage.md says which is which.
Writing streams: ``render_espi`` takes an iterator of readings and yields one IntervalBlock per UTC
day, so a year of 15-minute data is never held in memory. ``schemas/`` holds the project's only copy
of the ESPI, Atom and xml: schemas (see ``schemas/NOTICE``); every validation, in the reader and in
the tests of both apps, loads them through ``espi_schema``.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from itertools import groupby
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from lxml import etree

from accounts.usage.models import QUALITY_ACTUAL, QUALITY_EDITED, QUALITY_ESTIMATED, QUALITY_MISSING

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
ATOM_NS = "http://www.w3.org/2005/Atom"
ESPI_NS = "http://naesb.org/espi"

# ReadingType vocabulary both ways. flowDirection: 1 forward (delivered), 19 reverse (received).
FLOW_DELIVERED, FLOW_RECEIVED = 1, 19
UOM_WH = 72

# QualityOfReading codes read -> our quality. 7 = manually edited; 8, 9 = estimated from history or by
# interpolation; 11 = derived, 12 = projected (computed, not measured). Everything else (valid,
# validated, raw, verified, revenue quality ...) counts as an actual read.
QUALITY_FROM_ESPI = {
    "7": ord(QUALITY_EDITED),
    "8": ord(QUALITY_ESTIMATED),
    "9": ord(QUALITY_ESTIMATED),
    "11": ord(QUALITY_ESTIMATED),
    "12": ord(QUALITY_ESTIMATED),
}

# Our quality (the stored character or its name) -> QualityOfReading written; 16 (other) if unknown.
QUALITY_TO_ESPI = {
    QUALITY_ACTUAL: 0,
    "actual": 0,
    "valid": 0,
    QUALITY_ESTIMATED: 8,
    "estimated": 8,
    QUALITY_EDITED: 7,
    "edited": 7,
    QUALITY_MISSING: 10,
    "missing": 10,
}
QUALITY_OTHER = 16
_MISSING = ord(QUALITY_MISSING)


@lru_cache(maxsize=1)
def espi_schema() -> etree.XMLSchema:
    """The ESPI usage schema (it imports Atom, which imports xml:), parsed once per process."""
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "usage.xsd")))


def espi_validate(document: bytes) -> list[str]:
    """Schema errors of a Green Button document (empty when valid)."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    tree = etree.fromstring(document, parser)  # entities and network off
    schema = espi_schema()
    if schema.validate(tree):
        return []
    return [f"line {error.line}: {error.message}" for error in schema.error_log]


# Element paths in lxml's {namespace}tag spelling (the reader is accounts/usage/espi_read.py).
ATOM = f"{{{ATOM_NS}}}"
ESPI = f"{{{ESPI_NS}}}"


# --- Writing ---------------------------------------------------------------------------------------


def _ts(value: datetime) -> int:
    return int(value.timestamp())


def _atom_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(
    *,
    entry_id: str,
    self_href: str,
    up_href: str,
    kind: str,
    title: str,
    content: str,
    now: str,
    related: Iterable[str] = (),
) -> str:
    links = [
        f'<link rel="self" href={quoteattr(self_href)} type="espi-entry/{kind}"/>',
        f'<link rel="up" href={quoteattr(up_href)} type="espi-feed/{kind}"/>',
        *(f'<link rel="related" href={quoteattr(href)} type="espi-feed/related"/>' for href in related),
    ]
    return (
        f"<entry><id>urn:uuid:{entry_id}</id>{''.join(links)}<title>{escape(title)}</title>"
        f'<content type="xml">{content}</content><published>{now}</published><updated>{now}</updated></entry>'
    )


ENTRY_KINDS = frozenset({"UsagePoint", "MeterReading", "ReadingType", "IntervalBlock", "LocalTimeParameters"})


@dataclass(frozen=True)
class EspiView:
    """Which part of the feed an ESPI resource request gets (Green Button Connect My Data, connect/).

    ``subscription``: the Subscription id the resource URLs carry; ``kinds``: the entry kinds included;
    ``usage_point`` / ``interval_block``: only that usage point (its key) / that day's block
    (``YYYYMMDD``); ``self_href``: the feed's own URL; ``single``: answer with the one ``<entry>``
    as the document (a resource asked for by id) instead of a feed.
    """

    subscription: str
    self_href: str
    kinds: frozenset[str] = ENTRY_KINDS
    usage_point: str | None = None
    interval_block: str | None = None
    single: bool = False


# The co-op's local time as ESPI LocalTimeParameters: US Central, DST from the second Sunday of March to
# the first Sunday of November at 02:00 (the rule encoding of ESPI's own samples for North America).
LOCAL_TIME_PARAMETERS = (
    "<espi:LocalTimeParameters><espi:dstEndRule>B40E2000</espi:dstEndRule><espi:dstOffset>3600</espi:dstOffset>"
    "<espi:dstStartRule>360E2000</espi:dstStartRule><espi:tzOffset>-21600</espi:tzOffset></espi:LocalTimeParameters>"
)


def local_time_parameters_entry(*, base_url: str, now: datetime) -> str:
    href = f"{base_url}/espi/1_1/resource/LocalTimeParameters/1"
    return _entry(
        entry_id=str(uuid.uuid5(uuid.NAMESPACE_URL, href)),
        self_href=href,
        up_href=f"{base_url}/espi/1_1/resource/LocalTimeParameters",
        kind="LocalTimeParameters",
        title="Co-op local time (US Central)",
        now=_atom_time(now),
        content=LOCAL_TIME_PARAMETERS,
    )


def render_espi(
    usage_points: Iterable[dict], *, base_url: str, now: datetime, view: EspiView | None = None
) -> Generator[bytes, None, None]:
    """An Atom feed of UsagePoint, ReadingType, MeterReading and IntervalBlock entries.

    ``usage_points``: dicts with ``key`` (an opaque stable string, e.g. "acct-42-ch1"), ``title``,
    ``channel`` ("delivered" / "received"), ``readings`` (an iterator of
    ``(start_utc, duration_s, value_wh, quality, channel)`` in time order). Readings are grouped into
    one IntervalBlock per UTC day, so a year of 15-minute data streams in ~365 small chunks.
    With a ``view`` (an ESPI resource request) the URLs follow the Subscription and only the entries
    the view asks for are written.
    """
    stamp = _atom_time(now)
    feed_id = uuid.uuid4()
    kinds = view.kinds if view is not None else ENTRY_KINDS - {"LocalTimeParameters"}
    if view is not None and view.single:
        yield b'<?xml version="1.0" encoding="UTF-8"?>\n'
    else:
        self_href = quoteattr(view.self_href if view else base_url + "/espi/1_1/resource/Batch/Subscription")
        yield (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<feed xmlns="{ATOM_NS}" xmlns:espi="{ESPI_NS}">'
            f"<id>urn:uuid:{feed_id}</id><title>Green Button usage export</title><updated>{stamp}</updated>"
            f'<link rel="self" href={self_href} type="espi-feed/Batch"/>'
        ).encode()
    wrap = _SingleEntry(view is not None and view.single)
    if "LocalTimeParameters" in kinds:
        yield wrap(local_time_parameters_entry(base_url=base_url, now=now).encode())
    for point in usage_points:
        if view is not None and view.usage_point is not None and point["key"] != view.usage_point:
            continue
        yield from _usage_point_entries(
            point, base_url=base_url, view=view, kinds=kinds, stamp=stamp, feed_id=feed_id, wrap=wrap
        )
    if view is None or not view.single:
        yield b"</feed>\n"


def _usage_point_entries(
    point: dict, *, base_url: str, view: EspiView | None, kinds: frozenset[str], stamp: str, feed_id, wrap
) -> Generator[bytes, None, None]:
    """One usage point's UsagePoint, MeterReading, ReadingType and IntervalBlock entries (those asked for)."""
    key = point["key"]
    if view is not None:
        up = f"{base_url}/espi/1_1/resource/Subscription/{view.subscription}/UsagePoint"
        up_self = f"{up}/{key}"
    else:
        up = f"{base_url}/espi/1_1/resource/Subscription/{key}/UsagePoint"
        up_self = f"{up}/1"
    reading_type_href = f"{base_url}/espi/1_1/resource/ReadingType/{key}"
    meter_reading_href = f"{up_self}/MeterReading/1"
    blocks_href = f"{meter_reading_href}/IntervalBlock"
    flow = FLOW_RECEIVED if point.get("channel") in (2, "received") else FLOW_DELIVERED
    if "UsagePoint" in kinds:
        yield wrap(
            _entry(
                entry_id=str(uuid.uuid5(feed_id, key + "/up")),
                self_href=up_self,
                up_href=up,
                kind="UsagePoint",
                title=point.get("title", "Usage point"),
                now=stamp,
                related=[f"{up_self}/MeterReading"],
                content=(
                    "<espi:UsagePoint><espi:ServiceCategory><espi:kind>0</espi:kind></espi:ServiceCategory>"
                    "</espi:UsagePoint>"
                ),
            ).encode()
        )
    if "MeterReading" in kinds:
        yield wrap(
            _entry(
                entry_id=str(uuid.uuid5(feed_id, key + "/mr")),
                self_href=meter_reading_href,
                up_href=f"{up_self}/MeterReading",
                kind="MeterReading",
                title="Interval readings",
                now=stamp,
                related=[blocks_href, reading_type_href],
                content="<espi:MeterReading/>",
            ).encode()
        )
    if "ReadingType" in kinds:
        yield wrap(
            _entry(
                entry_id=str(uuid.uuid5(feed_id, key + "/rt")),
                self_href=reading_type_href,
                up_href=f"{base_url}/espi/1_1/resource/ReadingType",
                kind="ReadingType",
                title="Energy delivered (Wh)" if flow == FLOW_DELIVERED else "Energy received (Wh)",
                now=stamp,
                content=(
                    "<espi:ReadingType><espi:accumulationBehaviour>4</espi:accumulationBehaviour>"
                    "<espi:commodity>1</espi:commodity><espi:dataQualifier>12</espi:dataQualifier>"
                    f"<espi:flowDirection>{flow}</espi:flowDirection><espi:kind>12</espi:kind>"
                    "<espi:phase>769</espi:phase><espi:powerOfTenMultiplier>0</espi:powerOfTenMultiplier>"
                    f"<espi:timeAttribute>0</espi:timeAttribute><espi:uom>{UOM_WH}</espi:uom></espi:ReadingType>"
                ),
            ).encode()
        )
    if "IntervalBlock" not in kinds:
        return
    for number, (day, readings) in enumerate(groupby(point["readings"], _utc_day), start=1):
        block_id = f"{day:%Y%m%d}" if view is not None else str(number)
        if view is not None and view.interval_block is not None and block_id != view.interval_block:
            continue
        yield wrap(
            _interval_block(
                entry_id=str(uuid.uuid5(feed_id, f"{key}/ib/{block_id}")),
                self_href=f"{blocks_href}/{block_id}",
                up_href=blocks_href,
                reading_type_href=reading_type_href,
                now=stamp,
                day=day,
                readings=readings,
            )
        )


class _SingleEntry:
    """A resource asked for by id is one ``<entry>`` document: the first entry gets the namespaces, and
    only one is written."""

    def __init__(self, single: bool) -> None:
        self.single = single
        self.written = 0

    def __call__(self, chunk: bytes) -> bytes:
        if not self.single:
            return chunk
        self.written += 1
        if self.written > 1:
            return b""
        return chunk.replace(b"<entry>", f'<entry xmlns="{ATOM_NS}" xmlns:espi="{ESPI_NS}">'.encode(), 1)


def _utc_day(reading: tuple) -> date:
    return reading[0].astimezone(UTC).date()


def _interval_block(
    *, entry_id: str, self_href: str, up_href: str, reading_type_href: str, now: str, day: date, readings: Iterable
) -> bytes:
    """One UTC day's readings as an IntervalBlock entry; its interval runs from the first start to the last end."""
    parts: list[str] = []
    first = end = 0
    for start, duration, value_wh, quality, _channel in readings:
        begin = _ts(start)
        if not parts:
            first = begin
        end = begin + int(duration)
        quality_code = QUALITY_TO_ESPI.get(quality if quality is not None else QUALITY_ACTUAL, QUALITY_OTHER)
        quality_xml = (
            ""
            if quality_code == 0
            else f"<espi:ReadingQuality><espi:quality>{quality_code}</espi:quality></espi:ReadingQuality>"
        )
        value_xml = "" if value_wh is None else f"<espi:value>{int(value_wh)}</espi:value>"
        parts.append(
            f"<espi:IntervalReading>{quality_xml}<espi:timePeriod><espi:duration>{int(duration)}</espi:duration>"
            f"<espi:start>{begin}</espi:start></espi:timePeriod>{value_xml}</espi:IntervalReading>"
        )
    return _entry(
        entry_id=entry_id,
        self_href=self_href,
        up_href=up_href,
        kind="IntervalBlock",
        title=f"Readings {day}",
        now=now,
        related=[reading_type_href],
        content=(
            f"<espi:IntervalBlock><espi:interval><espi:duration>{end - first}</espi:duration>"
            f"<espi:start>{first}</espi:start></espi:interval>{''.join(parts)}</espi:IntervalBlock>"
        ),
    ).encode()
