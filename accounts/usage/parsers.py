"""Parse and validate reading files (CSV, Green Button ESPI XML) into meter-day groups.

Both parsers return a ``ParsedReadings``: readings grouped per meter x local day x channel x
interval length (the storage row, see models.py), plus every bad row with its line number and
reason. A file that is wrong as a whole (not UTF-8, wrong CSV header, not XML, not valid against the
ESPI schema) raises ``MalformedFile`` and nothing from it is loaded.

The CSV loop is the hot path of ingestion (tens of millions of rows a day at utility scale), so it
does the minimum per row: ``csv.reader`` splits, timestamps are parsed once per distinct string and
cached (a day file repeats the same 96 start times for every meter), meters are looked up in a dict,
and a group key is one int. Profiled with cProfile; see docs/usage.md.
"""

from __future__ import annotations

import csv
import gc
import io
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import groupby, islice
from operator import or_

from django.utils import timezone
from lxml import etree

from accounts.usage import timegrid
from accounts.usage.espi import ATOM_NS, ESPI_NS, FLOW_DELIVERED, FLOW_RECEIVED, QUALITY_FROM_ESPI, UOM_WH, espi_schema
from accounts.usage.models import (
    QUALITY_ACTUAL,
    QUALITY_EDITED,
    QUALITY_ESTIMATED,
    QUALITY_MISSING,
)

CSV_HEADER = ["meter_number", "start", "duration_s", "value_wh", "quality", "channel"]

# Above this an interval value is physically impossible for a distribution service (a 1 MW load).
MAX_DEMAND_KW = 1000

