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

import contextlib
import fcntl
import os
import queue
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models, transaction
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
    # The ids go as one array literal ('{1,2,...}', which PostgreSQL reads as the column's bigint[]), not through
    # the ArrayField: it prepares 100,000 ids one by one and sends ARRAY[1,2,...] (~0.45 s in this process, and
    # 100,000 constants for the server to parse). Only the INSERT sees the literal; the instance keeps its list.
    ids, entry.member_ids = entry.member_ids, "{" + ",".join(map(str, entry.member_ids)) + "}"
    try:
        entry.save(force_insert=True)
    finally:
        entry.member_ids = ids
    return entry


def verify_rows(rows: Iterable[tuple], *, key: bytes | None = None) -> ChainReport:
    """Verify rows of (*CANONICAL_COLUMNS, prev_hash, entry_hash) given in ``seq`` order."""
    return hashchain.verify_rows(rows, key=key or chain_key())


# PostgreSQL formats the timestamp exactly as iso() does (UTC, microseconds), which spares the
# verifier a datetime parse and a strftime per entry.
_SELECT_COLUMNS = ", ".join(
    """to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""" if column == "at" else column
    for column in CANONICAL_COLUMNS
)
_SELECT_SOME = (
    "SELECT " + _SELECT_COLUMNS + ", prev_hash, entry_hash FROM {table} WHERE seq = ANY(%s) ORDER BY seq"  # noqa: S608
)


def _kind(column: str) -> str:
    field = DisclosureLogEntry._meta.get_field(column)
    if isinstance(field, models.DateTimeField):
        return "timestamp"
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, models.IntegerField | models.ForeignKey):
        return "int_null" if field.null else "int"
    if isinstance(field, ArrayField):
        return "int_array" if isinstance(field.base_field, models.IntegerField) else "text_array"
    return "text"


# The verifier's fast path. COPY sends each entry's columns in PostgreSQL's text form (no JSON built by
# the server, no Python values built here), and the canonical JSON is filled into a template from those
# bytes. That is exact for the ordinary entry: printable ASCII without a quote or a backslash (so no
# field needed JSON or COPY escaping and no array element was quoted); any other entry gets no fast
# content and is re-checked from its columns (hashchain.MessageVerifier), as is any entry whose fast
# hash does not match. The server streams the next rows while this process hashes the ones before.
_KINDS = [_kind(column) for column in CANONICAL_COLUMNS]
_SQL_FORMS = {
    "timestamp": """to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""",
    "int_null": "coalesce({c}::text, 'null')",
    "int_array": "translate({c}::text, '{{}}', '[]')",
    # (a NULL is neither: the row then carries \\N, which sends it to the exact re-check)
    "bool": "CASE {c} WHEN true THEN 'true' WHEN false THEN 'false' END",
}
_TEMPLATE_FORMS = {"timestamp": b'"%s"', "text": b'"%s"'}
_COPY = (
    "COPY (SELECT "  # noqa: S608 - declared column names; the table is the model's or the bench's
    + ", ".join(
        _SQL_FORMS.get(kind, "{c}").format(c=column) for column, kind in zip(CANONICAL_COLUMNS, _KINDS, strict=True)
    )
    + ", prev_hash, entry_hash FROM %s ORDER BY seq) TO STDOUT"
)
# (``%.0s%.0s``: the two hash columns at the end of the row, not part of the content)
_TEMPLATE = b"[" + b",".join(_TEMPLATE_FORMS.get(kind, b"%s") for kind in _KINDS) + b"]%.0s%.0s"
_TEXT_ARRAYS = [index for index, kind in enumerate(_KINDS) if kind == "text_array"]
_FIELDS = len(CANONICAL_COLUMNS) + 2


