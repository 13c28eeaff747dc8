"""Overlap a file's parse with its load: the parse runs in a thread and hands over finished meter-days,
which the caller merges (``loader.Merge.round``) in its own transaction while the rest is parsed.

psycopg2 releases the GIL while PostgreSQL works (COPY, INSERT, the rollup upsert), so on two cores
the server's share of an ingest runs beside the Python parse instead of after it.

A meter-day is finished when every slot of its day holds a reading: any later row for it can only be
a duplicate, which the parser reports without touching the group (``parsers._group_columns``,
``_slow_chunk``). So each finished group goes to the loader once, at the end of the chunk that
finished it, and whatever is still unfinished when the parse ends goes in the last round. Used for
CSV files, handed over chunk by chunk (``parsers.ChunkDone``); an ESPI file is parsed in one piece,
so the ingest parses it in its own thread and merges it in one round.

The caller's thread holds the one transaction; the parse thread never touches the database. It never
waits for the caller either (the queue is unbounded: it holds keys' groups that the parse keeps in
memory anyway), and stops at its next chunk once the caller gives up, so ``rounds`` always joins it,
whichever side failed; a failure of the parse (``MalformedFile`` included) is raised in the caller's
thread, after which the caller's transaction rolls back whatever rounds it merged.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from itertools import islice

from accounts.usage.parsers import ChunkDone
from accounts.usage.readings import ParsedReadings

# Meter-days per merge round (the last round may be smaller): fewer means more statements per file,
# more means a longer last round that nothing overlaps. A 10,000-meter day file makes about 5.
ROUND_GROUPS = 2048

Groups = dict[int, list]


class _Stopped(Exception):
    """Raised inside the parse when the caller has given up."""


class _Finished:
    """Tracks which of a parse's groups are finished and not yet handed over."""

    def __init__(self) -> None:
        self.seen = 0  # groups looked at so far (a dict keeps insertion order, and the parse never removes one)
        self.unfinished: list[int] = []

    def take(self, groups: Groups, *, everything: bool) -> Groups:
        keys = self.unfinished + list(islice(groups, self.seen, None))
        self.seen = len(groups)
        if everything:
            self.unfinished = []
            return {key: groups[key] for key in keys}
        ready: Groups = {}
        unfinished = []
        for key in keys:
            group = groups[key]
            if 0 in group[1]:  # a slot without a reading (quality flag 0)
                unfinished.append(key)
            else:
                ready[key] = group
        self.unfinished = unfinished
        return ready


class ParseThread:
    """``parse(on_chunk)`` in a thread, as a context manager: inside it ``rounds()`` yields the finished
    groups, then ``parsed`` is the whole result. Leaving the block, by any path, stops the parse at its
    next chunk and waits for the thread."""

    def __init__(self, parse: Callable[[ChunkDone], ParsedReadings]):
        self._parse = parse
        self._handed: queue.SimpleQueue[Groups | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._finished = _Finished()
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="usage-ingest-parse", daemon=True)
        self.parsed: ParsedReadings | None = None

    def __enter__(self) -> ParseThread:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            parsed = self._parse(self._chunk_done)
            self._handed.put(self._finished.take(parsed.groups, everything=True))
            self.parsed = parsed
        except _Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            self._failure.append(exc)
        finally:
            self._handed.put(None)

    def _chunk_done(self, result: ParsedReadings) -> None:
        if self._stop.is_set():
            raise _Stopped
        ready = self._finished.take(result.groups, everything=False)
        if ready:
            self._handed.put(ready)

    def rounds(self) -> Iterator[Groups]:
        """Rounds of at least ``ROUND_GROUPS`` groups (the last may hold fewer), disjoint, together every
        group of the file; raises what the parse raised (before handing over its last round)."""
        pending: Groups = {}
        while (handed := self._handed.get()) is not None:
            pending.update(handed)
            if len(pending) >= ROUND_GROUPS:
                yield pending
                pending = {}
        self._thread.join()
        if self._failure:
            raise self._failure[0]
        if pending:
            yield pending
