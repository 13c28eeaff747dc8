"""Auditor views an auditor can use (issue 15.5): members found by member or account number, filters that
ignore case, the co-op's local time on screen and in every download (labelled), a PDF of any filtered view
(itself logged), and access-log rows that say what was searched (masked where it is an identifier)."""

from __future__ import annotations

import datetime
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from disclosures.models import DisclosureLogEntry
from members import roles
from members.audit import audit_record
from members.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db
ACCESS = "/audit/access-log/"
PDFTOTEXT, PDFTOPPM = shutil.which("pdftotext") or "pdftotext", shutil.which("pdftoppm") or "pdftoppm"
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


@pytest.fixture
def viewed(members):
    """Two members, each viewed once by a different staff login."""
    with transaction.atomic():
        audit_record(actor=None, actor_label="Analyst-Ana", action="access.view_member", obj=members[0])
        audit_record(actor=None, actor_label="csr-casey", action="access.reveal", obj=members[1], fields=["ssn"])
    return members


def _rows(response) -> str:
    return response.content.decode().split("<tbody>")[1].split("</tbody>")[0]


def test_a_member_number_or_account_number_filters_the_access_log(client, auditor, viewed):
    account = factories.AccountFactory(member=viewed[1])
    client.force_login(auditor)
    by_number = _rows(client.get(ACCESS, {"member": viewed[0].member_number.lower()}))
    assert f"members.member#{viewed[0].pk}" in by_number and f"members.member#{viewed[1].pk}" not in by_number
    by_account = _rows(client.get(ACCESS, {"member": account.account_number}))
    assert f"members.member#{viewed[1].pk}" in by_account and f"members.member#{viewed[0].pk}" not in by_account


def test_a_number_that_names_nobody_lists_nothing_and_says_so(client, auditor, viewed):
    client.force_login(auditor)
    response = client.get(ACCESS, {"member": "M9999999"})
    assert "members.member#" not in _rows(response)  # before: every row, unfiltered
    assert "No member or account has the number M9999999" in response.content.decode()
    disclosures = client.get("/audit/disclosures/", {"member": "M9999999"})
    assert "No entries match" in disclosures.content.decode()


def test_staff_and_action_filters_ignore_case_and_match_part(client, auditor, viewed):
    client.force_login(auditor)
    by_staff = _rows(client.get(ACCESS, {"actor": "analyst"}))
    assert "Analyst-Ana" in by_staff and "csr-casey" not in by_staff
    by_action = _rows(client.get(ACCESS, {"action": "REVEAL"}))
    assert "access.reveal" in by_action and "access.view_member" not in by_action


def test_times_are_local_and_labelled_on_screen_and_in_the_csv(client, auditor, members):
    with transaction.atomic():
        audit_record(actor=None, actor_label="csr-9", action="access.view_member", obj=members[0])
    event = AuditEvent.objects.get(action="access.view_member")
    local = timezone.localtime(event.at).strftime("%Y-%m-%d %H:%M:%S")
    utc = event.at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert local != utc  # the co-op is not on UTC (TIME_ZONE, America/Chicago by default)
    client.force_login(auditor)
    page = client.get(ACCESS).content.decode()
    assert f"When ({settings.TIME_ZONE})" in page and local in page
    csv_text = b"".join(client.get(ACCESS, {"export": "csv"}).streaming_content).decode()
    header, first = csv_text.splitlines()[:2]
    assert header.startswith(f"id,at ({settings.TIME_ZONE}),") and local in first
    assert utc not in csv_text


def test_any_filtered_view_downloads_as_a_pdf_that_is_itself_logged(client, auditor, viewed, tmp_path):
    client.force_login(auditor)
    before = DisclosureLogEntry.objects.count()
    response = client.get(ACCESS, {"actor": "analyst", "export": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    entry = DisclosureLogEntry.objects.order_by("-seq").first()
    assert DisclosureLogEntry.objects.count() == before + 1
    assert entry.format == "pdf" and entry.basis_ref == "auditor export: access-log" and entry.row_count == 1
    assert AuditEvent.objects.filter(action="audit.export", actor=auditor, detail__format="pdf").exists()
    pdf = tmp_path / "access.pdf"
    pdf.write_bytes(response.content)
    text = subprocess.run([PDFTOTEXT, "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout  # noqa: S603
    assert "Access log" in text and "Analyst-Ana" in text and "csr-casey" not in text
    assert "actor = analyst" in text and settings.TIME_ZONE in text and "page 1 of 1" in text
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - a PNG of the first page, to look at (var/screenshots)
        [PDFTOPPM, "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf), str(SCREENSHOTS / "audit-access-log-pdf")],
        check=True,
    )


@pytest.mark.parametrize("url", ["/audit/disclosures/", "/audit/refused/", "/audit/consents/", ACCESS])
def test_the_pdf_is_refused_to_a_csr_and_to_anonymous(client, csr, url):
    assert client.get(url, {"export": "pdf"}).status_code == 302
    client.force_login(csr)
    assert client.get(url, {"export": "pdf"}).status_code == 403


def test_the_access_log_records_what_was_searched_masking_identifiers(client, make_user, auditor):
    analyst = make_user("analyst-ana", role=roles.RED_FLAG_ANALYST)
    factories.MemberFactory(legal_name="Anna Whitfield")
    client.force_login(analyst)
    # Searches are posted (identifiers never travel in a URL) and listed at ?_qt=<token>.
    for term in ("Whitfield", "123-45-6789", "IL:D12345678"):
        client.post("/admin/members/member/search/", {"q": term}, follow=True)
    searched = list(
        AuditEvent.objects.filter(action="access.list_members").order_by("id").values_list("detail__search", flat=True)
    )
    assert searched == ["Whitfield", "\u2022\u2022\u2022\u2022\u20226789", "IL:\u2022\u2022\u2022\u2022\u20225678"]
    client.force_login(auditor)
    page = client.get(ACCESS, {"action": "list_members"}).content.decode()
    assert "Whitfield" in page and "6789" in page and "123-45-6789" not in page and "D12345678" not in page
