"""The pipelined ingest (accounts/usage/pipeline.py): the parse runs in a thread and hands finished
meter-days to the loader in rounds while it parses the rest, all in one transaction.

Chunks and rounds are made tiny here (a chunk of ~700 characters is about ten lines, a round one
handed-over chunk), so a small file is parsed in dozens of chunks and merged in many rounds, and a
meter-day straddles chunk boundaries. Each test checks the outcome against what a single round (the
whole file parsed first, as before the pipeline) gives, or against the exact expected rows.
"""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import transaction

from accounts.usage import loader, parsers, pipeline
from accounts.usage.models import Correction, IngestBatch, MeterDay, MeterMonth
from accounts.usage.pipeline import ParseThread
from accounts.usage.readings import METER_SHIFT, ParsedReadings, encode_day
from members.models import AuditEvent
from tests.usage.conftest import csv_bytes, day_lines

DAY = datetime.date(2026, 10, 14)
NEXT = DAY + datetime.timedelta(days=1)
BATCH_FIELDS = (
    "status",
    "file_format",
    "readings_received",
    "meter_days_inserted",
    "meter_days_changed",
    "meter_days_unchanged",
    "corrections",
    "bad_row_count",
    "bad_rows",
    "rejection_reason",
)


@pytest.fixture
def meters(db):
    from tests.factories import MeterFactory

    return [MeterFactory(meter_number=f"MTR-P-{index:04d}") for index in range(5)]


@pytest.fixture
def rounds(monkeypatch) -> list[set[int]]:
    """The group keys of every merge round, in order."""
    seen: list[set[int]] = []
    real = loader.Merge.round

    def spy(self, groups):
        seen.append(set(groups))
        real(self, groups)

    monkeypatch.setattr(loader.Merge, "round", spy)
    return seen


def _tiny_chunks(monkeypatch) -> None:
    monkeypatch.setattr(parsers, "CSV_CHUNK_CHARS", 700)
    monkeypatch.setattr(parsers, "CSV_CHUNK_ROWS", 10)
    monkeypatch.setattr(pipeline, "ROUND_GROUPS", 1)


def _one_round(monkeypatch) -> None:
    monkeypatch.setattr(parsers, "CSV_CHUNK_CHARS", 4 << 20)
    monkeypatch.setattr(parsers, "CSV_CHUNK_ROWS", 65536)
    monkeypatch.setattr(pipeline, "ROUND_GROUPS", 1 << 30)


def _parse_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "usage-ingest-parse"]


def _stored() -> dict[str, list]:
    """Everything an ingest writes to the usage store, without ids, batch ids and times."""
    return {
        "days": sorted(
            MeterDay.objects.values_list(
                "meter_id", "day", "channel", "interval_minutes", "vals", "quality", "total_wh"
            )
        ),
        "months": sorted(
            MeterMonth.objects.values_list(
                "meter_id",
                "month",
                "channel",
                "interval_minutes",
                "total_wh",
                "days_with_data",
                "intervals_estimated",
                "intervals_missing",
            )
        ),
        "corrections": sorted(
            Correction.objects.values_list(
                "meter_id",
                "day",
                "channel",
                "interval_minutes",
                "slot",
                "old_value_wh",
                "new_value_wh",
                "old_quality",
                "new_quality",
            )
        ),
    }


def _key(meter, day: datetime.date, channel: int = 0) -> int:
    return meter.pk << METER_SHIFT | encode_day(day, 15) | channel


def _first_file(meters) -> bytes:
    """Full days for three meters, half a day for the fourth."""
    lines = [line for meter in meters[:3] for line in day_lines(meter.meter_number, DAY)]
    return csv_bytes(lines + day_lines(meters[3].meter_number, DAY)[:48])