# The block path, tried first. PostgreSQL writes each entry's whole HMAC input (``prev_hash``, a newline,
# the canonical JSON with text between quotes as it is) and sends the entries in blocks of _BLOCK sequence
# numbers, one row of a binary COPY (no escaping) per block: the block's entry count, its sequence numbers,
# prev_hashes and entry_hashes (comma-separated), its text arrays' element count and its messages
# (separated by \x1e). So this process makes a few C calls per block and only the HMAC per entry.
#
# The server's JSON is the canonical form whenever no value needed escaping, which is checked per block:
# no backslash at all, no message NULL, as many separators as entries (less one) and exactly the quotes
# the server writes (a value can only add to those counts). Then no value holds a quote, a backslash or a
# separator, and each message either is the canonical form of its entry or holds a byte no canonical form
# holds (a control character, a non-ASCII one, \x01 for a NULL array element), so it matches the entry's
# hash only if the entry is intact. A block that fails those checks, and any entry whose hash does not
# match, is re-checked from its columns the writer's own way (as above). Any other irregularity (a
# sequence number missing, repeated or out of order, a broken link, entries outside the blocks) and the
# whole chain is verified by the row path instead, which reports it as it always has.
_BLOCK = 1000
_SEPARATOR = b"\x1e"
# Each kind's JSON form: (text before, SQL expression, text after). Adjacent texts are joined into one
# literal, so PostgreSQL makes one concatenation per value and one per separator (16 % less of its time
# than a concatenation per quote and comma).
_JSON_FORMS = {
    "timestamp": ('"', """to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')""", '"'),
    "int": ("", "{c}::text", ""),
    "int_null": ("", "coalesce({c}::text, 'null')", ""),
    "int_array": ("", "translate({c}::text, '{{}}', '[]')", ""),
    # A NULL element becomes \x01, which no canonical form holds; a 2-dimensional array makes the message NULL.
    "text_array": (
        "",
        "CASE WHEN cardinality({c}) = 0 THEN '[]' WHEN array_ndims({c}) = 1 "
        """THEN '["' || array_to_string({c}, '","', E'\\x01') || '"]' END""",
        "",
    ),
    "bool": ("", _SQL_FORMS["bool"], ""),
    "text": ('"', "{c}", '"'),
}


def _concatenation(parts: list[tuple[str, str]]) -> str:
    """``parts`` (literal text, or an SQL expression) as one SQL concatenation, adjacent texts joined."""
    merged: list[tuple[str, str]] = []
    for kind, value in parts:
        if kind == "text" and merged and merged[-1][0] == "text":
            merged[-1] = ("text", merged[-1][1] + value)
        elif value or kind != "text":
            merged.append((kind, value))
    return " || ".join(_literal(value) if kind == "text" else value for kind, value in merged)


def _literal(text: str) -> str:
    return "E'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


_MESSAGE = _concatenation(
    [("sql", "prev_hash"), ("text", "\n[")]
    + [
        part
        for index, (column, kind) in enumerate(zip(CANONICAL_COLUMNS, _KINDS, strict=True))
        for part in (
            ("text", "," if index else ""),
            ("text", _JSON_FORMS[kind][0]),
            ("sql", _JSON_FORMS[kind][1].format(c=column)),
            ("text", _JSON_FORMS[kind][2]),
        )
    ]
    + [("text", "]")]
)
# The quotes the server writes per entry, besides two per text-array element.
_QUOTES = 2 * sum(kind in ("timestamp", "text") for kind in _KINDS)
_ARRAYS = ", ".join(CANONICAL_COLUMNS[index] for index in _TEXT_ARRAYS)
_ELEMENTS = " + ".join(f"cardinality({CANONICAL_COLUMNS[index]})" for index in _TEXT_ARRAYS) or "0"
# %(lo)s, %(hi)s and %(n)s: the chain's first and last sequence numbers and its entry count, read once
# in the snapshot the COPYs read; %(block)s: _BLOCK; %(first)s and %(step)s: which blocks this COPY sends.
_BLOCKS = f"""COPY (
SELECT bounds.n::text, blocks.* FROM (VALUES (%(lo)s::bigint, %(hi)s::bigint, %(n)s::bigint)) AS bounds(lo, hi, n)
LEFT JOIN LATERAL (
  SELECT block.* FROM generate_series(
    bounds.lo / %(block)s + %(first)s,
    CASE WHEN bounds.hi - bounds.lo + 1 = bounds.n THEN bounds.hi / %(block)s ELSE bounds.lo / %(block)s - 1 END,
    %(step)s
  ) AS g, LATERAL (
    SELECT count(*)::text, count(m)::text, string_agg(seq::text, ','), string_agg(prev_hash, ','),
      string_agg(entry_hash, ','), sum({_ELEMENTS})::text, string_agg(m, E'\\x1e')
    FROM (
      SELECT seq, prev_hash, entry_hash, {_ARRAYS}{", " if _ARRAYS else ""}{_MESSAGE} AS m
      FROM %(table)s WHERE seq >= g * %(block)s AND seq < g * %(block)s + %(block)s ORDER BY seq
    ) AS r
  ) AS block
) AS blocks ON true
) TO STDOUT (FORMAT binary)"""  # noqa: S608 - declared column names; the table is the model's or the bench's
_BINARY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_BLOCK_FIELDS = 8


