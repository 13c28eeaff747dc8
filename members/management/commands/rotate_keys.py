"""``manage.py rotate_keys``: re-encrypt under the newest FERNET_KEYS entry and, when
BLIND_INDEX_KEY_PREVIOUS is set, recompute blind indexes under BLIND_INDEX_KEY. Resumable."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from members.rotation import RotationError, keys_rotate


class Command(BaseCommand):
    help = "Rotate encryption and blind-index keys (see docs/keys.md). Safe to interrupt and re-run."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=2000)
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="Worker processes sharing the batches, each with its own database connection "
            "(default: KEY_ROTATION_WORKERS, else one per CPU up to 4; 1 = this process only).",
        )
        parser.add_argument(
            "--skip-indexes", action="store_true", help="Only re-encrypt, even if BLIND_INDEX_KEY_PREVIOUS is set."
        )
        parser.add_argument(
            "--indexes",
            action="store_true",
            help="Recompute every blind index under BLIND_INDEX_KEY even without a previous key "
            "(after changing the index length, or to repair indexes).",
        )

    def handle(self, *args, batch_size: int, workers: int | None, skip_indexes: bool, indexes: bool, **options):
        def progress(label, report):
            stats = report.per_table.get(label, {})
            self.stderr.write(
                f"  {label}: {stats.get('rows', 0)} rows, {stats.get('values', 0)} values, "
                f"{stats.get('indexes', 0)} indexes"
            )

        try:
            report = keys_rotate(
                batch_size=batch_size,
                workers=workers,
                progress=progress,
                rotate_indexes=False if skip_indexes else (True if indexes else None),
            )
        except RotationError as exc:
            raise CommandError(str(exc)) from None
        for label, stats in sorted(report.per_table.items()):
            self.stdout.write(
                f"{label:32s} rows {stats['rows']:>9,}  values {stats['values']:>9,}  indexes {stats['indexes']:>9,}"
            )
        rate = report.values_reencrypted / report.seconds if report.seconds else 0
        self.stdout.write(
            self.style.SUCCESS(
                f"run {report.run_id}{' (resumed)' if report.resumed else ''}: "
                f"{report.values_reencrypted:,} values re-encrypted, "
                f"{report.indexes_recomputed:,} indexes recomputed in {report.seconds:.1f}s ({rate:,.0f} values/s, "
                f"{report.workers} worker{'s' if report.workers != 1 else ''}). "
                "The old FERNET_KEYS entry and BLIND_INDEX_KEY_PREVIOUS may now be removed."
            )
        )
