"""Parse and validate reading files into meter-day groups: the MDMS CSV format here, Green Button ESPI
XML in ``espi.parse_espi``; ``parse_file`` picks one and pauses the garbage collector meanwhile.

Both return a ``readings.ParsedReadings`` (groups plus every bad row with its line and reason); a file
that is wrong as a whole raises ``readings.MalformedFile`` and nothing from it is loaded.

The CSV loop is the hot path of ingestion (tens of millions of rows a day at utility scale), so it
does the minimum per row: a file without quotes is split with ``str.split`` (``csv.reader`` only when
it has quotes), timestamps are parsed once per distinct string and cached (a day file repeats the same
96 start times for every meter), meters are looked up in a dict, and a group key is one int. The
decisions (which path, is this chunk clean) sit in small functions around flat loops. Profiled with
cProfile; see docs/usage.md.
"""

from __future__ import annotations

import csv
import gc
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import groupby, islice
from operator import or_
from typing import NamedTuple

from django.utils import timezone

from accounts.usage import timegrid
from accounts.usage.espi_read import parse_espi
from accounts.usage.models import QUALITY_ACTUAL, QUALITY_EDITED, QUALITY_ESTIMATED, QUALITY_MISSING
from accounts.usage.readings import (
    DURATION_TO_MINUTES,
    DURATIONS_TEXT,
    METER_SHIFT,
    MalformedFile,
    ParsedReadings,
    encode_day,
    max_wh,
    out_of_range,
)
from accounts.usage.usage_points import UsagePointResolver

CSV_HEADER = ["meter_number", "start", "duration_s", "value_wh", "quality", "channel"]

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


class _OutOfRange(str):
    """A placement failure that refuses the whole file (a start outside the accepted years)."""

    __slots__ = ()


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
            result: tuple | str = f"duration_s {duration[:12]!r} is not {DURATIONS_TEXT}"
        else:
            try:
                start_utc = timegrid.parse_start(start)
                if start_utc >= self.latest:
                    raise timegrid.BadTimestamp("start is in the future")
                day, slot, slots = timegrid.place(start_utc, minutes)
                result = (encode_day(day, minutes), slot, slots, max_wh(minutes))
            except timegrid.StartOutOfRange:
                result = _OutOfRange(repr(start[:40]))
            except timegrid.BadTimestamp as exc:
                result = str(exc)
        self.for_duration(duration)[start] = result
        return result


# A chunk's text, its fields and the columns mapped from them should stay in the CPU's cache while they
# are worked on: half a megabyte (~8,000 rows) parsed a day file with ~20 % less CPU than 4 MB chunks did
# (measured on 2 MB L2 caches; 256 kB to 1 MB were alike, smaller ones pay per-chunk costs).
CSV_CHUNK_ROWS = 8192  # quoted files (csv.reader path)
CSV_CHUNK_CHARS = 512 << 10  # unquoted files

# Called with the result so far after each chunk of a CSV file (``pipeline``: hands finished meter-days
# to the loader while the rest is parsed). It may raise to stop the parse.
ChunkDone = Callable[[ParsedReadings], None]


class _CsvState:
    """What the chunk parsers share for one file."""

    def __init__(self, meters: dict[str, int]):
        self.result = ParsedReadings(file_format="csv")
        self.placer = _Placer(timezone.now())
        self.meter_keys = {number: meter_id << METER_SHIFT for number, meter_id in meters.items()}
        self._columns: dict[str, tuple[dict, dict, int]] = {}
        self._whole: dict[int, dict[str, int]] = {}  # limit -> value text -> its int, checked against the limit

    def columns_cache(self, duration: str, cache: dict) -> tuple[dict, dict]:
        """start -> day bits and start -> slot, derived from the placer's cache for one duration.

        Rebuilt whenever that cache has grown since: starts are also placed by ``_slow_chunk`` and by a
        fast chunk that gives up, and a later clean chunk may hold nothing but those."""
        found = self._columns.get(duration)
        if found is None or found[2] != len(cache):
            good = {start: placed for start, placed in cache.items() if not isinstance(placed, str)}
            found = self._columns[duration] = (
                {start: placed[0] for start, placed in good.items()},
                {start: placed[1] for start, placed in good.items()},
                len(cache),
            )
        return found[0], found[1]

    def whole_numbers(self, values: list[str], limit: int) -> list[int]:
        """``values`` as ints; ValueError if any is not a whole number from 0 to ``limit``.

        Interval values repeat a lot (a few thousand distinct Wh figures in a day file), so each distinct
        text is converted and checked once and then looked up, which costs less than half of ``int`` per value.
        Where they hardly repeat (daily reads), a cache would only grow: each is converted."""
        known = self._whole.get(limit)
        if known is None:
            known = self._whole[limit] = {}
        new = set(values).difference(known)
        if len(new) > len(values) >> 2:
            numbers = list(map(int, values))
            if min(numbers) < 0 or max(numbers) > limit:
                raise ValueError("out of range")
            return numbers
        for text in new:
            number = int(text)
            if number < 0 or number > limit:
                raise ValueError("out of range")
            known[text] = number
        return list(map(known.__getitem__, values))