class _Irregular(Exception):  # noqa: N818 - a signal, not an error
    """The chain is not in the shape the block path checks in bulk: verify it row by row instead."""


class _BlockRows:
    """Splits the block path's binary COPY output, handed over in pieces as psycopg2 writes it, into rows of
    fields for ``emit`` (a COPY target: psycopg2 calls ``write``)."""

    def __init__(self, emit: Callable[[list[bytes | None]], None]):
        self.emit = emit
        self.pending = b""
        self.started = False
        self.ended = False

    def write(self, data: bytes) -> None:
        data = self.pending + data if self.pending else data
        offset = 0
        if not self.started:
            if len(data) < 19:
                self.pending = data
                return
            flags, extension = struct.unpack_from("!ii", data, 11)
            if data[:11] != _BINARY_SIGNATURE or flags:
                raise ValueError("the disclosure log's COPY output has an unexpected shape")
            self.started = True
            offset = 19 + extension
        size = len(data)
        while not self.ended and size - offset >= 2:
            (count,) = struct.unpack_from("!h", data, offset)
            if count == -1:
                self.ended = True
                offset += 2
                break
            if count != _BLOCK_FIELDS:
                raise ValueError("the disclosure log's COPY output has an unexpected shape")
            position = offset + 2
            fields: list[bytes | None] = []
            while len(fields) < count and size - position >= 4:
                (length,) = struct.unpack_from("!i", data, position)
                position += 4
                if length < 0:
                    fields.append(None)
                elif size - position >= length:
                    fields.append(data[position : position + length])
                    position += length
                else:
                    break
            if len(fields) < count:
                break  # the rest of this block comes with the next write
            self.emit(fields)
            offset = position
        self.pending = data[offset:]

    def finish(self) -> None:
        if not self.ended or self.pending:
            raise _Irregular


class _BlockReader:
    """Checks the block path's blocks (``_block``, each COPY row split by ``_BlockRows``) in the chain's order,
    and feeds ``verifier``."""

    def __init__(self, verifier: hashchain.MessageVerifier):
        self.verifier = verifier
        self.seen = 0
        self.total: int | None = None

    def _block(self, fields: list[bytes | None]) -> None:
        verifier = self.verifier
        total, count, messages_count, seqs, prevs, hashes, elements, messages = fields
        if self.total is not None and int(total or b"-1") != self.total:
            raise _Irregular  # (two snapshots: cannot happen when the streams share one)
        self.total = int(total or b"-1")
        if count is None:  # no blocks: an empty chain, or not one run of sequence numbers
            if self.total:
                raise _Irregular
            return
        if seqs is None or prevs is None or hashes is None:
            raise _Irregular
        entries = int(count)
        first = verifier.expected_seq
        if seqs != ",".join(map(str, range(first, first + entries))).encode():
            raise _Irregular
        suspects: Iterable[int] = range(first, first + entries)
        digests = self._digests(entries, messages if messages_count == count else None, elements)
        if digests != hashes:
            # Only now count: when every hash matched, ``hashes`` is exactly the entries' 64-digit hashes.
            if hashes.count(b",") != entries - 1 or prevs.count(b",") != entries - 1:
                raise _Irregular
            if digests is not None:
                mine = digests.split(b",")
                suspects = [first + index for index, stored in enumerate(hashes.split(b",")) if stored != mine[index]]
        else:
            suspects = ()
        head, _, last = hashes.rpartition(b",")
        if prevs != (verifier.expected_prev + b"," + head if head else verifier.expected_prev):
            raise _Irregular
        verifier.feed_checked(entries, last, suspects)
        self.seen += entries

    def _digests(self, entries: int, messages: bytes | None, elements: bytes | None) -> bytes | None:
        """The entries' HMACs as hex, comma-separated, if the block's messages pass the checks above."""
        if messages is None or elements is None or b"\\" in messages:
            return None
        parts = messages.split(_SEPARATOR)
        if len(parts) != entries or messages.count(b'"') != entries * _QUOTES + 2 * int(elements):
            return None
        return self.verifier.digests(parts).hex(",", 32).encode()

    def finish(self) -> None:
        if self.total is None or self.seen != self.total:
            raise _Irregular


