"""The annual review as a PDF for the board: the page's own HTML (redflags/_annual_review_body.html, so the
page and the PDF say the same) laid out by xhtml2pdf with a running header, page numbers and a signature
block, times in the co-op's time zone. The auditor's PDFs use the same library (disclosures/rendering.py)."""

from __future__ import annotations

import io

from django.template.loader import render_to_string


def render_pdf(report: dict) -> bytes:
    from xhtml2pdf import pisa  # deferred: a second of imports that only this download needs

    html = render_to_string("redflags/annual_review_pdf.html", {"report": report})
    buffer = io.BytesIO()
    result = pisa.CreatePDF(html, dest=buffer, encoding="utf-8")
    if result.err:
        raise RuntimeError(f"the annual review {report['year']} could not be laid out ({result.err} errors)")
    return buffer.getvalue()