def parse_csv(data: bytes, meters: dict[str, int], on_chunk: ChunkDone | None = None) -> ParsedReadings:
    """Parse the MDMS CSV format (docs/usage.md): one reading per line, header ``CSV_HEADER``.

    ``meters`` maps meter_number -> meter id. Rows are read in chunks; a chunk whose every row is
    well formed goes through ``_fast_chunk`` (column-wise, C-level maps, whole meter-days sliced in
    one step); any chunk with a doubtful row is redone row by row by ``_slow_chunk``, which finds and
    reports each bad row. Both give the same result for good rows (tests/usage/test_parsers_and_demo.py).
    ``on_chunk`` (if given) is called after each chunk.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedFile(f"the file is not UTF-8 text (byte {exc.start})") from None
    if '"' in text:
        return _parse_quoted(text, meters, on_chunk or _nothing)
    return _parse_unquoted(text, meters, on_chunk or _nothing)


def _nothing(result: ParsedReadings) -> None:
    pass


def _parse_unquoted(text: str, meters: dict[str, int], on_chunk: ChunkDone) -> ParsedReadings:
    """No quoting anywhere (the normal case): plain splitting is several times faster than csv.reader
    and gives the same rows; line numbers are exact because no field can span lines. The text is cut
    into ~512 kB chunks at line ends; a chunk whose field count is six per line is split in one call and
    sliced into columns."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # The text ends at ``total`` (trailing newlines left out) and the header at the first newline: indexes,
    # because rstrip or partition would each copy the whole file (tens of MB: ~0.05 s each, measured).
    total = len(text)
    while total and text[total - 1] == "\n":
        total -= 1
    if not total:
        raise MalformedFile("the file is empty")
    header_end = text.find("\n", 0, total)
    header_end = total if header_end < 0 else header_end
    _check_header(text[:header_end].split(","))
    state = _CsvState(meters)
    position = header_end + 1
    line = 2
    while position < total:
        end = text.find("\n", position + CSV_CHUNK_CHARS, total) if position + CSV_CHUNK_CHARS < total else -1
        end = total if end < 0 else end
        chunk = text[position:end]
        lines = chunk.count("\n") + 1
        fields = chunk.replace("\n", ",").split(",")
        columns = tuple(fields[index::6] for index in range(6)) if len(fields) == 6 * lines else None
        if columns is None or not _fast_chunk(columns, line, state):
            _slow_chunk([row.split(",") for row in chunk.split("\n")], line, state)
        line += lines
        position = end + 1
        on_chunk(state.result)
    return state.result


def _parse_quoted(text: str, meters: dict[str, int], on_chunk: ChunkDone) -> ParsedReadings:
    """A file with quotes goes through ``csv.reader(strict=True)``, in chunks of ``CSV_CHUNK_ROWS`` rows."""
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
        while chunk := list(islice(reader, CSV_CHUNK_ROWS)):
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
            on_chunk(state.result)
    except csv.Error as exc:
        raise MalformedFile(f"line {reader.line_num}: not valid CSV ({exc})") from None
    return state.result


def _check_header(header: list[str]) -> None:
    if [column.strip() for column in header] != CSV_HEADER:
        raise MalformedFile(f"wrong header: expected {','.join(CSV_HEADER)}")


_RANGES: dict[int, list[int]] = {}


class _Columns(NamedTuple):
    """A chunk's rows mapped column-wise; position i of each list is row i of the chunk."""

    runs: list[tuple[int, int, int]]  # (group key, first row, row after the last), see ``_runs``
    slots: list[int]
    wh: list[int]
    quality_codes: bytes
    starts: list[str]
    placed: dict[str, tuple | str]  # the placer's cache for the chunk's one duration: start -> placement


def _fast_chunk(columns: tuple, first_line: int, state: _CsvState) -> bool:
    """Column-wise parse of a chunk of six-field rows in which every row is good.

    Returns False, having recorded nothing, as soon as any row is doubtful; the caller then runs
    ``_slow_chunk`` on the same rows.
    """
    mapped = _map_columns(columns, state)
    if mapped is None:
        return False
    _group_columns(mapped, first_line, state.result)
    return True


