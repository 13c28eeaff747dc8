"""The disclosure log: append-only in the database, hash-chained, serialised, verified."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from disclosures.chain import GENESIS, chain_append, verify_chain
from disclosures.models import DisclosureLogEntry
from members import hashchain
from tests.db_owner import as_owner, tamper

pytestmark = pytest.mark.django_db


def _append(n: int = 1, **extra) -> list[DisclosureLogEntry]:
    entries = []
    for index in range(n):
        with transaction.atomic():
            entries.append(
                chain_append(
                    actor=None,
                    actor_label="test",
                    outcome="released",
                    recipient=None,
                    recipient_label=f"r{index}",
                    basis_kind="consent",
                    basis_ref=f"consent:{index}",
                    purpose="marketing",
                    member_ids=[index + 1, index + 2],
                    categories=["A1_contact"],
                    fields=["member_number"],
                    format="csv",
                    row_count=2,
                    file_sha256="ab" * 32,
                    **extra,
                )
            )
    return entries


_tamper = tamper


def test_entries_chain_onto_each_other_from_the_genesis_hash():
    first, second = _append(2)
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.entry_hash
    assert hashchain.anchored_head("disclosures") == (2, second.entry_hash)


def test_an_untouched_chain_verifies():
    _append(5)
    report = verify_chain()
    assert report.ok, report.problems
    assert report.entries == 5 and report.head_seq == 5


@pytest.mark.parametrize(
    "member_ids",
    [[], [7], [3, 1, 2], [2**40, 5, 2**63 - 1], list(range(1, 20_001))],
    ids=["none", "one", "unsorted", "bigint", "twenty-thousand"],
)
def test_member_ids_are_stored_exactly_as_listed_and_hashed(member_ids):
    """The ids go to PostgreSQL as one array literal: the row holds the same array, in the same order, the
    instance keeps its list, and the entry's hash recomputes from the row."""
    (entry,) = _append_ids(member_ids)
    assert entry.member_ids == member_ids and isinstance(entry.member_ids, list)
    stored = DisclosureLogEntry.objects.get(pk=entry.pk)
    assert stored.member_ids == member_ids and stored.member_count == len(member_ids)
    assert DisclosureLogEntry.objects.filter(member_ids__contains=member_ids[-1:]).count() == 1
    assert verify_chain().ok


def _append_ids(member_ids: list[int]) -> list[DisclosureLogEntry]:
    with transaction.atomic():
        return [
            chain_append(
                actor=None,
                actor_label="test",
                outcome="released",
                recipient=None,
                recipient_label="r",
                basis_kind="consent",
                basis_ref="consent:1",
                purpose="marketing",
                member_ids=member_ids,
                categories=["A1_contact"],
                fields=["member_number"],
                format="csv",
                row_count=len(member_ids),
                file_sha256="ab" * 32,
            )
        ]


def test_the_database_refuses_to_update_a_log_entry():
    (entry,) = _append(1)
    with pytest.raises(DatabaseError), transaction.atomic():
        DisclosureLogEntry.objects.filter(pk=entry.pk).update(reason="nothing to see")


def test_the_database_refuses_to_delete_a_log_entry():
    (entry,) = _append(1)
    with pytest.raises(DatabaseError), transaction.atomic():
        DisclosureLogEntry.objects.filter(pk=entry.pk).delete()
    assert DisclosureLogEntry.objects.filter(pk=entry.pk).exists()


def test_verification_detects_a_deleted_entry():
    entries = _append(4)
    _tamper("DELETE FROM disclosures_disclosurelogentry WHERE seq = %s", [entries[1].seq])
    report = verify_chain()
    assert not report.ok
    assert 3 in report.broken_seqs
    assert any("missing" in p or "does not link" in p for p in report.problems)


def test_verification_detects_an_altered_entry():
    entries = _append(3)
    _tamper(
        "UPDATE disclosures_disclosurelogentry SET recipient_label = 'someone else', member_ids = '{99}'"
        " WHERE seq = %s",
        [entries[1].seq],
    )
    report = verify_chain()
    assert not report.ok
    assert report.broken_seqs == [2]
    assert "altered" in report.problems[0]


def test_verification_detects_reordered_entries():
    entries = _append(4)
    # Swap the positions of entries 2 and 3 (via a temporary sequence number to dodge the unique index).
    _tamper("UPDATE disclosures_disclosurelogentry SET seq = -1 WHERE seq = 2")
    _tamper("UPDATE disclosures_disclosurelogentry SET seq = 2 WHERE seq = 3")
    _tamper("UPDATE disclosures_disclosurelogentry SET seq = 3 WHERE seq = -1")
    report = verify_chain()
    assert not report.ok
    assert {2, 3} & set(report.broken_seqs)
    del entries