INTERVALS = (15, 60, 1440)  # index in the group key: 0, 1, 2
DURATION_TO_MINUTES = {"900": 15, "3600": 60, "86400": 1440}
_EPOCH = date(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH.toordinal()
METER_SHIFT = 20  # group key = meter_id << 20 | (days since 1970 * 4 + interval index) << 1 | channel bit

CHANNELS = {"delivered": 0, "received": 1, "Delivered": 0, "Received": 1, "DELIVERED": 0, "RECEIVED": 1}
QUALITIES = {
    "actual": ord(QUALITY_ACTUAL),
    "estimated": ord(QUALITY_ESTIMATED),
    "missing": ord(QUALITY_MISSING),
    "edited": ord(QUALITY_EDITED),
}
QUALITIES.update({name.capitalize(): code for name, code in list(QUALITIES.items())})
QUALITIES.update({name.upper(): code for name, code in list(QUALITIES.items())})
_MISSING = ord(QUALITY_MISSING)

BAD_ROWS_KEPT = 1000

ATOM = f"{{{ATOM_NS}}}"  # lxml's {namespace}tag spelling
ESPI = f"{{{ESPI_NS}}}"


class MalformedFile(ValueError):
    """The file as a whole cannot be read; nothing from it is loaded."""


def max_wh(interval_minutes: int) -> int:
    return MAX_DEMAND_KW * interval_minutes * 1000 // 60


@dataclass
class ParsedReadings:
    file_format: str
    # key (see METER_SHIFT) -> [values: list[int | None], quality: bytearray (0 = not in this file)]
    groups: dict[int, list] = field(default_factory=dict)
    readings: int = 0
    bad_rows: list[tuple[int, str]] = field(default_factory=list)

    @property
    def bad_row_count(self) -> int:
        return len(self.bad_rows)

    def bad(self, line: int, reason: str) -> None:
        self.bad_rows.append((line, reason))


def decode_key(key: int) -> tuple[int, date, int, int]:
    """(meter_id, day, channel 1|2, interval_minutes) from a group key."""
    rest = key & ((1 << METER_SHIFT) - 1)
    daycode = rest >> 1
    return key >> METER_SHIFT, date.fromordinal(_EPOCH_ORDINAL + (daycode >> 2)), (rest & 1) + 1, INTERVALS[daycode & 3]


def encode_day(day: date, interval_minutes: int) -> int:
    """The day-and-interval part of a group key (already shifted past the channel bit)."""
    return (((day.toordinal() - _EPOCH_ORDINAL) << 2) | INTERVALS.index(interval_minutes)) << 1


class _Placer:
    """Caches start text -> grid placement; one instance per file."""

    def __init__(self, now: datetime):
        self.latest = now + timedelta(hours=1)
        self.cache: dict[str, dict[str, tuple | str]] = {}

    def for_duration(self, duration: str) -> dict[str, tuple | str]:
        cache = self.cache.get(duration)
        if cache is None:
            cache = self.cache[duration] = {}
        return cache

    def resolve(self, start: str, duration: str) -> tuple | str:
        """(day bits, slot, slots in day, max value) or the reason the timestamp is bad."""
        minutes = DURATION_TO_MINUTES.get(duration.strip())
        if minutes is None:
            result: tuple | str = f"duration_s {duration[:12]!r} is not 900, 3600 or 86400"
        else:
            try:
                start_utc = timegrid.parse_start(start)
                if start_utc >= self.latest:
                    raise timegrid.BadTimestamp("start is in the future")
                day, slot, slots = timegrid.place(start_utc, minutes)
                result = (encode_day(day, minutes), slot, slots, max_wh(minutes))
            except timegrid.BadTimestamp as exc:
                result = str(exc)
        self.for_duration(duration)[start] = result
        return result


CSV_CHUNK_ROWS = 65536  # quoted files (csv.reader path)
CSV_CHUNK_CHARS = 4 << 20  # unquoted files


class _CsvState:
    """What the chunk parsers share for one file."""

    def __init__(self, meters: dict[str, int]):
        self.result = ParsedReadings(file_format="csv")
        self.placer = _Placer(timezone.now())
        self.meter_keys = {number: meter_id << METER_SHIFT for number, meter_id in meters.items()}
        self._columns: dict[str, tuple[dict, dict]] = {}

    def columns_cache(self, duration: str, cache: dict, changed: bool) -> tuple[dict, dict]:
        """start -> day bits and start -> slot, derived from the placer's cache for one duration."""
        found = self._columns.get(duration)
        if found is None or changed:
            good = {start: placed for start, placed in cache.items() if not isinstance(placed, str)}
            found = self._columns[duration] = (
                {start: placed[0] for start, placed in good.items()},
                {start: placed[1] for start, placed in good.items()},
            )
        return found


def parse_csv(data: bytes, meters: dict[str, int]) -> ParsedReadings:
    """Parse the MDMS CSV format (docs/usage.md): one reading per line, header ``CSV_HEADER``.

    ``meters`` maps meter_number -> meter id. Rows are read in chunks; a chunk whose every row is
    well formed goes through ``_fast_chunk`` (column-wise, C-level maps, whole meter-days sliced in
    one step); any chunk with a doubtful row is redone row by row by ``_slow_chunk``, which finds and
    reports each bad row. Both give the same result for good rows (tests/usage/test_parsers.py).
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedFile(f"the file is not UTF-8 text (byte {exc.start})") from None
    if '"' not in text:
        # No quoting anywhere (the normal case): plain splitting is several times faster than
        # csv.reader and gives the same rows; line numbers are exact because no field can span
        # lines. The text is cut into ~4 MB chunks at line ends; a chunk whose field count is six
        # per line is split in one call and sliced into columns.
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        text = text.rstrip("\n")
        if not text:
            raise MalformedFile("the file is empty")
        header_end = text.find("\n")
        _check_header((text if header_end < 0 else text[:header_end]).split(","))
        state = _CsvState(meters)
        total = len(text)
        position = total if header_end < 0 else header_end + 1
        line = 2
        while position < total:
            end = text.find("\n", position + CSV_CHUNK_CHARS) if position + CSV_CHUNK_CHARS < total else -1
            end = total if end < 0 else end
            chunk = text[position:end]
            lines = chunk.count("\n") + 1
            fields = chunk.replace("\n", ",").split(",")
            columns = tuple(fields[index::6] for index in range(6)) if len(fields) == 6 * lines else None
            if columns is None or not _fast_chunk(columns, line, state):
                _slow_chunk([row.split(",") for row in chunk.split("\n")], line, state)
            line += lines
            position = end + 1
        return state.result
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise MalformedFile("the file is empty") from None
    except csv.Error as exc:
        raise MalformedFile(f"the header line is not CSV: {exc}") from None
    _check_header(header)
    state = _CsvState(meters)
    line = reader.line_num
    try:
        while True:
            chunk = list(islice(reader, CSV_CHUNK_ROWS))
            if not chunk:
                break
            first_line = line + 1
            line += len(chunk)
            if reader.line_num != line:
                raise MalformedFile(f"a quoted field spans lines near line {first_line}; no field of this format can")
            if (
                len(chunk[0]) != 6
                or len(set(map(len, chunk))) != 1
                or not _fast_chunk(tuple(zip(*chunk, strict=True)), first_line, state)
            ):
                _slow_chunk(chunk, first_line, state)
    except csv.Error as exc:
        raise MalformedFile(f"line {reader.line_num}: not valid CSV ({exc})") from None
    return state.result


def _check_header(header: list[str]) -> None:
    if [column.strip() for column in header] != CSV_HEADER:
        raise MalformedFile(f"wrong header: expected {','.join(CSV_HEADER)}")


_RANGES: dict[int, list[int]] = {}


def _fast_chunk(columns: tuple, first_line: int, state: _CsvState) -> bool:
    """Column-wise parse of a chunk of six-field rows in which every row is good.

    Returns False, having recorded nothing, as soon as any row is doubtful; the caller then runs
    ``_slow_chunk`` on the same rows.
    """
    numbers, starts, durations, values, qualities, channels = columns
    if len(set(durations)) != 1:
        return False
    duration = durations[0]
    cache = state.placer.for_duration(duration)
    unique = set(starts)
    new = unique.difference(cache)
    for start in new:
        state.placer.resolve(start, duration)
    placed_unique = [cache[start] for start in unique]
    if any(isinstance(p, str) for p in placed_unique):
        return False
    daybits_of, slot_of = state.columns_cache(duration, cache, bool(new))
    meter_keys = list(map(state.meter_keys.get, numbers))
    channel_bits = list(map(CHANNELS.get, channels))
    quality_codes = list(map(QUALITIES.get, qualities))
    if None in meter_keys or None in channel_bits or None in quality_codes or _MISSING in quality_codes:
        return False
    try:
        wh = list(map(int, values))
    except ValueError:
        return False
    if min(wh) < 0 or max(wh) > placed_unique[0][3]:
        return False
    slots = list(map(slot_of.__getitem__, starts))
    keys = list(map(or_, map(or_, meter_keys, map(daybits_of.__getitem__, starts)), channel_bits))
    result = state.result
    result.readings += len(numbers)
    groups = result.groups
    index = 0
    for key, run in groupby(keys):
        length = len(list(run))
        stop = index + length
        slots_in_day = cache[starts[index]][2]
        group = groups.get(key)
        whole = _RANGES.get(slots_in_day)
        if whole is None:
            whole = _RANGES[slots_in_day] = list(range(slots_in_day))
        if group is None and length == slots_in_day and slots[index:stop] == whole:
            groups[key] = [wh[index:stop], bytearray(quality_codes[index:stop])]
        else:
            if group is None:
                group = groups[key] = [[None] * slots_in_day, bytearray(slots_in_day)]
            group_values, flags = group
            for position in range(index, stop):
                slot = slots[position]
                if flags[slot]:
                    result.bad(first_line + position, "duplicate reading in this file (same meter, channel and start)")
                    continue
                flags[slot] = quality_codes[position]
                group_values[slot] = wh[position]
        index = stop
    return True


def _slow_chunk(chunk: list[list[str]], first_line: int, state: _CsvState) -> None:
    """Row by row, reporting every bad row with its line and reason."""
    result = state.result
    groups = result.groups
    bad = result.bad_rows.append
    placer = state.placer
    meter_get = state.meter_keys.get
    for line, row in enumerate(chunk, first_line):
        if not row or row == [""]:
            continue  # blank line
        result.readings += 1
        if len(row) != 6:
            bad((line, f"expected 6 columns, found {len(row)}"))
            continue
        meter_number, start, duration, value, quality, channel = row
        placed = placer.for_duration(duration).get(start)
        if placed is None:
            placed = placer.resolve(start, duration)
        if isinstance(placed, str):
            bad((line, placed))
            continue
        meter_key = meter_get(meter_number)
        if meter_key is None:
            bad((line, f"unknown meter {meter_number[:30]!r}"))
            continue
        channel_bit = CHANNELS.get(channel)
        if channel_bit is None:
            bad((line, f"channel {channel[:20]!r} is not delivered or received"))
            continue
        quality_code = QUALITIES.get(quality)
        if quality_code is None:
            bad((line, f"quality {quality[:20]!r} is not actual, estimated, missing or edited"))
            continue
        daybits, slot, slots, limit = placed
        try:
            wh = int(value)
        except ValueError:
            if quality_code == _MISSING and not value.strip():
                wh = None
            else:
                bad((line, f"value_wh {value[:20]!r} is not a whole number of watt-hours"))
                continue
        else:
            if wh < 0 or wh > limit:
                bad((line, f"impossible value {wh} Wh for the interval (0 to {limit})"))
                continue
            if quality_code == _MISSING:
                wh = None
        key = meter_key | daybits | channel_bit
        group = groups.get(key)
        if group is None:
            group = groups[key] = [[None] * slots, bytearray(slots)]
        flags = group[1]
        if flags[slot]:
            bad((line, "duplicate reading in this file (same meter, channel and start)"))
            continue
        flags[slot] = quality_code
        group[0][slot] = wh


# --- Green Button ESPI XML -------------------------------------------------------------------

ESPI_FLOW = {str(FLOW_DELIVERED): 0, str(FLOW_RECEIVED): 1}  # flowDirection -> channel bit
ESPI_UOM_WH = str(UOM_WH)


def _links(entry) -> dict[str, list[str]]:
    links: dict[str, list[str]] = {}
    for link in entry.iterfind(f"{ATOM}link"):
        links.setdefault(link.get("rel", ""), []).append((link.get("href") or "").rstrip("/"))
    return links


def _text(element, path: str, default: str | None = None) -> str | None:
    found = element.find(path)
    return found.text.strip() if found is not None and found.text else default


def parse_espi(data: bytes, meters: dict[str, int]) -> ParsedReadings:
    """Parse a Green Button ESPI feed validated against schemas/usage.xsd.

    Meter numbers: a UsagePoint is matched to a meter by its ``serviceDeliveryPoint/name`` when
    present, else by its Atom entry title. IntervalBlocks are tied to their MeterReading through the
    ``up`` link, MeterReadings to their UsagePoint (``up``) and ReadingType (``related``).
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise MalformedFile(f"not well-formed XML: {exc}") from None
    schema = espi_schema()
    try:
        valid = schema.validate(root)
    except etree.Error as exc:  # e.g. an unresolved entity reference (entities are never expanded)
        raise MalformedFile(f"not valid against the ESPI schema: {exc}") from None
    if not valid:
        error = (
            schema.error_log.filter_from_errors()[0]
            if schema.error_log.filter_from_errors()
            else schema.error_log.last_error
        )
        raise MalformedFile(f"not valid against the ESPI schema (line {error.line}): {error.message[:300]}")
    if root.tag != f"{ATOM}feed":
        raise MalformedFile("expected an Atom <feed> of ESPI entries")

    result = ParsedReadings(file_format="espi")
    usage_points: dict[str, tuple[str, int]] = {}
    meter_readings: dict[str, tuple[str, list[str], int]] = {}
    reading_types: dict[str, object] = {}
    blocks: list[tuple[str, object]] = []
    for entry in root.iterfind(f"{ATOM}entry"):
        content = entry.find(f"{ATOM}content")
        if content is None or len(content) == 0:
            continue
        resource = content[0]
        links = _links(entry)
        self_href = (links.get("self") or [""])[0]
        up_href = (links.get("up") or [""])[0]
        if resource.tag == f"{ESPI}UsagePoint":
            number = _text(resource, f"{ESPI}serviceDeliveryPoint/{ESPI}name") or _text(entry, f"{ATOM}title") or ""
            usage_points[self_href] = (number, entry.sourceline)
        elif resource.tag == f"{ESPI}MeterReading":
            meter_readings[self_href] = (up_href, links.get("related", []), entry.sourceline)
        elif resource.tag == f"{ESPI}ReadingType":
            reading_types[self_href] = resource
        elif resource.tag == f"{ESPI}IntervalBlock":
            blocks.append((up_href, resource))

    placements: dict[tuple[int, int], tuple | str] = {}
    latest = int((timezone.now() + timedelta(hours=1)).timestamp())
    groups = result.groups
    for up_href, block in blocks:
        line = block.sourceline
        readings = block.findall(f"{ESPI}IntervalReading")
        result.readings += len(readings)
        problem, context = _resolve_block(up_href, usage_points, meter_readings, reading_types, meters)
        if problem:
            for reading in readings:
                result.bad(reading.sourceline, problem)
            if not readings:
                result.bad(line, problem)
            continue
        meter_key, channel_bit, default_interval, multiplier, default_quality = context
        for reading in readings:
            line = reading.sourceline
            duration = _text(reading, f"{ESPI}timePeriod/{ESPI}duration") or (
                str(default_interval) if default_interval else None
            )
            start = _text(reading, f"{ESPI}timePeriod/{ESPI}start")
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
                if cache_key[0] >= latest:
                    placed = "start is in the future"
                else:
                    try:
                        day, slot, slots = timegrid.place(datetime.fromtimestamp(cache_key[0], tz=UTC), minutes)
                        placed = (encode_day(day, minutes), slot, slots, max_wh(minutes))
                    except timegrid.BadTimestamp as exc:
                        placed = str(exc)
                placements[cache_key] = placed
            if isinstance(placed, str):
                result.bad(line, placed)
                continue
            daybits, slot, slots, limit = placed
            quality_code = default_quality
            for code in reading.iterfind(f"{ESPI}ReadingQuality/{ESPI}quality"):
                quality_code = QUALITY_FROM_ESPI.get(code.text.strip(), quality_code)
            raw = _text(reading, f"{ESPI}value")
            if raw is None:
                wh, quality_code = None, _MISSING
            else:
                scaled = int(raw) * 10**multiplier if multiplier >= 0 else round(int(raw) / 10**-multiplier)
                if scaled < 0 or scaled > limit:
                    result.bad(line, f"impossible value {scaled} Wh for the interval (0 to {limit})")
                    continue
                wh = scaled
            key = meter_key | daybits | channel_bit
            group = groups.get(key)
            if group is None:
                group = groups[key] = [[None] * slots, bytearray(slots)]
            if group[1][slot]:
                result.bad(line, "duplicate reading in this file (same meter, channel and start)")
                continue
            group[1][slot] = quality_code
            group[0][slot] = wh
    return result


def _resolve_block(up_href, usage_points, meter_readings, reading_types, meters):
    """(problem, None) or (None, (meter key, channel bit, interval s, power of ten, default quality))."""
    meter_reading_href = up_href.removesuffix("/IntervalBlock")
    meter_reading = meter_readings.get(meter_reading_href)
    if meter_reading is None:
        return "IntervalBlock has no MeterReading in this file (its 'up' link)", None
    mr_up, related, _line = meter_reading
    usage_point = usage_points.get(mr_up.removesuffix("/MeterReading"))
    if usage_point is None:
        return "MeterReading has no UsagePoint in this file (its 'up' link)", None
    reading_type = next((reading_types[href] for href in related if href in reading_types), None)
    if reading_type is None:
        return "MeterReading has no ReadingType in this file (its 'related' links)", None
    meter_id = meters.get(usage_point[0])
    if meter_id is None:
        return f"unknown meter {usage_point[0][:30]!r}", None
    uom = _text(reading_type, f"{ESPI}uom")
    if uom != ESPI_UOM_WH:
        return f"ReadingType uom {uom} is not 72 (Wh)", None
    flow = ESPI_FLOW.get(_text(reading_type, f"{ESPI}flowDirection", "1"))
    if flow is None:
        return "ReadingType flowDirection is neither 1 (delivered) nor 19 (received)", None
    interval = _text(reading_type, f"{ESPI}intervalLength")
    multiplier = int(_text(reading_type, f"{ESPI}powerOfTenMultiplier", "0"))
    default_quality = QUALITY_FROM_ESPI.get(_text(reading_type, f"{ESPI}defaultQuality", "0"), ord(QUALITY_ACTUAL))
    return None, (meter_id << METER_SHIFT, flow, int(interval) if interval else None, multiplier, default_quality)


def detect_format(data: bytes, filename: str = "") -> str:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") or filename.lower().endswith(".xml"):
        return "espi"
    return "csv"


def parse_file(
    data: bytes, meters: dict[str, int], *, file_format: str | None = None, filename: str = ""
) -> ParsedReadings:
    file_format = file_format or detect_format(data, filename)
    if file_format not in ("csv", "espi"):
        raise MalformedFile(f"unknown format {file_format!r}; use csv or espi")
    # Parsing allocates millions of small lists that never form cycles; the cyclic collector
    # re-scanning them made the parse three times slower (measured), so it pauses meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return parse_espi(data, meters) if file_format == "espi" else parse_csv(data, meters)
    finally:
        if collecting:
            gc.enable()
