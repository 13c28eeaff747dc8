"""``manage.py import_members legacy.csv``: load a legacy CIS export (see accounts/cis_import/).

After a load that loaded members it announces it (``members.signals.members_imported``): Red Flags
(redflags/receivers.py) then checks the whole registry for members sharing an SSN/TIN (Red Flag B5),
since accounts loaded from the legacy system were never scored at opening; its summary is printed.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from accounts.cis_import import COLUMNS, analyze_imported_tables, announce_import, default_workers, import_members
from accounts.cis_import.encoding import EncodingRefused, detect_encoding


class Command(BaseCommand):
    help = "Import members, bank accounts, premises, accounts and meters from a legacy CIS CSV (safe to re-run)."

    def add_arguments(self, parser):
        parser.add_argument("csv_path", help=f"CSV with a header; columns: {', '.join(COLUMNS)}")
        parser.add_argument("--batch-size", type=int, default=5000)
        parser.add_argument(
            "--encoding",
            help="The file's encoding (default: detected: UTF-8 with or without BOM, Windows-1252, Latin-1).",
        )
        parser.add_argument("--report", help="Write bad rows (line, field, reason) to this CSV file.")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help=f"Processes loading batches (default {default_workers()}: one per core, at most four).",
        )

    def handle(self, *args, csv_path: str, batch_size: int, report: str | None, workers: int | None, **options):
        path = Path(csv_path)
        if not path.is_file():
            raise CommandError(f"{csv_path} does not exist")
        try:  # the whole file is decoded once before any row loads: never half a file, never mojibake
            encoding = detect_encoding(path, options.get("encoding"))
        except EncodingRefused as exc:
            raise CommandError(str(exc)) from None
        started = time.perf_counter()

        def progress(state):
            self.stderr.write(
                f"  batch {state.batches}: {state.members_loaded} loaded, "
                f"{state.members_already_present} already present, {state.bad_rows} bad rows so far"
            )

        actor_label = f"import:{path.name}"
        try:
            with path.open(newline="", encoding=encoding) as handle:
                result = import_members(
                    handle,
                    batch_size=batch_size,
                    actor_label=actor_label,
                    on_batch=progress,
                    workers=workers or default_workers(),
                )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if result.members_loaded:
            analyze_imported_tables()
            for summary in announce_import(result, actor_label=actor_label):
                self.stdout.write(self.style.SUCCESS(summary))
        for error in result.errors:
            self.stdout.write(f"  bad row {error}")
        if report:
            with open(report, "w", encoding="utf-8") as out:
                out.write("line,field,reason\n")
                for error in result.errors:
                    out.write(f'{error.line},{error.field},"{error.message.replace(chr(34), chr(39))}"\n')
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.rows_read} rows read: {result.members_loaded} members loaded, "
                f"{result.members_already_present} already present, {result.bad_rows} bad rows; "
                f"{result.bank_accounts_loaded} bank accounts, {result.premises_loaded} premises, "
                f"{result.accounts_loaded} accounts, {result.meters_loaded} meters; "
                f"{result.batches} batches in {elapsed:.1f}s"
            )
        )
