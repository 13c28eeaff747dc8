"""Benchmarks of the disclosures app.

- ``disclosures.export_members_per_s`` / ``disclosures.export_peak_mb``: a consent-gated CSV export of
  100,000 members (contact + billing: four Fernet-encrypted fields each: SSN, TIN, date of birth,
  credit notes), consumed chunk by chunk as a streamed download would be. Peak memory is the
  process's resident set size sampled every 20 ms during the export (so it includes Django itself).
- ``disclosures.release_notices_per_s``: the same release's notices ("your information was shared"), one
  per member, written after the export commits by the task (``release_notices_write``) the release leaves
  behind, timed on its own; ``disclosures.release_notices_vs_floor`` against a bare ``COPY`` of the same
  rows into a table like ``notices_notice`` with its indexes.
- ``disclosures.verify_chain_entries_per_s``: verifying 1,000,000 chained log entries. They are written
  into a TEMPORARY copy of the log table (same columns, same hash function), so a benchmark never
  adds a million fake entries to a real, append-only log.

Runs only against a database whose name contains "bench" (``make bench`` uses ``memberguard_bench``):
it creates 100,000 fake members. Members, consents, their notices and the release's due row are removed
afterwards; the one release it logs (and the notices' audit rows) stay on that database's log and audit
trail, which are append-only by design. The task the release publishes after commit stays in the broker's
queue if no worker consumes it; run later, it finds its due row gone and does nothing.
"""

from __future__ import annotations

import datetime
import io
import multiprocessing
import os
import threading
import time

from django.db import connection, connections, transaction
from django.utils import timezone

from disclosures import services
from disclosures.chain import CANONICAL_COLUMNS, GENESIS, chain_key, entry_hash, verify_chain
from disclosures.models import Consent, Purpose, Recipient, ReleaseNoticeDue
from disclosures.models import DataCategory as C
from members import bench_floors, crypto
from members.hashchain import canonical
from members.models import Member
from members.notices.models import Notice

_FLOOR_SAMPLE = 100_000
_DIGITS_AS_LETTERS = str.maketrans("0123456789", "ABCDEFGHIJ")


def _guard() -> bool:
    return "bench" in connection.settings_dict["NAME"]


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


class _PeakSampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.peak = _rss_mb()
        self._halt = threading.Event()

    def run(self):
        while not self._halt.wait(0.02):
            self.peak = max(self.peak, _rss_mb())

    def stop(self) -> float:
        self._halt.set()
        self.join()
        self.peak = max(self.peak, _rss_mb())
        return self.peak


def bench_export(quick: bool = False) -> dict[str, float]:
    if not _guard():
        print("disclosures bench skipped: the database name must contain 'bench'")  # noqa: T201
        return {}
    count = 10_000 if quick else 100_000
    stamp = timezone.now().strftime("%Y%m%d%H%M%S")
    prefix = f"BX{stamp[-8:]}"
    with transaction.atomic():
        recipient = services.recipient_create(
            # The stamp spelled in letters: the members' release notices name the recipient, and a notice with
            # a run of six digits is refused as looking like an identifier (members.notices.rendering).
            actor=None,
            name=f"Bench energy-services partner {stamp.translate(_DIGITS_AS_LETTERS)}",
            kind=Recipient.Kind.MEMBER_DESIGNATED,
        )
    try:
        # The fake members are created in a child process, so the memory that creating (and encrypting)
        # 100,000 rows takes is not counted in the export's peak.
        connections.close_all()
        child = multiprocessing.get_context("fork").Process(target=_create_members, args=(prefix, count, recipient.pk))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise RuntimeError("creating the benchmark members failed")
        with connection.cursor() as cursor:
            # As in production, the planner has statistics for the tables it joins.
            cursor.execute("ANALYZE members_member")
            cursor.execute("ANALYZE disclosures_consent")
        sampler = _PeakSampler()
        sampler.start()
        started = time.perf_counter()
        export = services.disclosure_export(
            actor=None, recipient=recipient, categories=[C.CONTACT, C.BILLING], purpose=Purpose.ENERGY_SERVICES
        )
        size = 0
        for chunk in export.chunks():
            size += len(chunk)
        elapsed = time.perf_counter() - started
        peak = sampler.stop()
        assert export.entry is not None and export.entry.row_count == count, "the export did not release every member"  # noqa: S101
        floor = _export_floor_seconds(prefix, size)
        # The notices the release left due, as the task after commit writes them.
        due = ReleaseNoticeDue.objects.get(entry=export.entry)
        started = time.perf_counter()
        notices = services.release_notices_write(due_id=due.pk)
        notices_s = time.perf_counter() - started
        assert notices == count, "the release's notices did not reach every member"  # noqa: S101
        notices_floor = _notices_floor_seconds(prefix)
        return {
            "disclosures.release_notices_s": notices_s,
            "disclosures.release_notices_per_s": count / notices_s,
            "disclosures.release_notices_floor_s": notices_floor,
            "disclosures.release_notices_vs_floor": bench_floors.ratio(notices_floor, notices_s),
            "disclosures.export_floor_s": floor,
            "disclosures.export_vs_floor": bench_floors.ratio(floor, elapsed),
            "disclosures.export_members_per_s": count / elapsed,
            "disclosures.export_peak_mb": peak,
            "disclosures.export_mb": size / (1024 * 1024),
        }
    finally:
        # Consents are never deleted: a trigger refuses it to every role. The benchmark's own fake ones go
        # by the database owner's hand with that trigger off for this one transaction (a bench database
        # only, see _guard; DDL is transactional, so it is back on whatever happens).
        with transaction.atomic(), connection.cursor() as cursor:
            # Foreign keys checked at once: a deferred check still pending would make the ALTER below fail.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("ALTER TABLE disclosures_consent DISABLE TRIGGER memberguard_append_only")
            cursor.execute("DELETE FROM disclosures_consent WHERE recipient_id = %s", [recipient.pk])
            cursor.execute("ALTER TABLE disclosures_consent ENABLE TRIGGER memberguard_append_only")
        ReleaseNoticeDue.objects.filter(entry__recipient_id=recipient.pk).delete()
        Notice.objects.filter(member__member_number__startswith=prefix).delete()
        Member.objects.filter(member_number__startswith=prefix).delete()