def _stream_blocks(sources: list[tuple[Any, str]], reader: _BlockReader) -> None:
    """Run the block path's COPYs (``sources``: a driver connection and the COPY to run on it), each in a
    thread that splits its output into blocks as psycopg2 hands it over (no pipe, no re-splitting) and
    queues them, while this thread checks the blocks in the chain's order: block i from COPY i mod n."""
    queues: list[queue.Queue[list[bytes | None] | None]] = []
    threads: list[threading.Thread] = []
    failure: list[BaseException] = []
    for raw, sql in sources:
        blocks: queue.Queue[list[bytes | None] | None] = queue.Queue(maxsize=4)  # a few blocks in memory

        def produce(raw=raw, sql=sql, blocks=blocks) -> None:
            try:
                rows = _BlockRows(blocks.put)
                with raw.cursor() as cursor:
                    cursor.copy_expert(sql, rows)
                rows.finish()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                failure.append(exc)
            finally:
                blocks.put(None)

        queues.append(blocks)
        threads.append(threading.Thread(target=produce, name="verify-chain-copy", daemon=True))
    for thread in threads:
        thread.start()
    error: BaseException | None = None
    done = [False] * len(queues)
    turn = 0
    while not all(done):
        index = turn % len(queues)
        turn += 1
        if done[index]:
            continue
        block = queues[index].get()
        if block is None:
            done[index] = True  # a COPY that ended before the others: their next block is out of turn, and
            continue  # its sequence numbers tell (``_block``)
        if error is not None:
            continue  # drain, so every COPY (and its connection) finishes cleanly
        try:
            reader._block(block)
        except BaseException as exc:  # noqa: BLE001 - raised once the COPYs have ended
            error = exc
    _joined(threads, failure, error)


def _joined(threads: list[threading.Thread], failure: list[BaseException], error: BaseException | None) -> None:
    """Wait for the COPYs' threads; raise what went wrong in them first, then what went wrong here."""
    for thread in threads:
        thread.join()
    if failure:
        raise failure[0]
    if error is not None:
        raise error


def _stream(sql: str, consume: Callable[[list[bytes]], None]) -> None:
    """Run ``COPY ... TO STDOUT`` and hand its rows (without their newline) to ``consume`` in large chunks.

    psycopg2 hands COPY output to ``file.write`` one row per call. Here the file is the write end of a
    pipe (C code, no Python frame per row), written by a thread on this connection's own driver
    connection (the same session and transaction; nothing else uses it meanwhile) while this thread
    reads megabytes at a time and hashes them: the server, the driver and the hashing overlap.
    """
    raw = connection.connection
    reader, writer = os.pipe()
    with contextlib.suppress(OSError):  # a bigger pipe: fewer hand-overs between the threads (Linux)
        fcntl.fcntl(writer, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(writer, "wb", buffering=1 << 16) as out, raw.cursor() as cursor:
                cursor.copy_expert(sql, out)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=produce, name="verify-chain-copy", daemon=True)
    thread.start()
    error: BaseException | None = None
    with os.fdopen(reader, "rb", buffering=0) as source:
        pending = b""
        while chunk := source.read(1 << 20):
            if error is not None:
                continue  # drain, so the COPY (and the connection) finishes cleanly
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            try:
                consume(lines)
            except BaseException as exc:  # noqa: BLE001 - raised once the COPY has ended
                error = exc
    _joined([thread], failure, error)
    if pending:
        raise ValueError("the disclosure log's COPY output ended inside a row")


def _entries(rows: list[bytes]) -> Iterator[tuple[int, bytes, bytes, bytes | None]]:
    """``(seq, prev_hash, entry_hash, fast content or None)`` of COPY rows (without their newline)."""
    text_arrays = _TEXT_ARRAYS
    template = _TEMPLATE
    for row in rows:
        fields = row.split(b"\t")
        if len(fields) != _FIELDS or not fields[0].isdigit():
            raise ValueError("the disclosure log's COPY output has an unexpected shape")
        if row.isascii() and b"\\" not in row and b'"' not in row:
            for index in text_arrays:
                inner = fields[index][1:-1]
                if b"NULL" in inner:  # a NULL element (unquoted, as a "NULL" string never is): exact re-check
                    break
                fields[index] = b'["' + inner.replace(b",", b'","') + b'"]' if inner else b"[]"
            else:
                yield int(fields[0]), fields[-2], fields[-1], template % tuple(fields)
                continue
            yield int(fields[0]), fields[-2], fields[-1], None
        else:
            yield int(fields[0]), fields[-2], fields[-1], None


