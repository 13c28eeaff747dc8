"""The chain verifier's two COPYs on one snapshot (disclosures/chain.py, ``_block_sources``).

Outside a caller's transaction the verifier opens its own repeatable-read transaction, exports its
snapshot, and a second connection reads every other block of the chain in that snapshot. These tests run
the verifier in a thread of its own (its own connection, outside the test's transaction) over committed
entries, with blocks of two entries so a short chain has blocks in both COPYs, and truncate the log after.
"""

from __future__ import annotations

import pytest
from django.db import connections, transaction

from disclosures import chain
from disclosures.chain import verify_chain
from members import hashchain
from tests.db_owner import tamper
from tests.disclosures.test_chain import _append, _truncate_log_from_another_connection, in_own_connection


@pytest.fixture(autouse=True)
def _committed_database(django_db_setup, django_db_blocker):
    """The test database without a test transaction around the test: every connection here commits, as a
    real one does. (With one, the test's own connection may hold the chains' lock: after a transactional
    test, the suite's set-up writes the roles back in it, and an append from a thread would wait forever.)"""
    with django_db_blocker.unblock():
        yield


@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of two entries, and two COPYs from four entries on; records what each verification ran."""
    monkeypatch.setattr(chain, "_BLOCK", 2)
    monkeypatch.setattr(chain, "_PARALLEL_FROM", 4)
    runs: list[int | str] = []  # the COPYs of each block path, "rows" for each fallback to the row path
    blocks, rows = chain._stream_blocks, chain._stream

    def counting_blocks(sources, reader):
        runs.append(len(sources))
        return blocks(sources, reader)

    def counting_rows(sql, consume):
        runs.append("rows")
        return rows(sql, consume)

    monkeypatch.setattr(chain, "_stream_blocks", counting_blocks)
    monkeypatch.setattr(chain, "_stream", counting_rows)
    yield runs
    _truncate_log_from_another_connection()


def _committed(n: int) -> list:
    return in_own_connection(lambda: _append(n))


def test_a_long_chain_is_read_over_two_connections_and_verifies(small_blocks):
    entries = _committed(9)  # blocks {1}, {2,3}, {4,5}, {6,7}, {8,9}: three in one COPY, two in the other
    report = in_own_connection(verify_chain)
    assert small_blocks == [2]
    assert report.ok, report.problems
    assert (report.entries, report.head_seq, report.head_hash) == (9, 9, entries[-1].entry_hash)


def test_an_entry_altered_in_either_copy_is_found(small_blocks):
    _committed(9)
    # seq 4 is in block 2 (the first COPY's), seq 7 in block 3 (the second's)
    in_own_connection(
        lambda: tamper("UPDATE disclosures_disclosurelogentry SET recipient_label = 'someone else' WHERE seq IN (4, 7)")
    )
    report = in_own_connection(verify_chain)
    assert small_blocks == [2]
    assert not report.ok
    assert report.broken_seqs == [4, 7], report.problems
    assert all("altered" in problem for problem in report.problems[:2])


def test_a_deleted_entry_falls_back_to_the_row_path_and_is_reported(small_blocks):
    entries = _committed(9)
    in_own_connection(lambda: tamper("DELETE FROM disclosures_disclosurelogentry WHERE seq = %s", [entries[5].seq]))
    report = in_own_connection(verify_chain)
    assert small_blocks == [2, "rows"]
    assert not report.ok
    assert 7 in report.broken_seqs, report.problems  # the entry after the gap
    assert any("missing" in problem or "does not link" in problem for problem in report.problems)


def test_a_short_chain_and_a_callers_transaction_use_one_copy(small_blocks):
    _committed(3)
    assert in_own_connection(verify_chain).ok
    _committed(8)

    def in_a_callers_transaction():
        with transaction.atomic():  # the caller's: its snapshot cannot be shared
            return verify_chain()

    assert in_own_connection(in_a_callers_transaction).ok
    assert small_blocks == [1, 1]


def test_both_copies_read_the_snapshot_the_verification_began_with(small_blocks, monkeypatch):
    """An append committed after the verifier took its snapshot, before the second connection reads: both
    COPYs and the anchor check still see the chain as it was, so the check passes and reports the old head."""
    entries = _committed(8)

    class AppendFirst:
        """The verifier's ``connections``: an append commits just before it opens its second connection."""

        def create_connection(self, alias):
            in_own_connection(lambda: _append(1))  # committed now, by a third connection
            return connections.create_connection(alias)

    monkeypatch.setattr(chain, "connections", AppendFirst())
    report = in_own_connection(verify_chain)
    assert small_blocks == [2]
    assert report.ok, report.problems
    assert (report.entries, report.head_seq, report.head_hash) == (8, 8, entries[-1].entry_hash)
    assert in_own_connection(lambda: hashchain.anchored_head("disclosures"))[0] == 9  # the append did commit
    monkeypatch.setattr(chain, "connections", connections)
    assert in_own_connection(verify_chain).entries == 9


def test_no_second_connection_means_one_copy_not_a_failure(small_blocks, monkeypatch):
    from django.db import OperationalError

    _committed(8)

    class Refused:
        """The verifier's ``connections``: the server refuses its second connection."""

        def create_connection(self, alias):
            wrapper = connections.create_connection(alias)

            def ensure_connection():
                raise OperationalError("sorry, too many clients already")

            wrapper.ensure_connection = ensure_connection
            return wrapper

    monkeypatch.setattr(chain, "connections", Refused())
    report = in_own_connection(verify_chain)
    assert report.ok, report.problems
    assert report.entries == 8
    assert small_blocks == [1]
