"""Forked worker processes for the bulk commands (the CIS import, key rotation): one pool for both.

Why fork: a child inherits its job's data in memory (pickling a batch of rows through a pipe cost a
sixth of the import) and the parent's loaded Django, so starting one costs a few milliseconds. Each
child opens its own database connections (one socket shared by two processes corrupts both) and runs
its job in its own transactions; the parent keeps its connection, and with it any advisory lock it
holds. Children report through a pipe: whatever the job sends reaches the parent's ``on_message``.

A job is ``job(channel, *args)``. It sends with ``channel.send(message)`` and should stop early when
``channel.stopping()`` says so (the parent asked, or the parent is gone). A job that raises, or a child
that exits without finishing (killed, ``os._exit``), is a ``WorkerFailure``: the pool remembers the
first one, asks the other children to stop, and the caller raises its own error from it.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from django.db import connections, transaction

# In a child: the database connections inherited from the parent. They stay referenced, so they are
# never closed (closing would end the parent's session) and never used. A child ends with os._exit
# (multiprocessing's fork start method), which runs no finalizer that could close them either.
_INHERITED_CONNECTIONS: list = []

_MESSAGE, _FAILED, _FINISHED = "message", "failed", "finished"


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off for a bulk load's duration (restored after, and one collection
    then). A batch allocates hundreds of thousands of small lists and strings that all live until the
    batch is written; the collector keeps re-scanning them, a quarter of the CIS import's Python time
    (profiled: 1.2 s of CPU for 10,000 members with it, 0.9 s without). The bulk paths make no reference
    cycles of their own, so nothing waits longer to be freed than the batch it belongs to."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(1)


def default_workers() -> int:
    """Worker processes for the bulk commands: one per core this process may use, at most four
    (PostgreSQL needs cores too)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(4, cpus))


def parallel_possible() -> bool:
    """Children have their own connections and transactions, so the caller must not be inside a
    transaction (they could not see its rows; tests run inside one), the platform must fork, and a
    daemonic process (a multiprocessing or Celery prefork pool worker) may not have children."""
    return (
        not transaction.get_connection().in_atomic_block
        and "fork" in multiprocessing.get_all_start_methods()
        and not multiprocessing.current_process().daemon
    )


def _use_own_connections() -> None:
    """In a freshly forked child, give each database alias a new, unopened connection."""
    for alias in connections:
        inherited = connections[alias]
        _INHERITED_CONNECTIONS.append(inherited)
        fresh = connections.create_connection(alias)
        fresh.settings_dict = inherited.settings_dict
        connections[alias] = fresh


class Channel:
    """A child's end: send messages to the parent, ask whether to stop."""

    def __init__(self, pipe: Connection, stop, parent_pid: int):
        self._pipe, self._stop, self._parent_pid = pipe, stop, parent_pid

    def send(self, message: Any) -> None:
        self._pipe.send((_MESSAGE, message))

    def stopping(self) -> bool:
        return self._stop.is_set() or os.getppid() != self._parent_pid


def _run_child(job: Callable[..., None], args: tuple, pipe: Connection, stop, parent_pid: int) -> None:
    _use_own_connections()
    try:
        job(Channel(pipe, stop, parent_pid), *args)
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
        pipe.send((_FAILED, f"{type(exc).__name__}: {exc}"))
    else:
        pipe.send((_FINISHED, None))
    finally:
        connections.close_all()
        pipe.close()


@dataclass(frozen=True)
class WorkerFailure:
    """A job that did not finish: it raised (``error``), or its process ended first (``exit_code``)."""

    name: str
    error: str | None = None
    exit_code: int | None = None


class ForkPool:
    """Runs jobs in forked children, at most ``workers`` at a time, one child per job.

    ``submit`` starts a job, first waiting (and handling messages) while ``workers`` are running;
    ``join`` waits for every job. Messages are handled in this process, in the order they arrive:
    ``on_message(name, message)``. Use it as a context manager: leaving the block (normally or by an
    exception) stops what is still running: children that do not finish within ``grace_seconds`` are
    terminated, unless ``grace_seconds`` is ``None`` (wait for each job to end: the import's batches
    are short transactions, better finished than cut).
    """

    def __init__(
        self,
        workers: int,
        on_message: Callable[[str, Any], None] = lambda name, message: None,
        *,
        grace_seconds: float | None = None,
    ):
        self.workers = max(1, workers)
        self.on_message = on_message
        self.grace_seconds = grace_seconds
        self.failure: WorkerFailure | None = None
        self._context = multiprocessing.get_context("fork")
        self._stop = self._context.Event()
        self._running: dict[Connection, tuple[str, Any]] = {}  # receiving end -> (job name, process)
        self._finished: set[Connection] = set()

    def __enter__(self) -> ForkPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def wait_for_room(self) -> None:
        """Handle messages until fewer than ``workers`` jobs are running."""
        while len(self._running) >= self.workers:
            self._handle_ready()

    def submit(self, name: str, job: Callable[..., None], *args: Any) -> None:
        self.wait_for_room()
        receiver, sender = self._context.Pipe(duplex=False)
        # Objects that exist now are the parent's: frozen, the child's garbage collector never walks
        # them, so it does not copy every page of the parent it would touch on the way (copy-on-write).
        gc.freeze()
        process = self._context.Process(
            target=_run_child, name=name, daemon=True, args=(job, args, sender, self._stop, os.getpid())
        )
        process.start()
        sender.close()  # the child holds its own copy; ours would keep EOF from ever arriving
        self._running[receiver] = (name, process)

    def stop(self) -> None:
        """Ask every running job to stop at its next ``channel.stopping()`` check."""
        self._stop.set()

    def join(self) -> None:
        """Wait for every running job, handling its messages."""
        try:
            while self._running:
                self._handle_ready()
        finally:
            gc.unfreeze()

    def close(self) -> None:
        self.stop()
        if self.grace_seconds is None:
            self.join()
            return
        for receiver, (_, process) in list(self._running.items()):
            process.join(timeout=self.grace_seconds)
            if process.is_alive():
                process.terminate()
                process.join()
            receiver.close()
        self._running.clear()
        gc.unfreeze()

    def _handle_ready(self) -> None:
        for receiver in wait(list(self._running)):
            name, process = self._running[receiver]
            try:
                kind, payload = receiver.recv()
            except EOFError:
                self._ended(receiver, name, process)
                continue
            if kind == _MESSAGE:
                self.on_message(name, payload)
            elif kind == _FINISHED:
                self._finished.add(receiver)
            else:
                self._fail(WorkerFailure(name, error=payload))

    def _ended(self, receiver: Connection, name: str, process) -> None:
        process.join()
        receiver.close()
        del self._running[receiver]
        if receiver in self._finished:
            self._finished.discard(receiver)
        else:
            self._fail(WorkerFailure(name, exit_code=process.exitcode))

    def _fail(self, failure: WorkerFailure) -> None:
        if self.failure is None:
            self.failure = failure
        self.stop()
