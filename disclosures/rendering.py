"""Render export files as streams of bytes: CSV, JSON and Green Button (ESPI 3.3) XML.

This module and ``disclosures/services/export.py`` are the only places in the project that turn member data
into a file (``tests/disclosures/test_single_export_path.py`` enforces it). Every renderer takes an
iterator of rows and yields encoded chunks, so a 100,000-member export is never held in memory.

CSV cells are neutralised against formula injection (OWASP "CSV injection"): a cell that a
spreadsheet would evaluate (starting with ``= + - @``, a tab or a carriage return) is prefixed with a
single quote, so a name like ``=HYPERLINK(...)`` reaches the recipient as text.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
ESPI_NS = "http://naesb.org/espi"
ATOM_NS = "http://www.w3.org/2005/Atom"

_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 500


def csv_safe(value) -> str:
    """One CSV cell as text, neutralised if a spreadsheet would read it as a formula."""
    if value.__class__ is str:  # the common case, kept cheap: 100,000 members x a dozen cells
        if not value or value[0] not in _FORMULA_TRIGGERS:
            return value
        return value if _is_plain_number(value) else "'" + value
    if value is None:
        return ""
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat()
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    if text and text[0] in _FORMULA_TRIGGERS:
        # A leading quote makes Excel/LibreOffice/Sheets show the text verbatim. Numbers are exempt
        # only when the whole cell is a plain number (e.g. a negative kWh adjustment).
        if not _is_plain_number(text):
            return "'" + text
    return text


def _is_plain_number(text: str) -> bool:
    try:
        Decimal(text)
    except Exception:  # noqa: BLE001 - any parse failure means "not a number"
        return False
    return text.strip() == text and text.lstrip("+-").replace(".", "", 1).isdigit()


class _Buffer(io.StringIO):
    def take(self) -> str:
        value = self.getvalue()
        self.seek(0)
        self.truncate(0)
        return value


def render_csv(header: list[str], rows: Iterable[Iterable]) -> Iterator[bytes]:
    buffer = _Buffer()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_safe(h) for h in header])
    pending = 0
    for row in rows:
        writer.writerow([csv_safe(value) for value in row])
        pending += 1
        if pending >= CHUNK_ROWS:
            yield buffer.take().encode()
            pending = 0
    yield buffer.take().encode()


def _json_default(value):
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def render_json(header: list[str], rows: Iterable[Iterable], *, meta: dict | None = None) -> Iterator[bytes]:
    """``{"meta": {...}, "records": [{...}, ...]}`` written record by record."""
    yield (b'{"meta":' + json.dumps(meta or {}, default=_json_default).encode() + b',"records":[')
    parts: list[str] = []
    first = True
    for row in rows:
        record = json.dumps(dict(zip(header, row, strict=True)), default=_json_default)
        parts.append(record if first else "," + record)
        first = False
        if len(parts) >= CHUNK_ROWS:
            yield "".join(parts).encode()
            parts = []
    parts.append("]}")
    yield "".join(parts).encode()


# --- Green Button (ESPI) -------------------------------------------------------------------------

# The usage app's quality codes (characters or names) to ESPI QualityOfReading.
_ESPI_QUALITY = {
    "A": 0,
    "actual": 0,
    "valid": 0,
    "E": 8,
    "estimated": 8,
    "D": 7,
    "edited": 7,
    "M": 10,
    "missing": 10,
}


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


def render_espi(usage_points: Iterable[dict], *, base_url: str, now: datetime) -> Iterator[bytes]:
    """An Atom feed of UsagePoint, ReadingType, MeterReading and IntervalBlock entries.

    ``usage_points``: dicts with ``key`` (an opaque stable string, e.g. "acct-42-ch1"), ``title``,
    ``channel`` ("delivered" / "received"), ``readings`` (an iterator of
    ``(start_utc, duration_s, value_wh, quality, channel)`` in time order). Readings are grouped into
    one IntervalBlock per UTC day, so a year of 15-minute data streams in ~365 small chunks.
    """
    stamp = _atom_time(now)
    feed_id = uuid.uuid4()
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<feed xmlns="{ATOM_NS}" xmlns:espi="{ESPI_NS}">'
        f"<id>urn:uuid:{feed_id}</id><title>Green Button usage export</title><updated>{stamp}</updated>"
        f'<link rel="self" href={quoteattr(base_url + "/espi/1_1/resource/Batch/Subscription")} type="espi-feed/Batch"/>'
    ).encode()
    for point in usage_points:
        key = point["key"]
        up = f"{base_url}/espi/1_1/resource/Subscription/{key}/UsagePoint"
        up_self = f"{up}/1"
        reading_type_href = f"{base_url}/espi/1_1/resource/ReadingType/{key}"
        meter_reading_href = f"{up_self}/MeterReading/1"
        blocks_href = f"{meter_reading_href}/IntervalBlock"
        flow = 19 if point.get("channel") in (2, "received") else 1  # 19 = reverse (received), 1 = forward (delivered)
        yield _entry(
            entry_id=str(uuid.uuid5(feed_id, key + "/up")),
            self_href=up_self,
            up_href=up,
            kind="UsagePoint",
            title=point.get("title", "Usage point"),
            now=stamp,
            related=[f"{up_self}/MeterReading"],
            content="<espi:UsagePoint><espi:ServiceCategory><espi:kind>0</espi:kind></espi:ServiceCategory></espi:UsagePoint>",
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
            title="Energy delivered (Wh)" if flow == 1 else "Energy received (Wh)",
            now=stamp,
            content=(
                "<espi:ReadingType><espi:accumulationBehaviour>4</espi:accumulationBehaviour>"
                "<espi:commodity>1</espi:commodity><espi:dataQualifier>12</espi:dataQualifier>"
                f"<espi:flowDirection>{flow}</espi:flowDirection><espi:kind>12</espi:kind>"
                "<espi:phase>769</espi:phase><espi:powerOfTenMultiplier>0</espi:powerOfTenMultiplier>"
                "<espi:timeAttribute>0</espi:timeAttribute><espi:uom>72</espi:uom></espi:ReadingType>"
            ),
        ).encode()
        block_day = None
        block_start = block_end = 0
        readings_xml: list[str] = []
        block_number = 0

        for start, duration, value_wh, quality, _channel in point["readings"]:
            day = start.astimezone(UTC).date()
            if block_day is not None and day != block_day:
                yield _block(
                    feed_id,
                    key,
                    block_number,
                    blocks_href,
                    reading_type_href,
                    stamp,
                    block_day,
                    block_start,
                    block_end,
                    readings_xml,
                )
                readings_xml = []
                block_day = None
            if block_day is None:
                block_day, block_number, block_start = day, block_number + 1, _ts(start)
            begin = _ts(start)
            block_end = begin + int(duration)
            quality_code = _ESPI_QUALITY.get(quality if quality is not None else "A", 16)
            quality_xml = (
                ""
                if quality_code == 0
                else f"<espi:ReadingQuality><espi:quality>{quality_code}</espi:quality></espi:ReadingQuality>"
            )
            value_xml = "" if value_wh is None else f"<espi:value>{int(value_wh)}</espi:value>"
            readings_xml.append(
                f"<espi:IntervalReading>{quality_xml}<espi:timePeriod><espi:duration>{int(duration)}</espi:duration>"
                f"<espi:start>{begin}</espi:start></espi:timePeriod>{value_xml}</espi:IntervalReading>"
            )
        if block_day is not None:
            yield _block(
                feed_id,
                key,
                block_number,
                blocks_href,
                reading_type_href,
                stamp,
                block_day,
                block_start,
                block_end,
                readings_xml,
            )
    yield b"</feed>\n"


def _block(feed_id, key, number, blocks_href, reading_type_href, stamp, day, start, end, readings_xml) -> bytes:
    return _entry(
        entry_id=str(uuid.uuid5(feed_id, f"{key}/ib/{number}")),
        self_href=f"{blocks_href}/{number}",
        up_href=blocks_href,
        kind="IntervalBlock",
        title=f"Readings {day}",
        now=stamp,
        related=[reading_type_href],
        content=(
            f"<espi:IntervalBlock><espi:interval><espi:duration>{end - start}</espi:duration>"
            f"<espi:start>{start}</espi:start></espi:interval>{''.join(readings_xml)}</espi:IntervalBlock>"
        ),
    ).encode()


_schema = None


def espi_schema():
    """The ESPI usage schema (which imports Atom), loaded once from disclosures/schemas/."""
    global _schema
    if _schema is None:
        from lxml import etree

        _schema = etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "usage.xsd")))
    return _schema


def espi_validate(document: bytes) -> list[str]:
    """Schema errors of a Green Button document (empty when valid)."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    tree = etree.fromstring(document, parser)  # noqa: S320 - our own output, entities off
    schema = espi_schema()
    if schema.validate(tree):
        return []
    return [f"line {error.line}: {error.message}" for error in schema.error_log]
