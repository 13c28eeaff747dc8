"""Green Button (NAESB ESPI 3.3): the format's vocabulary, the one copy of its schemas, the reader and
the writer.

Meter usage arrives as ESPI from the MDMS (``parse_espi``, called by ``parsers.parse_file``) and leaves
as ESPI: the member's own "Download My Data" (``api.AccountGreenButtonApi``) and the disclosures
export, which renders through ``render_espi`` (``disclosures.rendering`` re-exports it). Keeping the
writer here lets the usage app stay below disclosures: nothing here knows who receives a file or
records a release; the disclosures app decides that and logs it.

Reading: the document is parsed with entity expansion, DTDs and network access off and validated
against the schema before anything is read from it; each bad IntervalReading is reported at its line.
Writing streams: ``render_espi`` takes an iterator of readings and yields one IntervalBlock per UTC
day, so a year of 15-minute data is never held in memory. ``schemas/`` holds the project's only copy
of the ESPI, Atom and xml: schemas (see ``schemas/NOTICE``); every validation, in the reader and in
the tests of both apps, loads them through ``espi_schema``.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import groupby
from pathlib import Path
from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

from django.utils import timezone
from lxml import etree

from accounts.usage import timegrid
from accounts.usage.models import QUALITY_ACTUAL, QUALITY_EDITED, QUALITY_ESTIMATED, QUALITY_MISSING
from accounts.usage.readings import (
    DURATION_TO_MINUTES,
    METER_SHIFT,
    MalformedFile,
    ParsedReadings,
    encode_day,
    max_wh,
)

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


# --- Reading ---------------------------------------------------------------------------------------

_CHANNEL_BIT_OF_FLOW = {str(FLOW_DELIVERED): 0, str(FLOW_RECEIVED): 1}
_UOM_WH_TEXT = str(UOM_WH)

# Element paths in lxml's {namespace}tag spelling, built once; the reading paths run once per reading.
ATOM = f"{{{ATOM_NS}}}"
ESPI = f"{{{ESPI_NS}}}"
_ENTRY, _LINK, _CONTENT, _TITLE = f"{ATOM}entry", f"{ATOM}link", f"{ATOM}content", f"{ATOM}title"
_USAGE_POINT, _METER_READING = f"{ESPI}UsagePoint", f"{ESPI}MeterReading"
_READING_TYPE, _INTERVAL_BLOCK = f"{ESPI}ReadingType", f"{ESPI}IntervalBlock"
_POINT_NAME = f"{ESPI}serviceDeliveryPoint/{ESPI}name"
_INTERVAL_READING = f"{ESPI}IntervalReading"
_READING_DURATION = f"{ESPI}timePeriod/{ESPI}duration"
_READING_START = f"{ESPI}timePeriod/{ESPI}start"
_READING_QUALITY = f"{ESPI}ReadingQuality/{ESPI}quality"
_READING_VALUE = f"{ESPI}value"


def _links(entry) -> dict[str, list[str]]:
    links: dict[str, list[str]] = {}
    for link in entry.iterfind(_LINK):
        links.setdefault(link.get("rel", ""), []).append((link.get("href") or "").rstrip("/"))
    return links


def _text(element, path: str, default: str | None = None) -> str | None:
    found = element.find(path)
    return found.text.strip() if found is not None and found.text else default


@dataclass
class _EspiFeed:
    """The feed's resources by their ``self`` link, so blocks can be tied to meters and reading types."""

    usage_points: dict[str, str] = field(default_factory=dict)  # href -> meter number
    meter_readings: dict[str, tuple[str, list[str]]] = field(default_factory=dict)  # href -> (up, related)
    reading_types: dict[str, object] = field(default_factory=dict)  # href -> ReadingType element
    blocks: list[tuple[str, object]] = field(default_factory=list)  # (up href, IntervalBlock element)


class _BlockContext(NamedTuple):
    """What an IntervalBlock's readings take from its MeterReading, UsagePoint and ReadingType."""

    meter_key: int
    channel_bit: int
    default_duration: str | None  # the ReadingType's intervalLength, for readings without a duration
    factor: int  # 10 ** powerOfTenMultiplier when that is >= 0, else 0 ...
    divisor: int  # ... and the readings are divided by 10 ** -powerOfTenMultiplier
    default_quality: int


