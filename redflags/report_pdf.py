"""The annual review as a PDF for the board (fpdf2, core fonts: Latin-1 only, so text is folded)."""

from __future__ import annotations

import unicodedata

from fpdf import FPDF

from redflags.selectors import annual_review_rows


def _latin1(text: str) -> str:
    text = text.replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'").replace("\u2265", ">=")
    return unicodedata.normalize("NFKD", text).encode("latin-1", "ignore").decode("latin-1")


def render_pdf(report: dict) -> bytes:
    pdf = FPDF(orientation="P", unit="mm", format="Letter")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(
        0,
        8,
        _latin1(f"Identity Theft Prevention Program - annual review {report['year']}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_font("Helvetica", "", 9)
    pdf.multi_cell(
        0,
        5,
        _latin1(
            f"Period {report['period_start']} to {report['period_end']}. "
            f"Generated {report['generated_at']:%Y-%m-%d %H:%M}."
        ),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    section = None
    for name, item, value in annual_review_rows(report):
        if name != section:
            section = name
            pdf.ln(2)
            pdf.set_font("Helvetica", "B", 11)
            pdf.cell(0, 6, _latin1(name.capitalize()), new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "", 9)
        pdf.multi_cell(0, 5, _latin1(f"{item}: {value}" if item else value or "-"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