def test_verification_detects_the_newest_entry_removed():
    _append(3)
    _tamper("DELETE FROM disclosures_disclosurelogentry WHERE seq = 3")
    report = verify_chain()
    assert not report.ok
    assert "anchor records #3" in report.problems[-1]


def test_verification_detects_a_chain_rewritten_after_a_recorded_head():
    entries = _append(2)
    _tamper("UPDATE disclosures_disclosurelogentry SET entry_hash = %s WHERE seq = 2", ["f" * 64])
    _tamper("UPDATE members_chainanchor SET entry_hash = %s WHERE chain = 'disclosures' AND seq = 2", ["f" * 64])
    report = verify_chain(expect_head=(2, entries[1].entry_hash))
    assert not report.ok


def test_the_command_reports_an_intact_chain(capsys):
    _append(2)
    call_command("verify_disclosure_chain")
    assert "intact" in capsys.readouterr().out


def test_the_command_fails_on_a_broken_chain():
    _append(3)
    _tamper("UPDATE disclosures_disclosurelogentry SET reason = 'x' WHERE seq = 1")
    with pytest.raises(CommandError, match="broken"):
        call_command("verify_disclosure_chain")


def test_appending_outside_a_transaction_is_refused():
    in_block = connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        with pytest.raises(RuntimeError):
            chain_append(actor=None, outcome="released")
    finally:
        connection.in_atomic_block = in_block


def test_a_different_key_cannot_verify_the_chain(settings):
    _append(2)
    settings.DISCLOSURE_CHAIN_KEY = "another-key-of-enough-length-0123456789abcdef"
    report = verify_chain()
    assert not report.ok


def in_own_connection(work: Callable[[], object]) -> object:
    """Run ``work`` in a thread with its own database connection (autocommit, outside the test's
    transaction), closed afterwards; its result, or what it raised."""
    result: list[object] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def _truncate_log_from_another_connection() -> None:
    """The threads commit for real (each has its own connection); TRUNCATE bypasses the row triggers."""

    def truncate() -> None:
        with as_owner(triggers=False), connection.cursor() as cursor:
            cursor.execute("TRUNCATE disclosures_disclosurelogentry")
            cursor.execute("DELETE FROM members_chainanchor WHERE chain = 'disclosures'")

    in_own_connection(truncate)


