"""Issue 15.6: an annual review a board would sign. The narrative the Program Administrator entered is on
the page and in the PDF (it was on neither), the PDF is laid out from the page's own HTML (tables per
section, a header, page numbers, a signature block, local time) and the two say the same."""

from __future__ import annotations

import html
import shutil
import subprocess

import pytest
from django.utils import timezone

from redflags import services
from tests.redflags.test_pages import REPORT, REPORT_PDF, busy_year  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

NARRATIVE = {
    "experiences": "Two attempted openings with borrowed Social Security numbers were stopped at the counter.",
    "changes_in_methods": "Callers now pose as the member's relatives to change the mailing address.",
    "changes_in_detection": "Caller verification is required before any address change by phone.",
    "changes_in_accounts": "No new types of accounts were offered this year.",
    "changes_in_arrangements": "The bill-print contractor signed a new confidentiality agreement.",
}


@pytest.fixture
def reviewed_year(busy_year, program_admin):  # noqa: F811  (the imported fixture)
    services.annual_review_save(
        actor=program_admin,
        year=timezone.localdate().year,
        recommended_changes="Add CRA alerts to the written program.",
        changes_warranted=True,
        **NARRATIVE,
    )
    return busy_year


def _pdf_text(content: bytes, tmp_path) -> str:
    path = tmp_path / "review.pdf"
    path.write_bytes(content)
    command = [shutil.which("pdftotext") or "/usr/bin/pdftotext", "-layout", str(path), "-"]
    return subprocess.run(command, capture_output=True, check=True, text=True).stdout  # noqa: S603


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def test_the_page_shows_the_narrative_the_administrator_entered(client, program_admin, reviewed_year):
    client.force_login(program_admin)
    body = html.unescape(client.get(REPORT).content.decode())
    for heading, text in (
        ("The co-op's experiences with identity theft", NARRATIVE["experiences"]),
        ("Changes in identity theft methods", NARRATIVE["changes_in_methods"]),
        ("Changes in the co-op's business arrangements with other entities", NARRATIVE["changes_in_arrangements"]),
    ):
        assert heading in body and text in body
    assert "Program Administrator" in body and "For the board of directors" in body  # the signature block
    assert "seed 002" not in body


def test_the_pdf_has_tables_header_page_numbers_signatures_local_time_and_the_narrative(
    client, program_admin, reviewed_year, tmp_path, settings
):
    client.force_login(program_admin)
    response = client.get(REPORT_PDF)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
    text = _squeeze(_pdf_text(response.content, tmp_path))
    # Kept for a person to look at (var/screenshots, beside the browser tests' screenshots).
    from tests.browser.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "annual-review.pdf").write_bytes(response.content)

    for narrative in NARRATIVE.values():
        assert narrative in text, narrative
    assert "Add CRA alerts to the written program." in text
    assert "Identity Theft Prevention Program · annual review" in text  # the running header
    assert "page 1 of" in text  # page numbers
    assert "For the board of directors" in text and "Date" in text  # the signature block
    assert settings.TIME_ZONE in text  # times are the co-op's, and say so
    assert "Rule Red Flag Count" in text  # a table per section, with its column heads


def test_the_page_and_the_pdf_say_the_same(client, program_admin, reviewed_year, tmp_path):
    import re

    client.force_login(program_admin)
    page = client.get(REPORT).content.decode()
    pdf = _squeeze(_pdf_text(client.get(REPORT_PDF).content, tmp_path))
    headings = re.findall(r"<h[23]>([^<]+)</h[23]>", page)
    assert len(headings) > 10
    for heading in headings:
        assert _squeeze(html.unescape(heading)) in pdf, heading
