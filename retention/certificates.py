"""Certificates of destruction rendered for download: CSV and PDF (fpdf2), from the stored record."""

from __future__ import annotations

import csv
import io

from fpdf import FPDF

from retention.models import Category, DestructionCertificate

PROGRAM = "Red Flags program internal procedure (1); Privacy Policy D.3 / Records Retention policy 105"


def certificate_rows(certificate: DestructionCertificate) -> list[tuple[str, str]]:
    run = certificate.run
    return [
        ("Certificate", certificate.number),
        ("Category", f"{Category(certificate.category).label} ({certificate.category})"),
        ("Cutoff (records dated before)", certificate.cutoff.isoformat()),
        ("Records destroyed", str(certificate.records_destroyed)),
        ("SHA-256 of destroyed ids", certificate.digest),
        ("Method", certificate.method),
        ("Approved by", certificate.approved_by_label),
        ("Approved at", certificate.approved_at.isoformat() if certificate.approved_at else "(standing schedule)"),
        ("Run started by", certificate.triggered_by_label),
        ("Started", certificate.started_at.isoformat()),
        ("Finished", certificate.finished_at.isoformat()),
        ("Purge run", f"#{run.pk}, {run.batches} batch(es); ids per batch in the audit trail (retention.purge_batch)"),
        ("Issued", certificate.issued_at.isoformat()),
        ("Under", PROGRAM),
    ]


def certificate_csv(certificate: DestructionCertificate) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["field", "value"])
    writer.writerows(certificate_rows(certificate))
    return out.getvalue().encode()


def certificate_pdf(certificate: DestructionCertificate) -> bytes:
    pdf = FPDF(format="Letter")
    pdf.set_title(f"Certificate of destruction {certificate.number}")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 12, "Certificate of destruction", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(
        0, 5, "MemberGuard records that the records described below were destroyed.", new_x="LMARGIN", new_y="NEXT"
    )
    pdf.ln(4)
    for label, value in certificate_rows(certificate):
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(60, 7, label)
        pdf.set_font("Courier" if label.startswith("SHA") else "Helvetica", "", 9 if label.startswith("SHA") else 10)
        pdf.multi_cell(0, 7, value, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