def test_concurrent_appends_never_fork_the_chain():
    """Two threads, two connections, appending at once: one linear chain, no duplicate predecessor.

    (Not a transaction=True test: flushing this project's database with TRUNCATE trips over the usage
    app's partitioned table, so the threads commit and the log is truncated afterwards.)"""
    per_thread = 15
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(label: str) -> None:
        try:
            barrier.wait()
            for _ in range(per_thread):
                with transaction.atomic():
                    chain_append(
                        actor=None,
                        actor_label=label,
                        outcome="released",
                        recipient_label=label,
                        member_ids=[1],
                        categories=["A1_contact"],
                    )
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("t1", "t2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert not errors
        entries: list = []

        def read():
            entries.extend(
                DisclosureLogEntry.objects.order_by("seq").values_list("seq", "prev_hash", "entry_hash", "actor_label")
            )
            entries.append(verify_chain().ok)
            connections.close_all()

        reader = threading.Thread(target=read)
        reader.start()
        reader.join()
        chain_ok = entries.pop()
        assert [e[0] for e in entries] == list(range(1, 2 * per_thread + 1))
        assert len({e[1] for e in entries}) == len(entries)  # no two entries share a predecessor
        assert {e[3] for e in entries} == {"t1", "t2"}
        assert chain_ok
    finally:
        _truncate_log_from_another_connection()


def test_the_nightly_task_anchors_the_head_on_the_audit_trail():
    from disclosures.tasks import verify_chain_daily
    from members.models import AuditEvent

    _append(2)
    assert verify_chain_daily.delay().get()["ok"] is True
    event = AuditEvent.objects.get(action="disclosures.chain_verified")
    assert event.detail["head_seq"] == 2 and event.detail["ok"] is True


def test_a_rewrite_after_the_anchored_head_is_detected_by_the_next_run():
    """Someone with database access AND the key re-forges entry 2 and the head: the head anchored on the
    audit trail by the previous nightly run no longer matches."""
    from disclosures.chain import CANONICAL_COLUMNS, chain_key, entry_hash
    from disclosures.services import chain_verification_record

    entries = _append(2)
    assert chain_verification_record(actor_label="test").ok
    forged = entries[1]
    forged.recipient_label = "nobody"
    new_hash = entry_hash(chain_key(), forged.prev_hash, tuple(getattr(forged, c) for c in CANONICAL_COLUMNS))
    _tamper(
        "UPDATE disclosures_disclosurelogentry SET recipient_label = 'nobody', entry_hash = %s WHERE seq = 2",
        [new_hash],
    )
    _tamper("UPDATE members_chainanchor SET entry_hash = %s WHERE chain = 'disclosures' AND seq = 2", [new_hash])
    assert verify_chain().ok  # internally consistent: the forger had the key
    report = chain_verification_record(actor_label="test")
    assert not report.ok and "recorded earlier" in report.problems[0]


def test_the_command_can_record_and_check_the_anchor(capsys):
    from members.models import AuditEvent

    _append(1)
    call_command("verify_disclosure_chain", "--record")
    assert AuditEvent.objects.filter(action="disclosures.chain_verified").count() == 1


# The verifier's fast path (issue 18): entries are re-serialised from PostgreSQL's COPY text; anything a
# template cannot reproduce exactly is re-checked from its columns, so odd content never fails a sound
# chain and never hides an altered entry.
_ODD_TEXTS = (
    'Coopérative "Nord" \\ Ltd',  # non-ASCII, a quote and a backslash
    "line one\nline two\ttabbed\r",  # characters COPY escapes
    "bell\x07 and del\x7f",  # control characters JSON escapes and COPY does not
    "NULL",
    "",
)


def test_entries_with_characters_the_fast_path_does_not_take_verify():
    for index, text in enumerate(_ODD_TEXTS):
        with transaction.atomic():
            chain_append(
                actor=None,
                actor_label=text,
                outcome="refused",
                recipient=None,
                recipient_label=text,
                basis_kind="consent",
                basis_ref=f"consent:{index}",
                purpose="marketing",
                member_ids=[],
                categories=["A1_contact", "has space", "NULL"] if index % 2 else [],
                fields=[text, "member_number"] if text else [],
                format="csv",
                row_count=0,
                file_sha256="",
                reason=text,
                notice_withheld=bool(index % 2),
            )
    _append(3)
    report = verify_chain()
    assert report.ok, report.problems
    assert report.entries == len(_ODD_TEXTS) + 3


def test_an_altered_entry_with_odd_characters_is_still_found():
    with transaction.atomic():
        chain_append(
            actor=None,
            actor_label="test",
            outcome="released",
            recipient=None,
            recipient_label='Coopérative "Nord"',
            basis_kind="consent",
            basis_ref="consent:1",
            purpose="marketing",
            member_ids=[1],
            categories=["A1_contact"],
            fields=["member_number"],
            format="csv",
            row_count=1,
            file_sha256="ab" * 32,
        )
    _append(2)
    _tamper("UPDATE disclosures_disclosurelogentry SET recipient_label = 'Coopérative \"Sud\"' WHERE seq = 1")
    _tamper("UPDATE disclosures_disclosurelogentry SET row_count = 5 WHERE seq = 3")
    report = verify_chain()
    assert not report.ok
    assert report.broken_seqs == [1, 3]
    assert all("altered" in problem for problem in report.problems)


def test_the_precomputed_hmac_states_give_hmac_sha256():
    import hashlib
    import hmac

    for key in (b"k" * 32, b"short", b"x" * 64, b"y" * 100):
        verifier = hashchain.MessageVerifier(key)
        inner, outer = verifier._inner.copy(), verifier._outer.copy()
        inner.update(b"entry bytes")
        outer.update(inner.digest())
        assert outer.hexdigest() == hmac.new(key, b"entry bytes", hashlib.sha256).hexdigest()


def test_the_fast_path_builds_the_canonical_form_of_ordinary_entries():
    """The fast path is taken: the content it builds from the COPY text equals ``hashchain.canonical`` of the
    entry's columns for ordinary entries (nulls, arrays, booleans, timestamps, text with spaces), and an
    entry with a character it cannot take has no fast content. Without this, a drift between the two
    serialisers would only make every entry take the slow re-check, and verification would still pass."""
    import io

    from disclosures import chain

    _append(2)
    _append(1, notice_withheld=True, reason="withheld: member asked")
    with transaction.atomic():
        chain_append(
            actor=None,
            actor_label='a "quoted" label',
            outcome="refused",
            recipient=None,
            recipient_label="r",
            basis_kind="consent",
            basis_ref="consent:9",
            purpose="marketing",
            member_ids=[],
            categories=[],
            fields=[],
            format="csv",
            row_count=0,
            file_sha256="",
        )
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        cursor.copy_expert(chain._COPY % "disclosures_disclosurelogentry", buffer)
        cursor.execute(chain._SELECT_SOME.format(table="disclosures_disclosurelogentry"), [[1, 2, 3, 4]])
        exact = {row[0]: (hashchain.canonical(row[:-2]), row[-1].encode()) for row in cursor.fetchall()}
    lines = buffer.getvalue().split(b"\n")[:-1]
    entries = list(chain._entries(lines))
    assert [entry[0] for entry in entries] == [1, 2, 3, 4]
    for seq, _, stored, content in entries[:3]:
        assert (content, stored) == exact[seq]
    assert entries[3][3] is None


def _block_path():
    """The block path run by hand over the log table: its reader (finished) and the verifier it fed."""
    import io

    from disclosures import chain

    verifier = hashchain.MessageVerifier(chain.chain_key())
    reader = chain._BlockReader(verifier)
    rows = chain._BlockRows(reader._block)
    buffer = io.BytesIO()
    with connection.cursor() as cursor:
        cursor.copy_expert(chain._block_sql("disclosures_disclosurelogentry"), buffer)
    data = buffer.getvalue()
    for start in range(0, len(data), 7):  # in small pieces: a block split across writes is put back together
        rows.write(data[start : start + 7])
    rows.finish()
    reader.finish()
    return verifier


def test_the_block_path_checks_ordinary_entries_without_a_re_check():
    """Without this, a drift between the server's JSON and ``hashchain.canonical`` would only send every
    entry to the slow re-check, and verification would still pass."""
    _append(3)
    _append(1, notice_withheld=True, reason="withheld: member asked")
    with transaction.atomic():
        chain_append(**{**_PLAIN, "member_ids": [], "categories": [], "fields": [], "actor": None})
    verifier = _block_path()
    assert verifier.entries == 5
    assert list(verifier.suspects) == []
    assert verifier.last == (5, DisclosureLogEntry.objects.get(seq=5).entry_hash.encode())


def test_a_block_with_a_value_the_server_cannot_write_is_re_checked_entry_by_entry():
    _append(2)
    with transaction.atomic():
        chain_append(**{**_PLAIN, "actor": None, "reason": 'said "no"'})
    assert list(_block_path().suspects) == [1, 2, 3]
    report = verify_chain()
    assert report.ok, report.problems


def test_a_gap_sends_the_whole_chain_to_the_row_path():
    from disclosures import chain

    entries = _append(3)
    _tamper("DELETE FROM disclosures_disclosurelogentry WHERE seq = %s", [entries[1].seq])
    with pytest.raises(chain._Irregular):
        _block_path()


_PLAIN = {
    "actor_label": "test",
    "outcome": "released",
    "recipient": None,
    "recipient_label": "r",
    "basis_kind": "consent",
    "basis_ref": "consent:1",
    "purpose": "marketing",
    "member_ids": [1, 2],
    "categories": ["A1_contact", "A2_billing"],
    "fields": ["member_number"],
    "format": "csv",
    "row_count": 2,
    "file_sha256": "ab" * 32,
}


# Alterations whose text, written by the server without escaping, would read as another entry's canonical
# form if the verifier did not check the block (quotes, NULLs, dimensions); ``ddl``: a NOT NULL an owner dropped.
@pytest.mark.parametrize(
    ("original", "ddl", "alteration"),
    [
        ({"categories": ["A1", "A2"]}, None, "categories = ARRAY['A1\",\"A2']"),
        ({"categories": ["NULL"]}, None, "categories = ARRAY[NULL]::varchar[]"),
        ({"categories": ["a", "b", "c", "d"]}, None, "categories = '{{a,b},{c,d}}'"),
        ({"fields": ["a", "b"]}, None, "fields = ARRAY['a\",\"b'], recipient_label = 'r\"'"),
        ({}, "notice_withheld", "notice_withheld = NULL"),
        ({"reason": ""}, "reason", "reason = NULL"),
        ({"reason": "x"}, None, "reason = E'x\\x1e'"),
        ({"reason": 'a"b'}, None, "reason = 'a\\\"b'"),
    ],
)
@pytest.mark.parametrize("path", ["blocks", "rows"])
def test_an_alteration_the_fast_paths_could_misread_is_found(monkeypatch, original, ddl, alteration, path):
    from disclosures import chain

    if path == "rows":

        def irregular(self, fields):
            raise chain._Irregular

        monkeypatch.setattr(chain._BlockReader, "_block", irregular)
    if ddl:  # before the appends: PostgreSQL alters no table with trigger events pending in the transaction
        _tamper(f"ALTER TABLE disclosures_disclosurelogentry ALTER COLUMN {ddl} DROP NOT NULL")
    _append(2)
    with transaction.atomic():
        chain_append(**{**_PLAIN, "actor": None, **original})
    _append(1)
    assert verify_chain().ok
    _tamper(f"UPDATE disclosures_disclosurelogentry SET {alteration} WHERE seq = 3")  # noqa: S608 - fixed cases
    report = verify_chain()
    assert not report.ok
    assert report.broken_seqs == [3], report.problems
    assert "altered" in report.problems[0]