def _second_file(meters) -> tuple[bytes, dict[int, str]]:
    """Every kind of merge, bad rows in late chunks, and a meter-day spread over the whole file; with the
    expected bad rows (line -> part of the reason). Its 9 meter-days: 6 new, 2 changed, 1 unchanged."""
    m0, m1, m2, m3, m4 = (meter.meter_number for meter in meters)
    corrected = day_lines(m1, DAY)
    corrected[40] = corrected[40].replace(",140,actual,", ",999,edited,")
    split = day_lines(m4, NEXT)
    lines = [
        *split[:30],  # m4's next day begins here and ends at the bottom: finished only in the last chunk
        *day_lines(m0, DAY),  # unchanged
        *corrected,  # one correction
        *day_lines(m3, DAY)[48:],  # completes the half day: changed, no correction
        *[line for meter in (m0, m1, m2, m3) for line in day_lines(meter, NEXT)],  # new
        *day_lines(m2, NEXT, channel="received")[:20],  # a partial day, never finished
    ]
    first_bad = len(lines) + 2  # the header is line 1
    lines += [
        day_lines(m0, NEXT)[5].replace(",105,", ",7,"),  # a duplicate of a meter-day merged rounds ago
        day_lines("NO-SUCH-METER", NEXT)[0],
        day_lines(m1, NEXT)[0].replace(",actual,", ",guessed,"),
        *split[30:],
    ]
    expected = {first_bad: "duplicate reading in this file", first_bad + 1: "unknown meter", first_bad + 2: "guessed"}
    return csv_bytes(lines), expected


def _outcome(ingest, files: list[bytes], rounds: list[set[int]]) -> tuple[list[dict], dict[str, list], list[int]]:
    """Ingest ``files`` in order; the batches, the store and each file's number of rounds; then roll it
    all back."""
    counts = []
    with transaction.atomic():
        batches = []
        for data in files:
            before = len(rounds)
            batches.append(ingest(data))
            counts.append(len(rounds) - before)
        outcome = [{name: getattr(batch, name) for name in BATCH_FIELDS} for batch in batches], _stored(), counts
        transaction.set_rollback(True)
    return outcome


def test_a_file_in_many_chunks_and_rounds_stores_what_one_round_stores(meters, ingest, monkeypatch, rounds):
    second, expected_bad = _second_file(meters)
    files = [_first_file(meters), second]
    _one_round(monkeypatch)
    whole_batches, whole_stored, whole_counts = _outcome(ingest, files, rounds)
    assert whole_counts == [1, 1]
    rounds.clear()

    _tiny_chunks(monkeypatch)
    batches, stored, counts = _outcome(ingest, files, rounds)

    assert (batches, stored) == (whole_batches, whole_stored)
    # A round per finished meter-day (each ends in its own chunk), then one of the unfinished ones.
    assert counts == [4, 8] and rounds[3] == {_key(meters[3], DAY)} and len(rounds[-1]) == 2
    second_rounds = rounds[counts[0] :]
    assert sum(map(len, second_rounds)) == 9 == len(set().union(*second_rounds))  # each meter-day once
    assert batches[1]["status"] == IngestBatch.Status.LOADED
    bad = {row["line"]: row["reason"] for row in batches[1]["bad_rows"]}
    assert bad.keys() == expected_bad.keys()
    assert all(expected_bad[line] in reason for line, reason in bad.items())
    assert tuple(
        batches[1][name]
        for name in ("meter_days_inserted", "meter_days_changed", "meter_days_unchanged", "corrections")
    ) == (6, 2, 1, 1)
    m0_next = next(row for row in stored["days"] if row[0] == meters[0].pk and row[1] == NEXT)
    assert m0_next[4][5] == 105  # the late duplicate changed nothing


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        ("MTR-P-0000,0001-01-01T00:00:00Z,900,5,actual,delivered", "outside the range MemberGuard accepts"),
        ('MTR-P-0000,"2026-10-14', "not valid CSV"),  # the quoted path (csv.reader), an unterminated quote
    ],
)
def test_a_file_refused_in_a_late_chunk_undoes_the_rounds_already_merged(
    meters, ingest, monkeypatch, rounds, tail, reason
):
    _tiny_chunks(monkeypatch)
    first = ingest(_first_file(meters))
    stored = _stored()
    second, _ = _second_file(meters)
    merged_before = len(rounds)

    batch = ingest(second + tail.encode() + b"\n")

    assert len(rounds) - merged_before >= 5  # corrections, new days ... were merged, then rolled back
    assert batch.status == IngestBatch.Status.REJECTED and reason in batch.rejection_reason
    if "outside" in reason:
        tail_line = second.count(b"\n") + 1
        assert batch.rejection_reason.startswith(f"line {tail_line}:")
    assert _stored() == stored
    assert list(IngestBatch.objects.order_by("pk").values_list("pk", "status")) == [
        (first.pk, IngestBatch.Status.LOADED),
        (batch.pk, IngestBatch.Status.REJECTED),
    ]
    assert AuditEvent.objects.filter(action="usage.file_ingested").count() == 1
    assert AuditEvent.objects.filter(action="usage.file_rejected", object_id=str(batch.pk)).exists()
    assert not _parse_threads()