def parse_espi(data: bytes, meters: dict[str, int]) -> ParsedReadings:
    """Parse a Green Button ESPI feed validated against schemas/usage.xsd.

    Meter numbers: a UsagePoint is matched to a meter by its ``serviceDeliveryPoint/name`` when
    present, else by its Atom entry title. IntervalBlocks are tied to their MeterReading through the
    ``up`` link, MeterReadings to their UsagePoint (``up``) and ReadingType (``related``).
    """
    feed = _index_feed(_validated_feed(data))
    result = ParsedReadings(file_format="espi")
    placements: dict[tuple[int, int], tuple | str] = {}
    latest = int((timezone.now() + timedelta(hours=1)).timestamp())
    for up_href, block in feed.blocks:
        readings = block.findall(_INTERVAL_READING)
        result.readings += len(readings)
        context = _resolve_block(up_href, feed, meters)
        if isinstance(context, str):
            for line in [reading.sourceline for reading in readings] or [block.sourceline]:
                result.bad(line, context)
            continue
        _load_readings(readings, context, placements, latest, result)
    return result


def _validated_feed(data: bytes):
    """The document's root element, or MalformedFile: not well-formed, not valid ESPI, not a feed."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)  # entities, DTDs and network off
    except etree.XMLSyntaxError as exc:
        raise MalformedFile(f"not well-formed XML: {exc}") from None
    schema = espi_schema()
    try:
        valid = schema.validate(root)
    except etree.Error as exc:  # e.g. an unresolved entity reference (entities are never expanded)
        raise MalformedFile(f"not valid against the ESPI schema: {exc}") from None
    if not valid:
        errors = schema.error_log.filter_from_errors()
        error = errors[0] if errors else schema.error_log.last_error
        raise MalformedFile(f"not valid against the ESPI schema (line {error.line}): {error.message[:300]}")
    if root.tag != f"{ATOM}feed":
        raise MalformedFile("expected an Atom <feed> of ESPI entries")
    return root


def _index_feed(root) -> _EspiFeed:
    feed = _EspiFeed()
    for entry in root.iterfind(_ENTRY):
        content = entry.find(_CONTENT)
        if content is None or len(content) == 0:
            continue
        resource = content[0]
        links = _links(entry)
        self_href = (links.get("self") or [""])[0]
        up_href = (links.get("up") or [""])[0]
        if resource.tag == _USAGE_POINT:
            feed.usage_points[self_href] = _text(resource, _POINT_NAME) or _text(entry, _TITLE) or ""
        elif resource.tag == _METER_READING:
            feed.meter_readings[self_href] = (up_href, links.get("related", []))
        elif resource.tag == _READING_TYPE:
            feed.reading_types[self_href] = resource
        elif resource.tag == _INTERVAL_BLOCK:
            feed.blocks.append((up_href, resource))
    return feed


def _resolve_block(up_href: str, feed: _EspiFeed, meters: dict[str, int]) -> _BlockContext | str:
    """The block's context, or the reason none of its readings can be loaded."""
    meter_reading = feed.meter_readings.get(up_href.removesuffix("/IntervalBlock"))
    if meter_reading is None:
        return "IntervalBlock has no MeterReading in this file (its 'up' link)"
    mr_up, related = meter_reading
    meter_number = feed.usage_points.get(mr_up.removesuffix("/MeterReading"))
    if meter_number is None:
        return "MeterReading has no UsagePoint in this file (its 'up' link)"
    reading_type = next((feed.reading_types[href] for href in related if href in feed.reading_types), None)
    if reading_type is None:
        return "MeterReading has no ReadingType in this file (its 'related' links)"
    meter_id = meters.get(meter_number)
    if meter_id is None:
        return f"unknown meter {meter_number[:30]!r}"
    uom = _text(reading_type, f"{ESPI}uom")
    if uom != _UOM_WH_TEXT:
        return f"ReadingType uom {uom} is not 72 (Wh)"
    flow = _CHANNEL_BIT_OF_FLOW.get(_text(reading_type, f"{ESPI}flowDirection", "1"))
    if flow is None:
        return "ReadingType flowDirection is neither 1 (delivered) nor 19 (received)"
    interval = int(_text(reading_type, f"{ESPI}intervalLength", "0"))
    multiplier = int(_text(reading_type, f"{ESPI}powerOfTenMultiplier", "0"))
    default_quality = QUALITY_FROM_ESPI.get(_text(reading_type, f"{ESPI}defaultQuality", "0"), ord(QUALITY_ACTUAL))
    return _BlockContext(
        meter_key=meter_id << METER_SHIFT,
        channel_bit=flow,
        default_duration=str(interval) if interval else None,
        factor=10**multiplier if multiplier >= 0 else 0,
        divisor=10**-multiplier if multiplier < 0 else 1,
        default_quality=default_quality,
    )


def _place_epoch(start: int, minutes: int, latest: int) -> tuple | str:
    """(day bits, slot, slots in day, max value) of a UTC epoch start, or why it is bad."""
    if start >= latest:
        return "start is in the future"
    try:
        day, slot, slots = timegrid.place(datetime.fromtimestamp(start, tz=UTC), minutes)
    except timegrid.BadTimestamp as exc:
        return str(exc)
    return (encode_day(day, minutes), slot, slots, max_wh(minutes))


