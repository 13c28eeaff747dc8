"""Reading Green Button (ESPI) files as they are found in the field: tolerant of the Atom envelope,
strict about the energy data (docs/usage.md, "Green Button files").

Steps, each with its own function:

1. ``_parse_safely``: the size limit, then lxml with entity expansion, DTDs and network access off; a
   DOCTYPE is refused outright (nothing in a Green Button file needs one).
2. ``envelope.tolerate``: what older producers omit or add around the data (a link without ``type``,
   ESPI 1.x relative URLs, entries without ``published``/``updated``, processing instructions,
   comments) is recorded as a warning with its line, and the missing ``type`` is filled in so that
3. the document is validated against the project's one strict schema (``espi.espi_schema``). Any
   error left is an error in the data: the file is rejected whole with the line and the reason.
4. ``_index_feed``: resources by their ``self`` link; a resource whose ties to the others cannot be
   read one way only (no MeterReading for a block, two ReadingTypes for one MeterReading, the same
   ``self`` twice, a LocalTimeParameters that is no real zone) rejects the file.
5. each UsagePoint is matched to a meter (``usage_points.resolve``: the co-op's mapping, then the
   meter number); an unknown one is reported with its identifiers and its readings counted as not
   loaded. Each MeterReading's ReadingType is checked (``reading_types.interpret``); one the store
   cannot hold is reported the same way with its reason.
6. the readings are placed on the co-op's local-day grid (the hot loop, ``_load_readings``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from lxml import etree

from accounts.usage import timegrid
from accounts.usage.espi import ATOM, ESPI, espi_schema
from accounts.usage.espi_envelope import tolerate
from accounts.usage.espi_types import BlockContext, check_local_time, interpret
from accounts.usage.readings import (
    DURATION_TO_MINUTES,
    DURATIONS_TEXT,
    EARLIEST_EPOCH,
    LATEST_EPOCH,
    METER_SHIFT,
    MalformedFile,
    ParsedReadings,
    encode_day,
    max_wh,
    out_of_range,
)
from accounts.usage.usage_points import UsagePointIds, UsagePointResolver

# Largest ESPI document read (the API's own upload limit is the same; the command has only this one).
MAX_ESPI_BYTES = 256 * 1024 * 1024

_ENTRY, _LINK, _CONTENT, _TITLE = f"{ATOM}entry", f"{ATOM}link", f"{ATOM}content", f"{ATOM}title"
_USAGE_POINT, _METER_READING = f"{ESPI}UsagePoint", f"{ESPI}MeterReading"
_READING_TYPE, _INTERVAL_BLOCK = f"{ESPI}ReadingType", f"{ESPI}IntervalBlock"
_LOCAL_TIME = f"{ESPI}LocalTimeParameters"
_SUMMARIES = {f"{ESPI}{name}" for name in ("ElectricPowerUsageSummary", "UsageSummary", "ElectricPowerQualitySummary")}
_POINT_NAME = f"{ESPI}serviceDeliveryPoint/{ESPI}name"
_INTERVAL_READING = f"{ESPI}IntervalReading"
_TIME_PERIOD, _START, _DURATION = f"{ESPI}timePeriod", f"{ESPI}start", f"{ESPI}duration"
_QUALITY_WRAPPER, _QUALITY = f"{ESPI}ReadingQuality", f"{ESPI}quality"
_VALUE, _COST = f"{ESPI}value", f"{ESPI}cost"
_MISSING = ord("M")
_NS = {"e": "http://naesb.org/espi"}
_X_COUNT = etree.XPath("count(e:IntervalReading)", namespaces=_NS)
# smart_strings=False: plain str results (lxml's default ties each string to its element, 3x slower here).
_X_STARTS = etree.XPath("e:IntervalReading/e:timePeriod/e:start/text()", namespaces=_NS, smart_strings=False)
_X_DURATIONS = etree.XPath("e:IntervalReading/e:timePeriod/e:duration/text()", namespaces=_NS, smart_strings=False)
_X_VALUES = etree.XPath("e:IntervalReading/e:value/text()", namespaces=_NS, smart_strings=False)
_X_QUALITIES = etree.XPath("count(e:IntervalReading/e:ReadingQuality)", namespaces=_NS)
_X_COSTS = etree.XPath("count(e:IntervalReading/e:cost)", namespaces=_NS)


def _entry_parts(entry) -> tuple[object | None, dict[str, list[str]], str | None]:
    """(content element, links by rel, title text) of an Atom entry, in one walk over its children."""
    content = title = None
    links: dict[str, list[str]] = {}
    for child in entry:
        tag = child.tag
        if tag == _LINK:
            links.setdefault(child.get("rel", ""), []).append((child.get("href") or "").strip().rstrip("/"))
        elif tag == _CONTENT:
            content = child
        elif tag == _TITLE:
            title = child.text
    return content, links, title


def _text(element, path: str) -> str | None:
    found = element.find(path)
    return found.text.strip() if found is not None and found.text else None


@dataclass
class _MeterReading:
    line: int
    up: str
    related: list[str]


@dataclass
class _EspiFeed:
    """The feed's resources by their ``self`` link, so blocks can be tied to meters and reading types."""

    usage_points: dict[str, UsagePointIds] = field(default_factory=dict)
    meter_readings: dict[str, _MeterReading] = field(default_factory=dict)
    reading_types: dict[str, object] = field(default_factory=dict)  # href -> ReadingType element
    blocks: list[tuple[str, object]] = field(default_factory=list)  # (up href, IntervalBlock element)
    seen: dict[str, int] = field(default_factory=dict)  # self href -> line, to refuse a resource given twice
    # related href -> the MeterReadings / UsagePoints that list it, for links that do not follow the URL pattern
    readings_by_related: dict[str, list[str]] = field(default_factory=dict)
    points_by_related: dict[str, list[UsagePointIds]] = field(default_factory=dict)