def _export_floor_seconds(prefix: str, size: int) -> float:
    """What the export's primitives cost: decrypting the same values (every ciphertext of the exported
    members, ``MultiFernet.decrypt`` per token, one process like the export) and writing the same number of
    bytes to a buffer."""
    columns = ("ssn", "tin", "date_of_birth", "credit_notes")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM members_member WHERE member_number LIKE %s",  # noqa: S608 - fixed names
            [f"{prefix}%"],
        )
        tokens = [bench_floors.as_token(value) for row in cursor.fetchall() for value in row if value]
    seconds = bench_floors.fernet_decrypt_seconds(crypto.derived_fernet_keys(), tokens)
    chunk = b"x" * 65_536
    started = time.perf_counter()
    sink = io.BytesIO()
    for _ in range(size // len(chunk) + 1):
        sink.write(chunk)
    return seconds + time.perf_counter() - started


def _notices_floor_seconds(prefix: str) -> float:
    """What storing the release's notices costs at the least: a bare ``COPY`` of the same rows (the ones
    the task just wrote) into a table created ``LIKE notices_notice INCLUDING ALL`` (its indexes, unique
    uuid and Message-ID, check constraint), committed, then dropped. It leaves out what the task does
    besides: reading the members, rendering, the identifier guard, the audit rows."""
    columns = [f.column for f in Notice._meta.concrete_fields if f.column != "id"]
    listed = ", ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_notice_floor")
        cursor.execute("CREATE TABLE bench_notice_floor (LIKE notices_notice INCLUDING ALL)")
        buffer = io.BytesIO()
        qualified = ", ".join(f"n.{column}" for column in columns)
        cursor.copy_expert(
            f"COPY (SELECT {qualified} FROM notices_notice n JOIN members_member m ON m.id = n.member_id "  # noqa: S608 - fixed names
            f"WHERE m.member_number LIKE '{prefix}%' AND n.kind = 'data_released') TO STDOUT",
            buffer,
        )
    try:
        buffer.seek(0)
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.copy_expert(f"COPY bench_notice_floor ({listed}) FROM STDIN", buffer)
        return time.perf_counter() - started
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_notice_floor")


def _create_members(prefix: str, count: int, recipient_id: int) -> None:
    batch = 5_000
    for start in range(0, count, batch):
        Member.objects.bulk_create(
            [
                Member(
                    member_number=f"{prefix}{i:07d}",
                    legal_name=f"Bench Member {i}",
                    status="active",
                    mailing_line1=f"{i} Bench Rd",
                    mailing_city="Springfield",
                    mailing_state="IL",
                    mailing_postal_code="62701",
                    phone=f"+1217555{i % 10000:04d}",
                    email=f"bench{i}@example.test",
                    ssn=f"123{45 + i % 50:02d}{i % 10000:04d}",
                    tin=f"12{i % 10000000:07d}",
                    date_of_birth=datetime.date(1960, 1, 1) + datetime.timedelta(days=i % 15000),
                    credit_notes="Deposit waived after 12 months on time",
                )
                for i in range(start, min(start + batch, count))
            ]
        )
    ids = list(Member.objects.filter(member_number__startswith=prefix).values_list("pk", flat=True))
    now = timezone.now()
    for start in range(0, len(ids), batch):
        Consent.objects.bulk_create(
            [
                Consent(
                    member_id=pk,
                    recipient_id=recipient_id,
                    categories=[C.CONTACT, C.BILLING],
                    purpose=Purpose.ENERGY_SERVICES,
                    channel=Consent.Channel.WRITTEN,
                    evidence="bench form",
                    granted_at=now,
                )
                for pk in ids[start : start + batch]
            ]
        )
    connections.close_all()


