"""Render export files as streams of bytes: CSV, JSON and Green Button (ESPI 3.3) XML.

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
from collections.abc import Generator, Iterable
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
    header: list[str], rows: Iterable[Iterable], *, meta: dict | None = None
) -> Generator[bytes, None, None]:
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