def parse_espi(data: bytes, meters: dict[str, int], resolver: UsagePointResolver | None = None) -> ParsedReadings:
    """Parse a Green Button ESPI feed (see the module docstring for the rules).

    ``meters`` maps meter numbers to ids (a UsagePoint whose service delivery point name or title is a
    meter number needs no mapping); ``resolver`` holds the co-op's UsagePoint mapping.
    """
    resolver = resolver or UsagePointResolver(meters=meters)
    result = ParsedReadings(file_format="espi")
    root = _parse_safely(data)
    tolerate(root, result.warn)
    _validate(root)
    feed = _index_feed(root, result)
    contexts: dict[str, BlockContext | None] = {}
    state = _LoadState(result, int((timezone.now() + timedelta(hours=1)).timestamp()))
    for up_href, block in feed.blocks:
        count = int(_X_COUNT(block))
        result.readings += count
        meter_reading_href = _meter_reading_of(up_href, block, feed)
        if meter_reading_href not in contexts:
            contexts[meter_reading_href] = _context(meter_reading_href, feed, resolver, result)
        context = contexts[meter_reading_href]
        if context is None:  # reported once for its MeterReading; the readings are counted as not loaded
            result.not_loaded_add(meter_reading_href, count)
            continue
        if count and not _fast_block(block, count, context, state):
            _load_readings(block.findall(_INTERVAL_READING), context, state)
    if state.costs:
        result.warn(
            state.first_cost_line,
            f"cost on {state.costs} readings ignored: MemberGuard keeps energy, the bill is the CIS's",
        )
    return result


def _parse_safely(data: bytes):
    if len(data) > MAX_ESPI_BYTES:
        raise MalformedFile(f"the file is larger than {MAX_ESPI_BYTES} bytes; split it")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_blank_text=False
    )
    try:
        root = etree.fromstring(data, parser)  # entities, DTDs and network off
    except etree.XMLSyntaxError as exc:
        raise MalformedFile(f"not well-formed XML: {exc}") from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise MalformedFile("line 1: a DOCTYPE (DTD or entity declarations) is not accepted in a Green Button file")
    if root.tag != f"{ATOM}feed":
        raise MalformedFile(f"line {root.sourceline}: expected an Atom <feed> of ESPI entries")
    return root


def _validate(root) -> None:
    schema = espi_schema()
    try:
        valid = schema.validate(root)
    except etree.Error as exc:  # e.g. an unresolved entity reference (entities are never expanded)
        raise MalformedFile(f"not valid against the ESPI schema: {exc}") from None
    if not valid:
        errors = schema.error_log.filter_from_errors()
        error = errors[0] if errors else schema.error_log.last_error
        raise MalformedFile(f"not valid against the ESPI schema (line {error.line}): {error.message[:300]}")


