"""The bulk commands' one pool of forked workers (members.worker_pool): messages reach the parent, at most
``workers`` children run at once, and a job that fails or a child that dies is reported, not waited for.

No database here: the jobs only send messages (the import and rotation tests use the pool for real)."""

from __future__ import annotations

import os
import time

import pytest

from members.worker_pool import ForkPool, parallel_possible

pytestmark = pytest.mark.skipif(not parallel_possible(), reason="needs fork, outside a transaction")


def _report_pid(channel, number: int) -> None:
    channel.send((number, os.getpid()))


def _fail(channel) -> None:
    raise RuntimeError("disk full")


def _die(channel) -> None:
    os._exit(9)


def _sleep_until_stopped(channel) -> None:
    for _ in range(200):
        if channel.stopping():
            return
        time.sleep(0.05)


def test_each_job_runs_in_its_own_child_and_its_messages_reach_the_parent():
    received = []
    with ForkPool(2, lambda name, message: received.append((name, message))) as pool:
        for number in range(5):
            pool.submit(f"job-{number}", _report_pid, number)
        pool.join()
    assert sorted(message[0] for _, message in received) == [0, 1, 2, 3, 4]
    pids = {message[1] for _, message in received}
    assert len(pids) == 5 and os.getpid() not in pids
    assert pool.failure is None


def test_a_job_that_raises_is_the_pools_failure_with_the_error_named():
    with ForkPool(2) as pool:
        pool.submit("batch 3", _fail)
        pool.join()
    assert (pool.failure.name, pool.failure.error) == ("batch 3", "RuntimeError: disk full")


def test_a_child_that_dies_is_reported_with_its_exit_code_and_the_others_are_asked_to_stop():
    started = time.monotonic()
    with ForkPool(2) as pool:
        pool.submit("sleeper", _sleep_until_stopped)
        pool.submit("dies", _die)
        pool.join()
    assert (pool.failure.name, pool.failure.exit_code) == ("dies", 9)
    assert time.monotonic() - started < 8  # the sleeper stopped when asked, long before its 10 s