def test_a_failure_in_the_parse_thread_reaches_the_caller_and_writes_nothing(meters, ingest, monkeypatch, rounds):
    _tiny_chunks(monkeypatch)
    real = parsers._fast_chunk
    calls = []

    def failing(columns, first_line, state):
        calls.append(first_line)
        if len(calls) == 20:
            raise RuntimeError("parser bug")
        return real(columns, first_line, state)

    monkeypatch.setattr(parsers, "_fast_chunk", failing)

    with pytest.raises(RuntimeError, match="parser bug"):
        ingest(_first_file(meters))

    assert rounds  # meter-days finished before the failure were merged (and rolled back)
    assert not IngestBatch.objects.exists() and not AuditEvent.objects.filter(action__startswith="usage.").exists()
    assert _stored() == {"days": [], "months": [], "corrections": []}
    assert not _parse_threads()


def test_a_failure_in_a_merge_round_stops_the_parse_and_writes_nothing(meters, ingest, monkeypatch):
    _tiny_chunks(monkeypatch)
    real = loader.Merge.round

    def failing(self, groups):
        if self.rounds == 2:
            raise RuntimeError("merge failed")
        real(self, groups)

    monkeypatch.setattr(loader.Merge, "round", failing)

    with pytest.raises(RuntimeError, match="merge failed"):
        ingest(_first_file(meters))

    assert not IngestBatch.objects.exists()
    assert _stored() == {"days": [], "months": [], "corrections": []}
    assert not _parse_threads()


def test_leaving_the_rounds_early_stops_a_parse_that_would_go_on_and_joins_its_thread(monkeypatch):
    """The parse would go on for a long while; the caller gives up after the first round. The parse
    must stop at its next chunk (not run to its end) and its thread be gone."""
    monkeypatch.setattr(pipeline, "ROUND_GROUPS", 1)
    chunks_parsed = []

    def endless(on_chunk) -> ParsedReadings:
        result = ParsedReadings(file_format="csv")
        result.groups[1] = [[1], bytearray(b"A")]
        for chunk in range(1_000_000):
            chunks_parsed.append(chunk)
            on_chunk(result)
        return result

    with pytest.raises(LookupError), ParseThread(endless) as parsing:
        for groups in parsing.rounds():
            assert groups == {1: [[1], bytearray(b"A")]}
            raise LookupError("the caller failed")

    assert not _parse_threads()
    assert len(chunks_parsed) < 1_000_000


def test_rounds_hold_only_finished_groups_until_the_end(monkeypatch):
    """A group with an empty slot waits for the last round; a finished one goes at once."""
    monkeypatch.setattr(pipeline, "ROUND_GROUPS", 1)

    def parse(on_chunk) -> ParsedReadings:
        result = ParsedReadings(file_format="csv")
        result.groups[1] = [[1, None], bytearray(b"A\x00")]
        result.groups[2] = [[1, 2], bytearray(b"AE")]
        on_chunk(result)
        result.groups[3] = [[None, None], bytearray(b"MM")]  # missing readings still fill their slots
        on_chunk(result)
        result.groups[1][1][1] = ord("A")  # the first group is finished later
        on_chunk(result)
        result.groups[4] = [[5, None], bytearray(b"E\x00")]
        return result

    with ParseThread(parse) as parsing:
        handed = [sorted(groups) for groups in parsing.rounds()]

    assert handed == [[2], [3], [1], [4]]
    assert parsing.parsed is not None and sorted(parsing.parsed.groups) == [1, 2, 3, 4]