class _CopyFeed(io.RawIOBase):
    """A file-like object over a generator of COPY lines, so a million rows never sit in memory."""

    def __init__(self, lines):
        self._lines = lines
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while len(self._buffer) < len(target):
            try:
                self._buffer += next(self._lines)
            except StopIteration:
                break
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


def _copy_text(value) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, list):
        return "{" + ",".join(str(v) for v in value) + "}"
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def bench_verify_chain(quick: bool = False) -> dict[str, float]:
    if not _guard():
        return {}
    count = 50_000 if quick else 1_000_000
    key = chain_key()
    table = "bench_disclosure_log"
    base = timezone.now() - datetime.timedelta(days=365)

    sample: list[bytes] = []  # the first entries' exact HMAC input, for the floor

    def lines():
        prev = GENESIS
        for seq in range(1, count + 1):
            values = (
                seq,
                base + datetime.timedelta(seconds=seq),
                None,
                "bench",
                "released" if seq % 10 else "refused",
                None,
                "Bench partner",
                "consent",
                f"consent:{seq}",
                "energy_services",
                [seq, seq + 1],
                2,
                ["A1_contact", "A2_billing"],
                ["member_number", "legal_name"],
                "csv",
                2,
                "ab" * 32,
                "" if seq % 10 else "no valid consent",
                False,
            )
            digest = entry_hash(key, prev, values)
            if len(sample) < _FLOOR_SAMPLE:
                sample.append(prev.encode() + b"\n" + canonical(values))
            yield ("\t".join(_copy_text(v) for v in (*values, prev, digest)) + "\n").encode()
            prev = digest

    columns = ", ".join((*CANONICAL_COLUMNS, "prev_hash", "entry_hash"))
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(
            # A table every connection sees (the verifier reads a long chain over two), unlogged: the
            # benchmark's copy needs no crash safety, and reading it costs what reading the log does.
            f"CREATE UNLOGGED TABLE {table} (LIKE disclosures_disclosurelogentry INCLUDING DEFAULTS)"  # noqa: S608 - fixed names
        )
        cursor.execute(f"ALTER TABLE {table} ALTER COLUMN id DROP NOT NULL")
        build = time.perf_counter()
        cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", _CopyFeed(lines()))
        cursor.execute(f"CREATE UNIQUE INDEX ON {table} (seq)")
        cursor.execute(f"ANALYZE {table}")
        print(f"  built {count:,} chained entries in {time.perf_counter() - build:.1f}s")  # noqa: T201
    try:
        load = os.getloadavg()[0]
        server_cpu = bench_floors.server_cpu_seconds()
        cpu = time.process_time()
        started = time.perf_counter()
        report = verify_chain(table=table)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        server_cpu = bench_floors.server_cpu_seconds() - server_cpu
        assert report.ok and report.entries == count, report.problems[:3]  # noqa: S101
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
    # Floor: raw HMAC-SHA256 over the same entry bytes (one process, as the verifier), timed on the first
    # _FLOOR_SAMPLE entries and scaled to the chain's length (a million byte strings would not fit in memory).
    hmac_floor = bench_floors.hmac_seconds(key, sample) * count / len(sample)
    hmac_floor_cpu = bench_floors.hmac_cpu_seconds(key, sample) * count / len(sample)
    return {
        "disclosures.verify_chain_entries_per_s": count / elapsed,
        "disclosures.verify_chain_seconds": elapsed,
        "disclosures.verify_chain_hmac_floor_s": hmac_floor,
        "disclosures.verify_chain_vs_hmac": bench_floors.ratio(hmac_floor, elapsed),
        # CPU: this process (COPY reading, parsing, hashing) and the PostgreSQL server (the COPYs, on two
        # backends for a long chain), which overlap on two cores; the floor's CPU in one process. Steadier
        # than wall time on a busy machine.
        "disclosures.verify_chain_cpu_s": cpu,
        "disclosures.verify_chain_server_cpu_s": server_cpu,
        "disclosures.verify_chain_hmac_floor_cpu_s": hmac_floor_cpu,
        "disclosures.verify_chain_vs_hmac_cpu": bench_floors.ratio(hmac_floor_cpu, cpu),
        "disclosures.verify_chain_load_average": load,
    }


BENCHMARKS = [bench_verify_chain, bench_export]