def _remember(feed: _EspiFeed, href: str, line: int) -> None:
    if not href:
        raise MalformedFile(f"line {line}: an ESPI resource without a 'self' link cannot be tied to the others")
    earlier = feed.seen.get(href)
    if earlier is not None:
        raise MalformedFile(f"line {line}: the resource {href[-80:]!r} is given twice (first at line {earlier})")
    feed.seen[href] = line


def _index_feed(root, result: ParsedReadings) -> _EspiFeed:
    feed = _EspiFeed()
    for entry in root.iterfind(_ENTRY):
        content, links, title = _entry_parts(entry)
        resource = None if content is None else next(content.iterchildren(etree.Element), None)
        if resource is None:
            result.warn(entry.sourceline, "entry without ESPI content ignored")
            continue
        self_href = (links.get("self") or [""])[0]
        line = resource.sourceline
        if resource.tag in _SUMMARIES:
            result.warn(line, f"{etree.QName(resource).localname} ignored: MemberGuard keeps interval readings only")
            continue
        if resource.tag == _LOCAL_TIME:
            check_local_time(resource, result.warn)
            continue
        if resource.tag not in (_USAGE_POINT, _METER_READING, _READING_TYPE, _INTERVAL_BLOCK):
            result.warn(line, f"{etree.QName(resource).localname} ignored: not usage data")
            continue
        if resource.tag == _INTERVAL_BLOCK:
            feed.blocks.append(((links.get("up") or [""])[0], resource))
            continue
        _remember(feed, self_href, line)
        related = links.get("related", [])
        if resource.tag == _USAGE_POINT:
            point = UsagePointIds(
                self_href=self_href,
                sdp_name=_text(resource, _POINT_NAME) or "",
                title=(title or "").strip(),
                line=line,
                related=related,
            )
            feed.usage_points[self_href] = point
            for href in related:
                feed.points_by_related.setdefault(href, []).append(point)
        elif resource.tag == _METER_READING:
            feed.meter_readings[self_href] = _MeterReading(line, (links.get("up") or [""])[0], related)
            for href in related:
                feed.readings_by_related.setdefault(href, []).append(self_href)
        else:
            feed.reading_types[self_href] = resource
    return feed


def _meter_reading_of(up_href: str, block, feed: _EspiFeed) -> str:
    """The MeterReading a block belongs to: its ``up`` link less ``/IntervalBlock``, or a MeterReading whose
    ``related`` link is that ``up`` link. None of them, or more than one: the file is ambiguous."""
    direct = up_href.removesuffix("/IntervalBlock")
    if up_href and direct in feed.meter_readings:
        return direct
    claimed = feed.readings_by_related.get(up_href, []) if up_href else []
    if len(claimed) == 1:
        return claimed[0]
    raise MalformedFile(
        f"line {block.sourceline}: IntervalBlock with 'up' link {up_href[-80:]!r} matches "
        f"{'no' if not claimed else len(claimed)} MeterReading in this file"
    )


def _usage_point_of(meter_reading_href: str, reading: _MeterReading, feed: _EspiFeed) -> UsagePointIds:
    direct = reading.up.removesuffix("/MeterReading")
    if reading.up and direct in feed.usage_points:
        return feed.usage_points[direct]
    claimed = feed.points_by_related.get(reading.up, []) if reading.up else []
    if len(claimed) == 1:
        return claimed[0]
    raise MalformedFile(
        f"line {reading.line}: MeterReading {meter_reading_href[-80:]!r} matches "
        f"{'no' if not claimed else len(claimed)} UsagePoint in this file (its 'up' link)"
    )


