"""The disclosure log's keyed hash chain (the primitive is members/hashchain.py, shared with the audit trail).

Each entry's ``entry_hash`` is HMAC-SHA256 under a key derived from ``DISCLOSURE_CHAIN_KEY`` over the
previous entry's hash and the entry's canonical content (every column that says what was released to
whom and why, including its sequence number). Consequences, checked by ``verify_chain``:

* altering any column of an entry changes its recomputed hash;
* deleting an entry leaves a gap in ``seq`` and a ``prev_hash`` that points at nothing;
* reordering entries (swapping sequence numbers or content) breaks the ``prev_hash`` links;
* removing the newest entries disagrees with the chain's newest ``ChainAnchor``, which the runtime
  database role can only insert (never update, delete or roll back), and with any head an operator
  wrote down from an earlier run (``verify_disclosure_chain --expect-head``).

The key is a server secret, so someone with write access to the database alone cannot re-forge a
consistent chain after tampering. Appends take the chains' advisory lock inside the caller's
transaction, so two concurrent releases can never both chain onto the same predecessor; the unique
``seq`` is a second line of defence.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.db import connection, transaction
from django.utils import timezone

from disclosures.models import DisclosureLogEntry
from members import hashchain
from members.hashchain import GENESIS, ChainReport, entry_hash

__all__ = ["CANONICAL_COLUMNS", "GENESIS", "ChainReport", "chain_append", "chain_key", "entry_hash", "verify_chain"]

CHAIN = "disclosures"

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
    return hashchain.chain_key(CHAIN)


def chain_append(**content) -> DisclosureLogEntry:
    """Append one entry. Must run inside the transaction that does the release it records."""
    if not connection.in_atomic_block:
        raise RuntimeError("chain_append must run inside transaction.atomic()")
    key = chain_key()
    head_seq, head_hash = hashchain.lock_head(CHAIN)
    entry = DisclosureLogEntry(
        seq=head_seq + 1,
        # Truncated to microseconds, as PostgreSQL stores it, so the hash recomputes from the row.
        at=timezone.now(),
        prev_hash=head_hash,
        **content,
    )
    entry.member_ids = [int(m) for m in entry.member_ids]
    entry.member_count = entry.member_count or len(entry.member_ids)
    entry.categories = sorted(entry.categories)
    entry.fields = list(entry.fields)
    entry.entry_hash = entry_hash(key, entry.prev_hash, tuple(getattr(entry, column) for column in CANONICAL_COLUMNS))
    entry.save(force_insert=True)
    return entry


def verify_rows(rows: Iterable[tuple], *, key: bytes | None = None) -> ChainReport:
    """Verify rows of (*CANONICAL_COLUMNS, prev_hash, entry_hash) given in ``seq`` order."""
    return hashchain.verify_rows(rows, key=key or chain_key())


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
        hashchain.check_anchor(report, CHAIN)
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
