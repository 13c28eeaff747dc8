"""`manage.py ingest_usage FILE`: load a CSV or Green Button ESPI XML file of meter readings."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.usage.services import usage_ingest_file


class Command(BaseCommand):
    help = "Ingest a meter reading file (CSV or ESPI XML); bad rows are listed, a malformed file loads nothing."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The file to load.")
        parser.add_argument(
            "--format", choices=["csv", "espi"], default=None, help="Default: guessed from the content."
        )
        parser.add_argument("--actor", default="", help="Username recorded as the sender (default: command).")
        parser.add_argument("--show", type=int, default=20, help="How many bad rows to print.")

    def handle(self, *args, path: str, format: str | None, actor: str, show: int, **options):
        file = Path(path)
        if not file.is_file():
            raise CommandError(f"{path} is not a file")
        user = None
        if actor:
            user = get_user_model().objects.filter(username=actor).first()
            if user is None:
                raise CommandError(f"no user {actor!r}")
        batch = usage_ingest_file(
            data=file.read_bytes(),
            source="command",
            filename=file.name,
            file_format=format,
            actor=user,
            actor_label=f"command:{actor or 'ingest_usage'}",
        )
        if batch.status == batch.Status.REJECTED:
            raise CommandError(f"batch {batch.pk}: file rejected, nothing loaded: {batch.rejection_reason}")
        self.stdout.write(
            f"batch {batch.pk}: {batch.readings_received} readings, {batch.meter_days_inserted} meter-days new, "
            f"{batch.meter_days_changed} changed, {batch.meter_days_unchanged} unchanged, "
            f"{batch.corrections} corrections, {batch.bad_row_count} bad rows ({batch.elapsed_ms} ms)"
        )
        for row in batch.bad_rows[:show]:
            self.stdout.write(f"  line {row['line']}: {row['reason']}")
        if batch.bad_row_count > show:
            self.stdout.write(f"  ... and {batch.bad_row_count - show} more (see batch {batch.pk})")
        for row in batch.not_loaded[:show]:
            point = row["usage_point"]
            self.stdout.write(
                f"  not loaded, line {row['line']}: {row['readings']} readings of UsagePoint "
                f"{point['usage_point_id']!r} ({point['title']!r}): {row['reason']}"
            )
        for row in batch.warnings[:show]:
            self.stdout.write(f"  warning, line {row['line']} ({row['count']}x): {row['reason']}")
