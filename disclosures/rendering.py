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
import unicodedata
from collections.abc import Callable, Generator, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

# Green Button XML is written by the usage app, beside its reader and the one copy of the ESPI schemas.
from accounts.usage.espi import EspiView as EspiView
from accounts.usage.espi import render_espi as render_espi
from accounts.usage.espi_customer import CustomerView as CustomerView
from accounts.usage.espi_customer import render_espi_customer as render_espi_customer
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


def _latin1(text: str) -> str:
    """The PDF's core fonts hold Latin-1 only: typographic marks become plain ones, other letters lose their
    accents (the JSON copy keeps every value exactly)."""
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'").replace("\u00b7", "-")
    if text.isascii():
        return text
    return unicodedata.normalize("NFKD", text).encode("latin-1", "ignore").decode("latin-1")


def _column_widths(pdf, header: list[str], rows: list[list[str]], total: float) -> tuple[float, ...]:
    """Each column as wide as its text usually is (its 90th-percentile cell, and its heading's longest
    word); when they do not all fit, the columns too wide for a fair share wrap and share what is left."""
    natural = []
    for index, name in enumerate(header):
        pdf.set_font("Helvetica", "B", 7.5)
        word = max((pdf.get_string_width(part) for part in name.split()), default=0)
        pdf.set_font("Helvetica", "", 7.5)
        widths = sorted(pdf.get_string_width(row[index]) for row in rows[:200]) or [0.0]
        natural.append(max(widths[int(0.9 * (len(widths) - 1))], word, 6) + 2 * _PAD + 0.5)
    if sum(natural) <= total:
        spare = (total - sum(natural)) / len(natural)
        return tuple(width + spare for width in natural)
    fixed = [width for width in natural if width <= total / len(natural)]
    wide = [width for width in natural if width > total / len(natural)]
    room = total - sum(fixed)
    return tuple(width if width <= total / len(natural) else room * width / sum(wide) for width in natural)


_LINE, _PAD = 3.6, 1.0  # mm: a table line's height and a cell's padding


def _wrapped(pdf, text: str, width: float) -> list[str]:
    """``text`` in lines that fit ``width``: words greedily, a word longer than a line cut by characters."""
    if not text or pdf.get_string_width(text) <= width:
        return [text]
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if pdf.get_string_width(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while pdf.get_string_width(word) > width and len(word) > 1:
            cut = len(word)
            while cut > 1 and pdf.get_string_width(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current:
        lines.append(current)
    return lines


def _draw_table(pdf, header: list[str], rows: list[list[str]], widths: tuple[float, ...]) -> None:
    """A plain table drawn with ``text`` and ``line``: the header (bold, shaded) repeats on every page.

    fpdf2's own ``table()`` lays out every cell through ``multi_cell`` (milliseconds each); a copy has a few
    thousand cells, and plain drawing keeps the whole PDF well under a second."""
    left = pdf.l_margin

    def draw(cells: list[str], bold: bool) -> None:
        pdf.set_font("Helvetica", "B" if bold else "", 7.5)
        wrapped = [_wrapped(pdf, cell, width - 2 * _PAD) for cell, width in zip(cells, widths, strict=True)]
        height = max(len(lines) for lines in wrapped) * _LINE + 2 * _PAD
        if pdf.get_y() + height > pdf.page_break_trigger:
            pdf.add_page()
            if not bold:
                draw(header, bold=True)
                pdf.set_font("Helvetica", "", 7.5)
        top = pdf.get_y()
        if bold:
            pdf.set_fill_color(223, 225, 226)
            pdf.rect(left, top, sum(widths), height, style="F")
        x = left
        for lines, width in zip(wrapped, widths, strict=True):
            for number, line in enumerate(lines):
                if line:
                    pdf.text(x + _PAD, top + _PAD + (number + 0.78) * _LINE, line)
            x += width
        pdf.set_draw_color(86, 92, 101) if bold else pdf.set_draw_color(201, 201, 201)
        pdf.line(left, top + height, left + sum(widths), top + height)
        pdf.set_y(top + height)

    draw(header, bold=True)
    for row in rows:
        draw(row, bold=False)
    pdf.set_x(left)


def render_member_copy_pdf(*, meta: dict, sections: list) -> bytes:
    """A member's full copy as a readable PDF: a title, then one titled table per section (headings repeat
    on each page), page numbers in the footer.

    Laid out by fpdf2 directly rather than through HTML: ten years of bills, payments and a year of monthly
    usage is several hundred rows, which xhtml2pdf takes seconds to lay out and fpdf2 a fraction of one
    (``portal.full_copy_s``).
    """
    from fpdf import FPDF

    coop, number = _latin1(str(meta["coop"])), _latin1(str(meta["member_number"]))

    class CopyPDF(FPDF):
        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("Helvetica", "", 7.5)
            self.set_text_color(85, 85, 85)
            self.cell(0, 5, f"{coop} - your information, member {number} - page {self.page_no()} of {{nb}}")

    pdf = CopyPDF(orientation="P", unit="mm", format="Letter")
    pdf.set_title(f"Your information at {coop}")
    pdf.set_author(coop)
    pdf.set_margins(13, 14, 13)
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 9, f"Your information at {coop}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.set_text_color(61, 69, 81)
    pdf.multi_cell(
        0,
        4.5,
        _latin1(
            f"Member {meta['member_number']} - prepared {meta['prepared_at_text']} at your request, in the member "
            "portal. Everything the co-op holds about you: keep this document safe, it shows your identifiers in "
            "full. The JSON data file holds the same information for a program to read."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    width = pdf.epw
    for section in sections:
        pdf.ln(3)
        pdf.set_text_color(22, 46, 81)
        pdf.set_font("Helvetica", "B", 11.5)
        pdf.cell(0, 7, _latin1(section.title), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(27, 27, 27)
        if section.note:
            pdf.set_font("Helvetica", "", 8)
            pdf.multi_cell(0, 4, _latin1(section.note), new_x="LMARGIN", new_y="NEXT")
        header = [_latin1(label) for _key, label in section.columns]
        rows = [[_latin1(_cell(value)) for value in row] for row in section.rows]
        pdf.set_font("Helvetica", "", 7.5)
        if not rows:
            pdf.cell(0, 5, "Nothing on file.", new_x="LMARGIN", new_y="NEXT")
            continue
        _draw_table(pdf, header, rows, _column_widths(pdf, header, rows, width))
    return bytes(pdf.output())
