"""The keyed hash chain shared by the append-only logs (the audit trail here, the disclosure log above).

Each entry's ``entry_hash`` is HMAC-SHA256 over the previous entry's hash and the entry's canonical
content (a JSON array of its columns, sequence number first). A chain is named (``audit``,
``disclosures``); its key is derived from ``DISCLOSURE_CHAIN_KEY`` under a per-chain label, so the
configured secret is never a MAC key itself and one chain's hashes never verify in another.

The head of every chain is *anchored*: each append inserts ``(chain, seq, entry_hash)`` into
``ChainAnchor`` (a trigger on the log table does it, so no row goes in without its anchor), a table
the runtime database role may only INSERT into and SELECT from, whose trigger refuses a ``seq`` that
does not extend the newest anchor. Appends serialise on one transaction-level advisory lock (shared by
all chains, so a transaction that writes to two chains can never deadlock against another taking them
in the other order) and read the predecessor from the newest anchor. Consequences, checked by
``verify_rows`` and ``check_anchor``:

* altering any column of an entry changes its recomputed hash;
* deleting an entry leaves a gap in ``seq`` and a ``prev_hash`` that points at nothing;
* reordering entries breaks the ``prev_hash`` links;
* removing the newest entries disagrees with the newest anchor, which the application's role can
  neither rewrite nor delete (nor roll back: a lower ``seq`` is refused by the anchor's trigger).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

GENESIS = "0" * 64

# One lock for every chain: pg_advisory_xact_lock's key ("MGCHAIN" as a number; any constant will do).
CHAIN_LOCK_KEY = 0x4D4743484149
# The per-chain labels the key is derived under; the disclosure log keeps its original label.
_LABELS = {
    "disclosures": b"memberguard:disclosure-log-chain:v1",
    "audit": b"memberguard:audit-trail-chain:v1",
}


def chain_key(chain: str = "disclosures") -> bytes:
    key = getattr(settings, "DISCLOSURE_CHAIN_KEY", "") or ""
    if len(key) < 32:
        raise ImproperlyConfigured("DISCLOSURE_CHAIN_KEY must be set to at least 32 random characters.")
    if key == settings.SECRET_KEY or key == getattr(settings, "BLIND_INDEX_KEY", None):
        raise ImproperlyConfigured("DISCLOSURE_CHAIN_KEY must be its own secret, not SECRET_KEY or BLIND_INDEX_KEY.")
    # Domain separation: the configured secret is never used directly as a MAC key.
    return hmac.new(key.encode(), _LABELS[chain], hashlib.sha256).digest()


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ip_text(value: str | None) -> str | None:
    """An address as PostgreSQL's ``inet`` gives it back, so the hash recomputes from the row."""
    return str(ipaddress.ip_address(value)) if value else None


# One encoder for every entry (json.dumps with arguments builds a new one per call). Keys sorted, so a
# JSON column hashes the same however PostgreSQL's jsonb orders it.
encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True, sort_keys=True).encode


def canonical(values: Iterable) -> bytes:
    """The canonical bytes of one entry: a JSON array of its columns, timestamps in UTC with microseconds."""
    return encode([iso(value) if isinstance(value, datetime) else value for value in values]).encode()


def entry_hash(key: bytes, prev_hash: str, values: Iterable) -> str:
    return hmac.digest(key, prev_hash.encode() + b"\n" + canonical(values), "sha256").hex()


def lock_head(chain: str) -> tuple[int, str]:
    """Take the chains' append lock (held until the transaction ends) and return the chain's newest
    anchored ``(seq, entry_hash)``: the predecessor of the next entry. One round trip
    (``memberguard_chain_head``, members migration 0007); the new entry's insert anchors itself (trigger)."""
    if not connection.in_atomic_block:
        raise RuntimeError(f"appending to the {chain} chain must run inside transaction.atomic()")
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, entry_hash FROM memberguard_chain_head(%s, %s)", [chain, CHAIN_LOCK_KEY])
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, GENESIS)


def anchored_head(chain: str) -> tuple[int, str]:
    from members.models import ChainAnchor  # the models import this module's helpers

    head = ChainAnchor.objects.filter(chain=chain).order_by("-seq").values_list("seq", "entry_hash").first()
    return head or (0, GENESIS)


@dataclass
class ChainReport:
    ok: bool = True
    entries: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    anchor_seq: int = 0
    problems: list[str] = field(default_factory=list)
    # Sequence numbers of the first entries found broken, for the auditor page's highlighting.
    broken_seqs: list[int] = field(default_factory=list)

    def fail(self, seq: int | None, message: str, limit: int = 50) -> None:
        self.ok = False
        if len(self.problems) < limit:
            self.problems.append(message)
            if seq is not None:
                self.broken_seqs.append(seq)


def verify_rows(rows: Iterable[tuple], *, key: bytes, report: ChainReport | None = None) -> ChainReport:
    """Verify rows of (seq, *content, prev_hash, entry_hash) given in ``seq`` order. Content values are
    as ``canonical`` takes them (timestamps may already be ISO strings)."""
    report = report or ChainReport()
    expected_prev = GENESIS
    expected_seq = 1
    digest = hmac.digest
    compare = hmac.compare_digest
    for row in rows:
        values = row[:-2]
        prev_hash, stored_hash = row[-2], row[-1]
        seq = values[0]
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
        recomputed = digest(key, prev_hash.encode() + b"\n" + canonical(values), "sha256").hex()
        if not compare(recomputed, stored_hash):
            report.fail(seq, f"entry #{seq}: content does not match its hash (altered entry)")
        expected_prev = stored_hash
        expected_seq = seq + 1
        report.entries += 1
        report.head_seq = seq
        report.head_hash = stored_hash
    return report


def check_anchor(report: ChainReport, chain: str) -> ChainReport:
    """Compare the verified chain's end with its newest anchor (which the runtime role cannot rewrite)."""
    anchor_seq, anchor_hash = anchored_head(chain)
    report.anchor_seq = anchor_seq
    if (anchor_seq, anchor_hash) != (report.head_seq, report.head_hash):
        report.fail(
            None,
            f"the {chain} chain ends at #{report.head_seq} but its anchor records #{anchor_seq}: "
            "newest entries removed, or entries written around the chain",
        )
    return report