def _context(href: str, feed: _EspiFeed, resolver: UsagePointResolver, result: ParsedReadings) -> BlockContext | None:
    """What the MeterReading's readings need, or None (reported on the batch) when they cannot be loaded."""
    reading = feed.meter_readings[href]
    point = _usage_point_of(href, reading, feed)
    types = [feed.reading_types[link] for link in reading.related if link in feed.reading_types]
    if len(types) != 1:
        raise MalformedFile(
            f"line {reading.line}: MeterReading {href[-80:]!r} has {len(types) or 'no'} ReadingType in this file "
            "(its 'related' links); exactly one is needed to read its values"
        )
    meter_id = resolver.resolve(point)
    if meter_id is None:
        result.not_loaded_reason(href, point.report(), "unknown UsagePoint: no meter mapped to any of its identifiers")
        return None
    context = interpret(types[0], meter_id << METER_SHIFT, result.warn)
    if isinstance(context, str):
        result.not_loaded_reason(href, point.report(), context)
        return None
    return context


class _LoadState:
    """What the hot loop shares across blocks: placements cached per (start, interval), the cost count."""

    def __init__(self, result: ParsedReadings, latest: int):
        self.result = result
        self.latest = latest
        self.placements: dict[tuple[int, int], tuple | str] = {}
        self.good_starts: dict[int, dict[int, tuple]] = {}  # minutes -> start -> placement (good ones only)
        self.costs = 0
        self.first_cost_line = 0


def _place_epoch(start: int, minutes: int, latest: int, line: int) -> tuple | str:
    """(day bits, slot, slots in day, max value) of a UTC epoch start, or why it is bad."""
    if not EARLIEST_EPOCH <= start < LATEST_EPOCH:
        raise out_of_range(line, str(start))
    if start >= latest:
        return "start is in the future"
    try:
        day, slot, slots = timegrid.place(datetime.fromtimestamp(start, tz=UTC), minutes)
    except timegrid.BadTimestamp as exc:
        return str(exc)
    return (encode_day(day, minutes), slot, slots, max_wh(minutes))


def _fields(reading) -> tuple[str | None, str | None, str | None, list[str], bool]:
    """(start, duration, value, quality codes, has cost) of one IntervalReading, by walking its children once
    (a path ``find`` per field was three quarters of an ingest's time). The schema fixed their order."""
    start = duration = value = None
    qualities: list[str] = []
    cost = False
    for child in reading:
        tag = child.tag
        if tag == _TIME_PERIOD:
            for part in child:
                if part.tag == _START:
                    start = part.text
                elif part.tag == _DURATION:
                    duration = part.text
        elif tag == _VALUE:
            value = child.text
        elif tag == _QUALITY_WRAPPER:
            qualities.extend(code.text or "" for code in child.iterfind(_QUALITY))
        elif tag == _COST:
            cost = True
    return start, duration.strip() if duration else None, value, qualities, cost


def _block_duration(block, count: int, default: str | None) -> int | None:
    durations = _X_DURATIONS(block)
    if not durations:
        duration = default
    elif len(durations) == count and len(set(durations)) == 1:
        duration = durations[0].strip()
    else:
        return None
    return DURATION_TO_MINUTES.get(duration or "")


def _fast_block(block, count: int, context: BlockContext, state: _LoadState) -> bool:
    """The common block, column-wise: every reading has a start and a value, one duration, no quality codes,
    in time order without gaps, and every one of them is good. Returns False having written nothing when any
    of that is not so; the caller then reads the block reading by reading (``_load_readings``), which
    reports each problem at its line."""
    starts, values = _X_STARTS(block), _X_VALUES(block)
    if len(starts) != count or len(values) != count or _X_QUALITIES(block):
        return False
    minutes = _block_duration(block, count, context.default_duration)
    if minutes is None or minutes >= timegrid.HALF_DAY:
        return False
    starts = list(map(int, starts))
    step = minutes * 60
    if starts != list(range(starts[0], starts[0] + step * count, step)):
        return False  # out of order, gaps or repeats: the slow path
    placed = _placements(starts, minutes, state)
    if placed is None:
        return False
    wh = list(map(int, values)) if context.scale.factor == 1 else list(map(context.scale.wh, map(int, values)))
    if min(wh) < 0 or max(wh) > placed[0][3]:
        return False
    return _fast_write(block, placed, wh, context, state)


