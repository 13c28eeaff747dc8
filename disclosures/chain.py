"""The disclosure log's keyed hash chain.

Each entry's ``entry_hash`` is HMAC-SHA256 under ``DISCLOSURE_CHAIN_KEY`` over the previous entry's
hash and the entry's canonical content (every column that says what was released to whom and why,
including its sequence number). Consequences, checked by ``verify_chain``:

* altering any column of an entry changes its recomputed hash;
* deleting an entry leaves a gap in ``seq`` and a ``prev_hash`` that points at nothing;
* reordering entries (swapping sequence numbers or content) breaks the ``prev_hash`` links;
* truncating the newest entries disagrees with the ``ChainHead`` row (and with any head an operator
  wrote down from an earlier run: ``verify_disclosure_chain --expect-head``).

The key is a server secret, so someone with write access to the database alone cannot re-forge a
consistent chain after tampering. Appends lock the single ``ChainHead`` row (``SELECT ... FOR
UPDATE``) inside the caller's transaction, so two concurrent releases can never both chain onto the
same predecessor; the unique ``seq`` is a second line of defence.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from disclosures.models import ChainHead, DisclosureLogEntry

GENESIS = "0" * 64

# The order of the content in the canonical form; also the column order the verifier selects.
CANONICAL_COLUMNS = (
    "seq",
    "at",
    "actor_id",
    "actor_label",
    "outcome",
    "recipient_id",
    "recipient_label",
    "basis_kind",
    "basis_ref",
    "purpose",
    "member_ids",
    "member_count",
    "categories",
    "fields",
    "format",
    "row_count",
    "file_sha256",
    "reason",
    "notice_withheld",
)


def chain_key() -> bytes:
    key = getattr(settings, "DISCLOSURE_CHAIN_KEY", "") or ""
    if len(key) < 32:
        raise ImproperlyConfigured("DISCLOSURE_CHAIN_KEY must be set to at least 32 random characters.")
    if key == settings.SECRET_KEY or key == getattr(settings, "BLIND_INDEX_KEY", None):
        raise ImproperlyConfigured("DISCLOSURE_CHAIN_KEY must be its own secret, not SECRET_KEY or BLIND_INDEX_KEY.")
    # Domain separation: the configured secret is never used directly as a MAC key.
    return hmac.new(key.encode(), b"memberguard:disclosure-log-chain:v1", hashlib.sha256).digest()


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# One encoder for every entry (json.dumps with arguments builds a new one per call).
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def canonical(values: tuple) -> bytes:
    """The canonical bytes of one entry: a JSON array in CANONICAL_COLUMNS order (no key names to sort,
    no whitespace), timestamps in UTC with microseconds."""
    as_list = list(values)
    if not isinstance(as_list[1], str):
        as_list[1] = _iso(as_list[1])
    return _encode(as_list).encode()


def entry_hash(key: bytes, prev_hash: str, values: tuple) -> str:
    return hmac.digest(key, prev_hash.encode() + b"\n" + canonical(values), "sha256").hex()


def chain_append(**content) -> DisclosureLogEntry:
    """Append one entry. Must run inside the transaction that does the release it records."""
    if not connection.in_atomic_block:
        raise RuntimeError("chain_append must run inside transaction.atomic()")
    key = chain_key()
    with connection.cursor() as cursor:
        # The migration creates the head; this keeps a flushed test database working, race-free.
        cursor.execute(
            f"INSERT INTO {ChainHead._meta.db_table} (id, seq, entry_hash, updated_at)"  # noqa: S608 - the model's table
            " VALUES (1, 0, %s, now()) ON CONFLICT (id) DO NOTHING",
            [GENESIS],
        )
    head = ChainHead.objects.select_for_update().get(id=1)
    entry = DisclosureLogEntry(
        seq=head.seq + 1,
        # Truncated to microseconds, as PostgreSQL stores it, so the hash recomputes from the row.
        at=timezone.now(),
        prev_hash=head.entry_hash,
        **content,
    )
    entry.member_ids = [int(m) for m in entry.member_ids]
    entry.member_count = entry.member_count or len(entry.member_ids)
    entry.categories = sorted(entry.categories)
    entry.fields = list(entry.fields)
    entry.entry_hash = entry_hash(key, entry.prev_hash, tuple(getattr(entry, column) for column in CANONICAL_COLUMNS))
    entry.save(force_insert=True)
    head.seq = entry.seq
    head.entry_hash = entry.entry_hash
    head.save(update_fields=["seq", "entry_hash", "updated_at"])
    return entry


@dataclass
class ChainReport:
    ok: bool = True
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)
    # Sequence numbers of the first entries found broken, for the auditor page's highlighting.
    broken_seqs: list[int] = field(default_factory=list)

    def fail(self, seq: int | None, message: str, limit: int = 50) -> None:
        self.ok = False
        if len(self.problems) < limit:
            self.problems.append(message)
            if seq is not None:
                self.broken_seqs.append(seq)


def verify_rows(rows: Iterable[tuple], *, key: bytes | None = None) -> ChainReport:
    """Verify rows of (*CANONICAL_COLUMNS, prev_hash, entry_hash) given in ``seq`` order."""
    key = key or chain_key()
    report = ChainReport()
    expected_prev = GENESIS
    expected_seq = 1
    digest = hmac.digest
    compare = hmac.compare_digest
    encode = _encode
    for row in rows:
        values = list(row[:-2])
        prev_hash, stored_hash = row[-2], row[-1]
        seq = values[0]
        if not isinstance(values[1], str):
            values[1] = _iso(values[1])
        if seq != expected_seq:
            report.fail(
                seq,
                f"entry #{seq}: expected #{expected_seq} next: {seq - expected_seq} "
                f"entr{'y' if seq - expected_seq == 1 else 'ies'} missing or out of order",
            )
        if prev_hash != expected_prev:
            report.fail(
                seq, f"entry #{seq}: does not link to the entry before it (deleted, inserted or reordered entry)"
            )
        recomputed = digest(key, prev_hash.encode() + b"\n" + encode(values).encode(), "sha256").hex()
        if not compare(recomputed, stored_hash):
            report.fail(seq, f"entry #{seq}: content does not match its hash (altered entry)")
        expected_prev = stored_hash
        expected_seq = seq + 1
        report.entries += 1
        report.head_seq = seq
        report.head_hash = stored_hash
    return report


# PostgreSQL formats the timestamp exactly as _iso() does (UTC, microseconds), which spares the
# verifier a datetime parse and a strftime per entry.
_SELECT_COLUMNS = ", ".join(
    """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""" if column == "at" else column
    for column in CANONICAL_COLUMNS
)
_SELECT = "SELECT " + _SELECT_COLUMNS + ", prev_hash, entry_hash FROM {table} ORDER BY seq"  # noqa: S608


def _stream_rows(table: str, chunk: int = 5000) -> Iterator[tuple]:
    """Rows in seq order through a server-side cursor, so a million entries never sit in memory."""
    with transaction.atomic(), connection.connection.cursor(name="verify_disclosure_chain") as cursor:
        cursor.itersize = chunk
        cursor.execute(_SELECT.format(table=table))  # noqa: S608 - the model's table or the benchmark's temp table, never input
        yield from cursor


def verify_chain(*, expect_head: tuple[int, str] | None = None, table: str | None = None) -> ChainReport:
    """Verify the whole disclosure log. ``table`` exists for the benchmark's temporary copy only."""
    key = chain_key()
    connection.ensure_connection()
    report = verify_rows(_stream_rows(table or DisclosureLogEntry._meta.db_table), key=key)
    if table is None:
        head = ChainHead.objects.filter(id=1).first()
        head_seq, head_hash = (head.seq, head.entry_hash) if head else (0, GENESIS)
        if (head_seq, head_hash) != (report.head_seq, report.head_hash):
            report.fail(
                None,
                f"the chain ends at #{report.head_seq} but the head records #{head_seq}: "
                "newest entries removed or head tampered with",
            )
    if expect_head is not None:
        seq, hash_ = expect_head
        known = (
            DisclosureLogEntry.objects.filter(seq=seq).values_list("entry_hash", flat=True).first()
            if table is None
            else None
        )
        if table is None and known != hash_:
            report.fail(seq, f"entry #{seq} does not carry the hash recorded earlier for it (rewritten chain)")
    return report
