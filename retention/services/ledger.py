"""The destruction ledger: every destroyed record by a keyed blind digest, so that a database restored
from a backup taken before a purge can be purged again (``manage.py reapply_destruction_ledger``).

The ledger is written twice: to ``DestructionLedgerEntry`` (append-only, with its run) and, after each
batch commits, to one JSON-lines file per run under ``settings.RETENTION_LEDGER_DIR``. A restore brings
the database back to before the purge, ledger table included, so the files are what survives it: back
them up separately from the database (docs/backups.md). They hold digests only, never ids or values.

Digest: HMAC-SHA256 under ``RETENTION_LEDGER_KEY`` of ``"<category>:<primary key>"``, 32 hex digits.
Primary keys survive a dump and restore (pg_dump keeps them), so the digest recomputed over the
restored rows finds the same records.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import defaultdict
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction

from retention.models import DestructionLedgerEntry, PurgeRun


def ledger_digest(category: str, pk: int) -> str:
    key = settings.RETENTION_LEDGER_KEY.encode()
    return hmac.new(key, f"{category}:{pk}".encode(), hashlib.sha256).hexdigest()[:32]


def ledger_dir() -> Path:
    return Path(settings.RETENTION_LEDGER_DIR)


def ledger_record(*, run: PurgeRun, category: str, ids: list[int], to_file: bool = True) -> None:
    """Inside the batch's transaction: the rows now; the file line once the batch has committed."""
    key = settings.RETENTION_LEDGER_KEY.encode()
    digests = [hmac.new(key, f"{category}:{pk}".encode(), hashlib.sha256).hexdigest()[:32] for pk in ids]
    # One statement per batch (a model instance per entry cost more than the destruction itself).
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {DestructionLedgerEntry._meta.db_table} (run_id, category, digest, at) "  # noqa: S608
            "SELECT %s, %s, digest, now() FROM unnest(%s::text[]) AS digest",
            [run.pk, category, digests],
        )
    if to_file:
        line = json.dumps({"run": run.pk, "category": category, "digests": digests}) + "\n"
        transaction.on_commit(lambda: _append(run.pk, line))


def _append(run_id: int, line: str) -> None:
    directory = ledger_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f"run-{run_id:08d}.jsonl").open("a", encoding="utf-8") as out:
        out.write(line)


def read_ledger(directory: Path | None = None) -> dict[str, set[str]]:
    """Digests per category: every ledger file in ``directory`` plus the entries in this database."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted((directory or ledger_dir()).glob("run-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                found[entry["category"]].update(entry["digests"])
    for category, digest in DestructionLedgerEntry.objects.values_list("category", "digest").iterator(chunk_size=10000):
        found[category].add(digest)
    return found
