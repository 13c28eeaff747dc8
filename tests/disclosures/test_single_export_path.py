"""Member data leaves only through disclosures.services (seed 000 F.1: "does not share ... except").

The test scans the project's own source for the ways Python and Django write data out as a file or a
download. Every hit must be on the allow-list below, each entry with the reason it is not a release of
member information. Adding a CSV/file download anywhere else fails this test: route it through
``disclosures.services.disclosure_export`` (or argue for an allow-list entry in review).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WRITE_OUT = re.compile(
    r"csv\.writer|csv\.DictWriter|StreamingHttpResponse|FileResponse|text/csv|attachment;|application/atom\+xml"
    r"|\.to_csv\(|xlsxwriter|openpyxl|EmailMessage\(|\.attach\(|\.attach_file\(|application/vnd\.ms-excel"
)

ALLOWED = {
    # The gate itself: renderers, the export service, and the auditor pages' logged CSV downloads.
    "disclosures/rendering.py": "the one renderer (CSV/JSON/ESPI) used by the export service",
    # Of the services package only export.py (disclosure_export, its formats and stream); aggregate_export and
    # auditor_csv_export render through rendering.py, so any other module of the package that writes a file
    # is a second export path and fails the scan.
    "disclosures/services/export.py": "disclosure_export: checked, logged releases (formats and the stream)",
    "disclosures/views.py": "auditor CSV downloads, streamed from services.auditor_csv_export (logged)",
    # Not member information:
    # The member's own full copy (seed 000 B.2): built, logged on the chain and audited as a reveal by
    # disclosures.services.member_copy_export; an approved membership list (seed 000 G) to the member who
    # asked, streamed from membership_list_export. The portal view only hands the gate's file over.
    "portal/views_rights.py": (
        "the member's full copy (member_copy_export) and their approved membership list (membership_list_export)"
    ),
    "redflags/views.py": "the Red Flags annual review for the board: counts per flag type/outcome, no member fields",
    # Access, not disclosure: the member's own meter intervals to the member (seed 000 B.3, seed 001
    # "timely access in a readily accessible format"), or to staff through the usage app's audited
    # access helper (_account_for_reader). A third party gets usage only via disclosure_export.
    "accounts/usage/api.py": (
        "member's own interval CSV and Green Button XML (B.3 access) and audited staff reads, never a third party"
    ),
    # Green Button Connect My Data: usage resources stream what disclosures.services.disclosure_export
    # released (each pull checked against the member's authorization and logged); ApplicationInformation,
    # Authorization and LocalTimeParameters carry the third party's own registration and the clock.
    "connect/espi_api.py": "ESPI resource API: usage only as disclosure_export streams it, one logged pull each",
    # Inbound, not outbound: the soak's load generator uploads SYNTHETIC readings to the ingest API.
    "config/soak_locustfile.py": "uploads synthetic meter readings to the ingest API under load; reads nothing out",
    "accounts/cis_import/synthetic.py": (
        "writes SYNTHETIC fake rows for the import tests and benchmark; never reads the database"
    ),
    "accounts/cis_migrate/synthetic.py": (
        "writes a SYNTHETIC co-op (cis_generate) for rehearsals, tests and the benchmark; never reads the database"
    ),
    "accounts/management/commands/cis_migrate.py": (
        "the migration's problem report: file, line, field and reason of rejected rows, never a value"
    ),
    # Inbound, not outbound: the CIS import formats the rows it is loading INTO PostgreSQL as CSV for COPY
    # FROM STDIN, in memory; nothing leaves the process except to the database.
    "members/bulk_load.py": "CSV buffer for COPY ... FROM STDIN while importing; writes into the database only",
    # Notices to the member themselves (members/notices): an e-mail to the member's own address on file,
    # and the mail room's PDF of letters addressed to members, downloaded by staff with the print
    # permission. Both carry only what the member is told about their own account (rendering.py refuses
    # identifiers and full numbers); nothing goes to a third party.
    "members/notices/delivery.py": "e-mail notices to the member's own address (no identifiers; rendering.py guard)",
    "members/notices/admin.py": "the mail room's PDF of letters to members, for staff with notices.print_letters",
    # Evidence of destruction, not member information: a certificate lists category, cutoff, count, a
    # SHA-256 digest of the destroyed ids, method and approver (never an id or a value), for the Privacy
    # Officer (retention.view_destructioncertificate).
    "retention/admin.py": "destruction certificates (CSV/PDF): counts and digests, no member data",
    "retention/certificates.py": "renders those certificates: category, cutoff, count, digest, approver",
    # A Red Flags case's attachment (a document staff uploaded to the case) back to staff who may work the
    # case, decrypted for them and audited; it never leaves to a third party.
    "redflags/cases/admin.py": "a case attachment downloaded by staff working the case (audited), not a release",
}

SKIP_DIRS = {".venv", "var", "migrations", "tests", "node_modules", "staticfiles", ".git", ".ruff_cache", "__pycache__"}


def _source_files():
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if SKIP_DIRS & set(relative.parts):
            continue
        yield relative.as_posix(), path.read_text(encoding="utf-8", errors="replace")


def _offenders(files) -> list[str]:
    offenders = []
    for relative, text in files:
        if relative in ALLOWED:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if WRITE_OUT.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()[:100]}")
    return offenders


def test_no_module_outside_the_allow_list_writes_data_out():
    offenders = _offenders(_source_files())
    assert not offenders, "member data may leave only through disclosures.services:\n" + "\n".join(offenders)


def test_a_second_export_path_inside_the_services_package_would_be_caught():
    """The services package is scanned module by module: only export.py is the gate, not the whole folder."""
    files = dict(_source_files())
    service_modules = sorted(relative for relative in files if relative.startswith("disclosures/services/"))
    assert "disclosures/services/consents.py" in service_modules and len(service_modules) > 5
    assert [relative for relative in ALLOWED if relative.startswith("disclosures/services")] == [
        "disclosures/services/export.py"
    ]
    files["disclosures/services/consents.py"] += '\nresponse = StreamingHttpResponse(rows, content_type="text/csv")\n'
    assert [offender.split(":")[0] for offender in _offenders(files.items())] == ["disclosures/services/consents.py"]


def test_the_allow_list_is_tight():
    """Every allow-listed file exists and still needs its entry (no stale holes in the gate)."""
    files = dict(_source_files())
    for relative in ALLOWED:
        assert relative in files, f"{relative} is allow-listed but gone: remove the entry"
        assert WRITE_OUT.search(files[relative]), f"{relative} no longer writes files: remove its allow-list entry"


def test_the_scan_would_catch_a_new_csv_download(tmp_path):
    sample = 'response = HttpResponse(data, content_type="text/csv")\nwriter = csv.writer(response)\n'
    assert len([line for line in sample.splitlines() if WRITE_OUT.search(line)]) == 2


def test_disclosure_views_stream_only_through_the_service():
    """The auditor views never build CSV themselves: they hand rows to services.auditor_csv_export."""
    views = (ROOT / "disclosures/views.py").read_text()
    assert "csv.writer" not in views and "services.auditor_csv_export" in views
