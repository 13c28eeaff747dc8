"""Bulk import of members (and their bank account, premise, account, meter) from a legacy CIS CSV.

The import's interface: ``import_members`` (validate every row, load the good ones batch by batch),
``announce_import`` (tell the rest of the system a load finished: ``members.signals.members_imported``),
``analyze_imported_tables``, and the file's ``COLUMNS``. It lives in accounts because it writes
accounts, premises and meters as well as members (``members`` may not import ``accounts``); each app's
tables are written by that app's bulk-load functions (members.bulk_load, accounts.bulk_load).

* ``columns``: the column spec (which record each column fills, its cleaner, when it must be there);
  the identifying columns come from members/identifiers.py;
* ``cleaning``: reading the file and validating a row; the report and its row errors;
* ``loading``: loading a batch, in this process or in worker processes;
* ``synthetic``: fake but valid rows for the demo data, tests and benchmarks.

A bad row is reported with its line number, field and reason (never its value) and skipped. A re-run is
safe: rows whose member number (account, premise, meter number) already exists are skipped and counted,
never duplicated. The CSV header names the columns (order free; unknown columns are an error, missing
optional ones are empty).
"""

from __future__ import annotations

from typing import TextIO

from django.db import connection
from django.utils import timezone

from accounts.cis_import.cleaning import COLUMNS, CleanRow, ImportReport, RowError, clean_row, read_rows
from accounts.cis_import.loading import BatchFailed, BatchLoader
from members.models import Member
from members.signals import members_imported
from members.worker_pool import default_workers, paused_gc

IMPORTED_TABLES = (
    "members_member",
    "members_financialaccount",
    "accounts_premise",
    "accounts_account",
    "accounts_meter",
)

__all__ = [
    "COLUMNS",
    "IMPORTED_TABLES",
    "BatchFailed",
    "ImportReport",
    "RowError",
    "analyze_imported_tables",
    "announce_import",
    "default_workers",
    "import_members",
]


def analyze_imported_tables() -> None:
    """Refresh the planner's statistics after a bulk load (autovacuum would, later; searches and the
    admin's row estimate should not wait for it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(IMPORTED_TABLES)}")


def _duplicate(row: CleanRow, seen: dict[str, int], seen_accounts: dict[str, int]) -> RowError | None:
    """A row naming a member or an account an earlier row of the file named already."""
    number = row.member["member_number"]
    if number in seen:
        return RowError(row.line, "member_number", f"Duplicate of the member on line {seen[number]}.")
    account = row.account["account_number"] if row.account else None
    if account in seen_accounts:
        return RowError(row.line, "account_number", f"Duplicate of the account on line {seen_accounts[account]}.")
    seen[number] = row.line
    if account:
        seen_accounts[account] = row.line
    return None


def import_members(
    handle: TextIO, *, batch_size: int = 2000, actor_label: str = "import:cis", on_batch=None, workers: int = 1
) -> ImportReport:
    """Validate every row, load the good ones batch by batch. Returns the report (bad rows inside).

    ``workers`` > 1 loads batches in that many processes. Called inside a transaction, the import belongs
    to that transaction and runs in this process whatever ``workers`` says: other processes could neither
    see nor join it. The garbage collector is paused meanwhile (``worker_pool.paused_gc``).
    """
    with paused_gc():
        return _import_members(
            handle, batch_size=batch_size, actor_label=actor_label, on_batch=on_batch, workers=workers
        )


def _import_members(handle: TextIO, batch_size: int, actor_label: str, on_batch, workers: int) -> ImportReport:
    report = ImportReport()
    today = timezone.localdate()
    batch: list[CleanRow] = []
    seen: dict[str, int] = {}
    seen_accounts: dict[str, int] = {}
    loader: BatchLoader | None = None
    try:
        for line, raw in read_rows(handle, report):
            row, errors = clean_row(line, raw, today)
            if row is not None:
                duplicate = _duplicate(row, seen, seen_accounts)
                if duplicate is not None:
                    row, errors = None, [duplicate]
            if errors:
                report.errors.extend(errors)
                continue
            batch.append(row)
            if len(batch) >= batch_size:
                loader = loader or BatchLoader(report, actor_label, on_batch, workers)
                loader.submit(batch)
                batch = []
        if batch:
            loader = loader or BatchLoader(report, actor_label, on_batch, workers)
            loader.submit(batch)
        if loader is not None:
            loader.finish()
    except BaseException:
        if loader is not None:
            loader.abort()
        raise
    return report


def announce_import(report: ImportReport, *, actor_label: str) -> list[str]:
    """Send ``members_imported`` for a finished load that loaded members (``manage.py import_members``
    does, after every load). Returns the one-line summaries receivers answered with (Red Flags' scan for
    members sharing an SSN/TIN), for the command to print."""
    if not report.members_loaded:
        return []
    responses = members_imported.send(sender=Member, member_ids=list(report.member_ids), actor_label=actor_label)
    return [summary for _, summary in responses if summary]
