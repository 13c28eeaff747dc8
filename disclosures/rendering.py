"""Render export files as streams of bytes: CSV, JSON and Green Button (ESPI 3.3) XML; auditors' PDF tables.

This module and ``disclosures/services/export.py`` are the only places in the project that turn member data
into a file (``tests/disclosures/test_single_export_path.py`` enforces it). Every renderer takes an
iterator of rows and yields encoded chunks, so a 100,000-member export is never held in memory.

CSV cells are neutralised against formula injection by ``members.csv_cells.csv_safe`` (the helper every
staff CSV shares): a cell a spreadsheet would evaluate is prefixed with a single quote.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Generator, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

# Green Button XML is written by the usage app, beside its reader and the one copy of the ESPI schemas.
from accounts.usage.espi import render_espi as render_espi
from members.csv_cells import csv_safe as csv_safe  # the one formula-injection guard (members/csv_cells.py)

CHUNK_ROWS = 500


class _Buffer(io.StringIO):
    def take(self) -> str:
        value = self.getvalue()
        self.seek(0)
        self.truncate(0)
        return value


def render_csv(header: list[str], rows: Iterable[Iterable]) -> Generator[bytes, None, None]:
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


def render_json(
    header: list[str], rows: Iterable[Iterable], *, meta: dict | None = None, trailer: Callable[[], dict] | None = None
) -> Generator[bytes, None, None]:
    """``{"meta": {...}, "records": [{...}, ...], "complete": {"records": n, ...}}`` written record by record.

    The ``complete`` member comes last and only once every record is out (plus ``trailer()``'s counts,
    read at that moment): a document without it was cut off, whatever the HTTP status said.
    """
    yield (b'{"meta":' + json.dumps(meta or {}, default=_json_default).encode() + b',"records":[')
    parts: list[str] = []
    count = 0
    for row in rows:
        record = json.dumps(dict(zip(header, row, strict=True)), default=_json_default)
        parts.append(record if not count else "," + record)
        count += 1
        if len(parts) >= CHUNK_ROWS:
            yield "".join(parts).encode()
            parts = []
    if parts:
        yield "".join(parts).encode()
    complete = {"records": count, **(trailer() if trailer else {})}
    yield ('],"complete":' + json.dumps(complete, default=_json_default) + "}").encode()


def render_table_pdf(*, title: str, subtitle: str, header: list[str], rows: list[list], note: str = "") -> bytes:
    """An auditor's filtered list as a PDF table: title, the filters and time zone under it, page numbers.

    HTML laid out by xhtml2pdf (pure Python, maintained); cells are escaped by the template engine.
    """
    from django.template.loader import render_to_string
    from xhtml2pdf import pisa

    html = render_to_string(
        "disclosures/audit_table_pdf.html",
        {"title": title, "subtitle": subtitle, "header": header, "rows": rows, "note": note},
    )
    buffer = io.BytesIO()
    result = pisa.CreatePDF(html, dest=buffer, encoding="utf-8")
    if result.err:
        raise RuntimeError(f"the PDF of {title!r} could not be laid out ({result.err} errors)")
    return buffer.getvalue()


def _cell(value) -> str:
    """A copy's cell as a reader sees it: dates in words, local times, empty for nothing."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        from django.utils import timezone

        return timezone.localtime(value).strftime("%b %d, %Y %I:%M %p")
    if isinstance(value, date):
        return value.strftime("%b %d, %Y")
    return str(value)


def render_member_copy_json(*, meta: dict, sections: list) -> bytes:
    """A member's full copy as one JSON document: ``{"meta": ..., "sections": {key: {"title", "records"}}}``.

    Small enough to build in memory (one member), so the file is hashed and logged before it is sent."""
    document = {
        "meta": meta,
        "sections": {
            section.key: {"title": section.title, "note": section.note, "records": section.records()}
            for section in sections
        },
    }
    return json.dumps(document, default=_json_default, indent=1, ensure_ascii=False).encode()


def render_member_copy_pdf(*, meta: dict, sections: list) -> bytes:
    """A member's full copy as a readable PDF: one titled table per section, page numbers, the date."""
    from django.template.loader import render_to_string
    from xhtml2pdf import pisa

    tables = [
        {
            "title": section.title,
            "note": section.note,
            "header": [label for _key, label in section.columns],
            "rows": [[_cell(value) for value in row] for row in section.rows],
        }
        for section in sections
    ]
    html = render_to_string("disclosures/member_copy_pdf.html", {"meta": meta, "tables": tables})
    buffer = io.BytesIO()
    result = pisa.CreatePDF(html, dest=buffer, encoding="utf-8")
    if result.err:
        raise RuntimeError(f"the member's copy could not be laid out ({result.err} errors)")
    return buffer.getvalue()