def _recompute(table: str) -> Callable[[list[int]], dict[int, tuple[bytes, str]]]:
    """The exact HMAC input of entries, built in Python from their columns (the writer's own way)."""

    def exact(seqs: list[int]) -> dict[int, tuple[bytes, str]]:
        with connection.cursor() as cursor:
            cursor.execute(_SELECT_SOME.format(table=table), [seqs])  # noqa: S608 - the model's or the bench's table
            return {
                row[0]: (row[-2].encode() + b"\n" + hashchain.canonical(row[:-2]), row[-1]) for row in cursor.fetchall()
            }

    return exact


# The block path's COPYs run side by side, each taking every other block, when the chain is long enough to
# repay a second connection (a few milliseconds): PostgreSQL writing the messages is the slower half of
# verification, and one backend does that on one core. They share one snapshot (pg_export_snapshot), so
# they read the same chain; that needs a transaction of our own, so a caller's transaction gets one COPY.
_STREAMS = 2
# Compiling the block query to machine code (PostgreSQL's JIT, on by default where it is built in) costs
# each backend about 0.4 s of CPU, more than it saves: 1.89 s against 2.06 s for a million entries.
_NO_JIT = "SET LOCAL jit = off"
_PARALLEL_FROM = 20 * _BLOCK


def _bounds(source: str) -> tuple[int | None, int | None, int]:
    """The chain's first and last sequence numbers and its entry count, in this connection's snapshot."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(seq), max(seq), count(*) FROM {source}")  # noqa: S608 - the model's or the bench's table
        lo, hi, n = cursor.fetchone()
    return lo, hi, n


def _block_sql(
    source: str, bounds: tuple[int | None, int | None, int] | None = None, first: int = 0, step: int = 1
) -> str:
    """The block path's COPY of ``source``: every ``step``-th block from the ``first``-th."""
    lo, hi, n = bounds or _bounds(source)
    number = {"lo": "NULL" if lo is None else int(lo), "hi": "NULL" if hi is None else int(hi), "n": int(n)}
    return _BLOCKS % {"table": source, "block": _BLOCK, "first": first, "step": step, **number}


@contextlib.contextmanager
def _block_sources(source: str, *, shared: bool) -> Iterator[list[tuple[Any, str]]]:
    """The connections and COPYs for the block path: this connection's, and when it is in the verifier's own
    transaction (``shared``: its snapshot can be exported) and the chain is long, another connection's on the
    same snapshot, each COPY taking every other block."""
    raw = connection.connection
    bounds = _bounds(source)
    snapshot = None
    if shared and bounds[2] >= _PARALLEL_FROM:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            (snapshot,) = cursor.fetchone()
    if snapshot is None:
        yield [(raw, _block_sql(source, bounds))]
        return
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        try:
            other.ensure_connection()
            with other.connection.cursor() as cursor:
                cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
                cursor.execute(_NO_JIT)
        except DatabaseError:  # e.g. no connection slot left: one COPY does it all, only slower
            yield [(raw, _block_sql(source, bounds))]
            return
        yield [
            (driver, _block_sql(source, bounds, index, _STREAMS))
            for index, driver in enumerate((raw, other.connection))
        ]
    finally:
        other.close()


def verify_chain(*, expect_head: tuple[int, str] | None = None, table: str | None = None) -> ChainReport:
    """Verify the whole disclosure log. ``table`` exists for the benchmark's copy only.

    Outside a caller's transaction the whole check (the chain, its suspects' re-check, its anchor) reads
    one snapshot: a repeatable-read, read-only transaction of its own, which lets the block path read it
    over two connections and keeps an append during the check from reading as a mismatch with the anchor.
    """
    connection.ensure_connection()
    if connection.in_atomic_block:
        return _verify(expect_head=expect_head, table=table, shared=False)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursor.execute(_NO_JIT)
        return _verify(expect_head=expect_head, table=table, shared=True)


def _verify(*, expect_head: tuple[int, str] | None, table: str | None, shared: bool) -> ChainReport:
    key = chain_key()
    source = table or DisclosureLogEntry._meta.db_table
    verifier = hashchain.MessageVerifier(key)
    try:
        blocks = _BlockReader(verifier)
        with _block_sources(source, shared=shared) as sources:
            _stream_blocks(sources, blocks)
        blocks.finish()
    except _Irregular:
        verifier = hashchain.MessageVerifier(key)
        _stream(_COPY % source, lambda rows: verifier.feed(_entries(rows)))  # noqa: S608 - never input
    report = verifier.finish(_recompute(source))
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
