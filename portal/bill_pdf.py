"""A member's bill as a PDF: the document the co-op would mail, laid out from HTML by xhtml2pdf (pure
Python, maintained; the same library as the auditor's and the letters' PDFs).

The page carries what a printed electric bill carries: the co-op's header, the member and service
address, the account and statement numbers, the billing period, the meter reads and usage, the charges
and the amount due with its due date. Nothing sensitive is on it (no identifiers, no bank details).
"""

from __future__ import annotations

import io

from django.conf import settings
from django.template.loader import render_to_string

from accounts.models import Bill


def bill_pdf(*, bill: Bill) -> bytes:
    from xhtml2pdf import pisa

    account = bill.account
    member = account.member
    charges = [{"label": row.get("label", ""), "amount": row.get("amount", "")} for row in bill.charges or []]
    html = render_to_string(
        "portal/bill_pdf.html",
        {
            "bill": bill,
            "account": account,
            "member": member,
            "premise": account.premise,
            "charges": charges,
            "days": (bill.period_end - bill.period_start).days + 1,
            "coop_name": settings.COOP_NAME,
            "coop_phone": settings.COOP_PHONE,
            "coop_address": settings.COOP_ADDRESS,
        },
    )
    buffer = io.BytesIO()
    result = pisa.CreatePDF(html, dest=buffer, encoding="utf-8")
    if result.err:
        raise RuntimeError(f"the PDF of bill {bill.statement_number} could not be laid out ({result.err} errors)")
    return buffer.getvalue()
