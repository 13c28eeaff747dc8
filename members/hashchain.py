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
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from members.fernet_bulk import hmac_sha256_states

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


class MessageVerifier:
    """Verifies a chain fed one entry at a time as ``(seq, prev_hash, entry_hash, content)`` in ``seq``
    order (hashes as hex bytes), where ``content`` is the entry's canonical bytes built by a fast path
    (the caller's: from the database's text output, without decoding values into Python objects and
    re-serialising them), or ``None`` where the fast path does not apply to the entry.

    The fast path only has to be right for ordinary entries: an entry without fast content, or whose hash
    does not match it, is a *suspect*, and ``finish`` re-checks suspects through ``recompute``: their
    exact HMAC input built the writer's own way (``canonical`` over the columns). So a difference between
    the two serialisers can never pass for tampering, nor tampering for a serialiser difference. Problems
    are reported in ``seq`` order, as ``verify_rows`` reports them.
    """

    _CHUNK = 2_000  # suspects re-checked per query

    def __init__(self, key: bytes, report: ChainReport | None = None, limit: int = 50):
        self.key = key
        # HMAC-SHA256 (RFC 2104) with the key's inner and outer pads hashed once: each entry continues
        # copies of those two states instead of setting the key up again, which is half of what a call
        # to hmac.digest costs (test_platform_audit* and tests/disclosures check it against hmac).
        self._inner, self._outer = hmac_sha256_states(key)
        self.report = report or ChainReport()
        self.limit = limit
        self.expected_seq = 1
        self.expected_prev = GENESIS.encode()
        self.events: list[tuple[int, int, str]] = []  # (seq, order, problem): the first ``limit`` only
        self.suspects = array("q")  # seq of each suspect, ascending
        self.entries = 0
        self.last: tuple[int, bytes] | None = None

    def feed(self, rows: Iterable[tuple[int, bytes, bytes, bytes | None]]) -> None:
        """Check entries ``(seq, prev_hash, entry_hash, content)``, the next ones of the chain in order."""
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        compare = hmac.compare_digest
        expected_seq, expected_prev = self.expected_seq, self.expected_prev
        suspects = self.suspects
        count = 0
        seq, stored_hash = 0, expected_prev
        for seq, prev_hash, stored_hash, content in rows:
            if seq != expected_seq or prev_hash != expected_prev:
                self.expected_seq, self.expected_prev = expected_seq, expected_prev
                self._links(seq, prev_hash)
            if content is None:
                suspects.append(seq)
            else:
                inner = inner_copy()
                inner.update(prev_hash + b"\n" + content)
                outer = outer_copy()
                outer.update(inner.digest())
                if not compare(outer.hexdigest().encode(), stored_hash):
                    suspects.append(seq)
            expected_prev = stored_hash
            expected_seq = seq + 1
            count += 1
        if count:
            self.expected_seq, self.expected_prev = expected_seq, expected_prev
            self.entries += count
            self.last = (seq, stored_hash)

    def digests(self, messages: Iterable[bytes]) -> bytes:
        """HMAC-SHA256 of each message (the same states as ``feed``), the raw digests concatenated."""
        inner_copy, outer_copy = self._inner.copy, self._outer.copy
        digests: list[bytes] = []
        append = digests.append
        for message in messages:
            inner = inner_copy()
            inner.update(message)
            outer = outer_copy()
            outer.update(inner.digest())
            append(outer.digest())
        return b"".join(digests)

    def feed_checked(self, count: int, last_hash: bytes, suspects: Iterable[int]) -> None:
        """Account for the next ``count`` entries, checked in bulk by the caller: their sequence numbers are
        ``expected_seq`` onwards without a gap, the first links to ``expected_prev`` and each later one to
        the entry before it, the last one's ``entry_hash`` is ``last_hash``, and every entry whose hash was
        not matched by its canonical content is in ``suspects`` (re-checked by ``finish``)."""
        self.suspects.extend(suspects)
        self.expected_seq += count
        self.expected_prev = last_hash
        self.entries += count
        self.last = (self.expected_seq - 1, last_hash)

    def _links(self, seq: int, prev_hash: bytes) -> None:
        if seq != self.expected_seq:
            gap = seq - self.expected_seq
            self._event(
                seq,
                0,
                f"entry #{seq}: expected #{self.expected_seq} next: {gap} entr{'y' if gap == 1 else 'ies'} "
                "missing or out of order",
            )
        if prev_hash != self.expected_prev:
            self._event(
                seq, 1, f"entry #{seq}: does not link to the entry before it (deleted, inserted or reordered entry)"
            )

    def _event(self, seq: int, order: int, problem: str) -> None:
        self.report.ok = False
        if len(self.events) < self.limit:
            self.events.append((seq, order, problem))

    def finish(self, recompute: Callable[[list[int]], dict[int, tuple[bytes, str]]]) -> ChainReport:
        """``recompute(seqs)``: ``{seq: (exact HMAC input, stored entry_hash)}`` for those entries."""
        altered: list[tuple[int, int, str]] = []
        # Only the first ``limit`` problems are listed: re-checking stops once later suspects cannot
        # change the list (the report is failed by then anyway).
        horizon = self.events[-1][0] if len(self.events) >= self.limit else None
        for start in range(0, len(self.suspects), self._CHUNK):
            seqs = list(self.suspects[start : start + self._CHUNK])
            if len(altered) >= self.limit or (horizon is not None and seqs[0] > horizon):
                self.report.ok = False
                break
            exact = recompute(seqs)
            for seq in seqs:
                data, stored = exact.get(seq, (None, ""))
                if data is None or not hmac.compare_digest(hmac.digest(self.key, data, "sha256").hex(), stored):
                    self.report.ok = False
                    altered.append((seq, 2, f"entry #{seq}: content does not match its hash (altered entry)"))
        for seq, _, problem in sorted(self.events + altered)[: self.limit]:
            self.report.fail(seq, problem, limit=self.limit)
        self.report.entries += self.entries
        if self.last is not None:
            self.report.head_seq = self.last[0]
            self.report.head_hash = self.last[1].decode()
        return self.report


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