def _placements(starts: list[int], minutes: int, state: _LoadState) -> list | None:
    """The placement of every start (cached per interval length), or None when any is not a good one."""
    cache = state.good_starts.setdefault(minutes, {})
    placed = list(map(cache.get, starts))
    if None in placed:
        for start in set(starts).difference(cache):
            if not EARLIEST_EPOCH <= start < LATEST_EPOCH:
                return None
            found = _place_epoch(start, minutes, state.latest, 0)
            if isinstance(found, str):
                return None
            cache[start] = found
        placed = list(map(cache.get, starts))
    return placed


def _fast_write(block, placed: list, wh: list[int], context: BlockContext, state: _LoadState) -> bool:
    """Consecutive readings of one local day go into their group as one slice (a block spans one or two days)."""
    groups = state.result.groups
    prefix = context.meter_key | context.channel_bit
    runs = []
    index, count = 0, len(placed)
    while index < count:
        daybits, slot, slots, _limit = placed[index]
        length = min(count - index, slots - slot)
        key = prefix | daybits
        group = groups.get(key)
        if group is not None and any(group[1][slot : slot + length]):
            return False  # repeated readings: the slow path says whether they agree
        runs.append((key, slot, slots, index, length))
        index += length
    quality = bytes([context.default_quality])
    for key, slot, slots, index, length in runs:
        group = groups.get(key)
        if group is None:
            group = groups[key] = [[None] * slots, bytearray(slots)]
        group[0][slot : slot + length] = wh[index : index + length]
        group[1][slot : slot + length] = quality * length
    costs = int(_X_COSTS(block))
    if costs:
        state.costs += costs
        state.first_cost_line = state.first_cost_line or block.find(f"{_INTERVAL_READING}/{_COST}").sourceline
    return True


def _load_readings(readings: list, context: BlockContext, state: _LoadState) -> None:
    """One block's IntervalReadings into their groups, each bad one reported at its line. The hot loop of
    an ESPI ingest: kept flat, with placements cached per (start, interval) across the file."""
    meter_key, channel_bit, default_duration, scale, quality_default = context
    result = state.result
    groups, placements, latest = result.groups, state.placements, state.latest
    bad: Callable[[int, str], None] = result.bad
    for reading in readings:
        start, duration, raw, qualities, cost = _fields(reading)
        duration = duration or default_duration
        if start is None or duration is None:
            bad(reading.sourceline, "IntervalReading has no timePeriod and its ReadingType no intervalLength")
            continue
        minutes = DURATION_TO_MINUTES.get(duration)
        if minutes is None:
            bad(reading.sourceline, f"duration {duration[:12]} is not {DURATIONS_TEXT}")
            continue
        cache_key = (int(start), minutes)
        placed = placements.get(cache_key)
        if placed is None:
            placed = placements[cache_key] = _place_epoch(cache_key[0], minutes, latest, reading.sourceline)
        if isinstance(placed, str):
            bad(reading.sourceline, placed)
            continue
        daybits, slot, slots, limit = placed
        quality_code = quality_default
        for code in qualities:
            quality_code = scale.quality(code, quality_code)
        if raw is None:
            wh, quality_code = None, _MISSING
        else:
            wh = scale.wh(int(raw))
            if wh < 0 or wh > limit:
                bad(reading.sourceline, f"impossible value {wh} Wh for the interval (0 to {limit})")
                continue
        if cost:
            state.costs += 1
            state.first_cost_line = state.first_cost_line or reading.sourceline
        key = meter_key | daybits | channel_bit
        group = groups.get(key)
        if group is None:
            group = groups[key] = [[None] * slots, bytearray(slots)]
        if group[1][slot]:
            _repeated(reading.sourceline, group, slot, wh, quality_code, result)
            continue
        group[1][slot] = quality_code
        group[0][slot] = wh


def _repeated(line: int, group: list, slot: int, wh: int | None, quality_code: int, result: ParsedReadings) -> None:
    """A second reading of the same interval (overlapping blocks): the same value is counted once with a
    warning; a different value makes the file ambiguous and it is rejected whole."""
    if group[0][slot] == wh and group[1][slot] == quality_code:
        result.warn(line, "reading repeated in an overlapping IntervalBlock with the same value; counted once")
        result.repeated += 1
        return
    raise MalformedFile(
        f"line {line}: this reading ({wh} Wh) contradicts an earlier reading of the same meter, channel and "
        f"interval in this file ({group[0][slot]} Wh); overlapping blocks must agree"
    )
