"""The printed-letter channel: queued letters rendered into one PDF (xhtml2pdf), one page per letter,
the address placed for a windowed envelope."""

from __future__ import annotations

import io

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from xhtml2pdf import pisa

from members.notices.models import Notice


def letters_pdf(letters: list[Notice]) -> bytes:
    html = render_to_string(
        "notices/letters.html",
        {
            "letters": letters,
            "coop_name": settings.COOP_NAME,
            "coop_address": settings.COOP_ADDRESS,
            "today": timezone.localdate(),
        },
    )
    out = io.BytesIO()
    result = pisa.CreatePDF(html, dest=out, encoding="utf-8")
    if result.err:
        raise RuntimeError(f"the letter batch could not be rendered ({result.err} errors)")
    return out.getvalue()