def _load_readings(readings: list, context: _BlockContext, placements: dict, latest: int, result: ParsedReadings):
    """One block's IntervalReadings into their groups, each bad one reported at its line. The hot loop of
    an ESPI ingest: kept flat, with placements cached per (start, interval) across the file."""
    meter_key, channel_bit, default_duration, factor, divisor, quality_code_default = context
    groups = result.groups
    for reading in readings:
        line = reading.sourceline
        duration = _text(reading, _READING_DURATION) or default_duration
        start = _text(reading, _READING_START)
        if start is None or duration is None:
            result.bad(line, "IntervalReading has no timePeriod and its ReadingType no intervalLength")
            continue
        minutes = DURATION_TO_MINUTES.get(duration)
        if minutes is None:
            result.bad(line, f"duration {duration} is not 900, 3600 or 86400 seconds")
            continue
        cache_key = (int(start), minutes)
        placed = placements.get(cache_key)
        if placed is None:
            placed = placements[cache_key] = _place_epoch(cache_key[0], minutes, latest)
        if isinstance(placed, str):
            result.bad(line, placed)
            continue
        daybits, slot, slots, limit = placed
        quality_code = quality_code_default
        for code in reading.iterfind(_READING_QUALITY):
            quality_code = QUALITY_FROM_ESPI.get(code.text.strip(), quality_code)
        raw = _text(reading, _READING_VALUE)
        if raw is None:
            wh, quality_code = None, _MISSING
        else:
            wh = int(raw) * factor if factor else round(int(raw) / divisor)
            if wh < 0 or wh > limit:
                result.bad(line, f"impossible value {wh} Wh for the interval (0 to {limit})")
                continue
        key = meter_key | daybits | channel_bit
        group = groups.get(key)
        if group is None:
            group = groups[key] = [[None] * slots, bytearray(slots)]
        if group[1][slot]:
            result.bad(line, "duplicate reading in this file (same meter, channel and start)")
            continue
        group[1][slot] = quality_code
        group[0][slot] = wh


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


def render_espi(usage_points: Iterable[dict], *, base_url: str, now: datetime) -> Generator[bytes, None, None]:
    """An Atom feed of UsagePoint, ReadingType, MeterReading and IntervalBlock entries.

    ``usage_points``: dicts with ``key`` (an opaque stable string, e.g. "acct-42-ch1"), ``title``,
    ``channel`` ("delivered" / "received"), ``readings`` (an iterator of
    ``(start_utc, duration_s, value_wh, quality, channel)`` in time order). Readings are grouped into
    one IntervalBlock per UTC day, so a year of 15-minute data streams in ~365 small chunks.
    """
    stamp = _atom_time(now)
    feed_id = uuid.uuid4()
    subscription = quoteattr(base_url + "/espi/1_1/resource/Batch/Subscription")
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<feed xmlns="{ATOM_NS}" xmlns:espi="{ESPI_NS}">'
        f"<id>urn:uuid:{feed_id}</id><title>Green Button usage export</title><updated>{stamp}</updated>"
        f'<link rel="self" href={subscription} type="espi-feed/Batch"/>'
    ).encode()
    for point in usage_points:
        key = point["key"]
        up = f"{base_url}/espi/1_1/resource/Subscription/{key}/UsagePoint"
        up_self = f"{up}/1"
        reading_type_href = f"{base_url}/espi/1_1/resource/ReadingType/{key}"
        meter_reading_href = f"{up_self}/MeterReading/1"
        blocks_href = f"{meter_reading_href}/IntervalBlock"
        flow = FLOW_RECEIVED if point.get("channel") in (2, "received") else FLOW_DELIVERED
        yield _entry(
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
        yield _entry(
            entry_id=str(uuid.uuid5(feed_id, key + "/mr")),
            self_href=meter_reading_href,
            up_href=f"{up_self}/MeterReading",
            kind="MeterReading",
            title="Interval readings",
            now=stamp,
            related=[blocks_href, reading_type_href],
            content="<espi:MeterReading/>",
        ).encode()
        yield _entry(
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
        for number, (day, readings) in enumerate(groupby(point["readings"], _utc_day), start=1):
            yield _interval_block(
                entry_id=str(uuid.uuid5(feed_id, f"{key}/ib/{number}")),
                self_href=f"{blocks_href}/{number}",
                up_href=blocks_href,
                reading_type_href=reading_type_href,
                now=stamp,
                day=day,
                readings=readings,
            )
    yield b"</feed>\n"


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