def _map_columns(columns: tuple, state: _CsvState) -> _Columns | None:
    """The six text columns as keys, slots, values and quality codes, each by C-level ``map``s; None
    when any row is doubtful (mixed durations, a bad start, an unknown meter, channel or quality, a
    missing, non-integer or impossible value). Lookups use ``__getitem__`` so a doubtful row raises
    (KeyError, ValueError) instead of leaving a None that would need a scan of its own."""
    numbers, starts, durations, values, qualities, channels = columns
    duration = durations[0]
    if durations.count(duration) != len(durations):
        return None
    cache = state.placer.for_duration(duration)
    unique = set(starts)
    new = unique.difference(cache)
    for start in new:
        state.placer.resolve(start, duration)
    placed_unique = [cache[start] for start in unique]
    if any(isinstance(placed, str) for placed in placed_unique):
        return None
    daybits_of, slot_of = state.columns_cache(duration, cache)
    try:
        quality_codes = bytes(map(QUALITIES.__getitem__, qualities))
        channel_bits = bytes(map(CHANNELS.__getitem__, channels))
        wh = state.whole_numbers(values, placed_unique[0][3])
        days = {placed[0] for placed in placed_unique}
        if len(days) == 1:  # the usual day file: runs of one meter number are runs of one meter-day
            runs = _runs(numbers, channel_bits, state.meter_keys, days.pop())
        else:
            meter_days = map(or_, map(state.meter_keys.__getitem__, numbers), map(daybits_of.__getitem__, starts))
            runs = _runs(list(meter_days), channel_bits)
    except (KeyError, ValueError):
        return None
    if _MISSING in quality_codes:
        return None
    slots = list(map(slot_of.__getitem__, starts))
    return _Columns(runs, slots, wh, quality_codes, starts, cache)


def _runs(
    rows: list, channel_bits: bytes, meter_keys: dict[str, int] | None = None, daybits: int = 0
) -> list[tuple[int, int, int]]:
    """(group key, first row, row after the last) of each run of equal ``rows``: meter-day keys, or, in a
    chunk of one day (``meter_keys`` given), meter numbers, so the meter is looked up once a run rather
    than once a row (KeyError for an unknown one). The channel is added per run too: a run is split
    only where its channel changes (a solar meter's received rows right after its delivered ones).
    Two numbers of one meter in a row make two runs of one key, which grouping handles like any
    meter-day given in pieces."""
    runs = []
    index = 0
    for row, run in groupby(rows):
        stop = index + len(list(run))
        meter_day = row if meter_keys is None else meter_keys[row] | daybits
        channel = channel_bits[index]
        if channel_bits.count(channel, index, stop) == stop - index:
            runs.append((meter_day | channel, index, stop))
        else:
            for channel, same in groupby(channel_bits[index:stop]):
                end = index + len(list(same))
                runs.append((meter_day | channel, index, end))
                index = end
        index = stop
    return runs


def _group_columns(mapped: _Columns, first_line: int, result: ParsedReadings) -> None:
    """Runs of equal keys into their groups: a whole meter-day in slot order is sliced in one step,
    anything else is placed slot by slot (a slot already filled by this file is a duplicate row)."""
    runs, slots, wh, quality_codes, starts, placed = mapped
    result.readings += len(slots)
    groups = result.groups
    for key, index, stop in runs:
        length = stop - index
        slots_in_day = placed[starts[index]][2]
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
            if isinstance(placed, _OutOfRange):
                raise out_of_range(line, placed)
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


def detect_format(data: bytes, filename: str = "") -> str:
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") or filename.lower().endswith(".xml"):
        return "espi"
    return "csv"


def chosen_format(data: bytes, file_format: str | None, filename: str = "") -> str:
    """The format asked for, else the one the content or name shows; MalformedFile for an unknown one."""
    file_format = file_format or detect_format(data, filename)
    if file_format not in ("csv", "espi"):
        raise MalformedFile(f"unknown format {file_format!r}; use csv or espi")
    return file_format


def parse_file(
    data: bytes,
    meters: dict[str, int],
    *,
    file_format: str | None = None,
    filename: str = "",
    resolver: UsagePointResolver | None = None,
    on_chunk: ChunkDone | None = None,
) -> ParsedReadings:
    """``on_chunk``: see ``ChunkDone`` (CSV only: an ESPI file is parsed in one piece)."""
    file_format = chosen_format(data, file_format, filename)
    # Parsing allocates millions of small lists that never form cycles; the cyclic collector
    # re-scanning them made the parse three times slower (measured), so it pauses meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return parse_espi(data, meters, resolver) if file_format == "espi" else parse_csv(data, meters, on_chunk)
    finally:
        if collecting:
            gc.enable()
