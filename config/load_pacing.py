"""When each locust user sends its requests, so that many users together make the arrival rate the load
harness asks for (config/locustfile.py, config/soak_locustfile.py).

Locust's ``constant_throughput`` keeps each user on its own phase: the next request starts one period after
the last one started. The harness spawned its users at ``users`` per second with a pace of ``users`` x
period = 1 s, so user *i* started at *i* periods and every user's phase was the same: 100 requests/s
arrived as ten requests at once every 100 ms. A page the server answers in 7 ms (p95 9 ms to a client
that spreads the same 100/s evenly) read p50 24 ms and p95 42 ms, the last of each burst waiting for the
other nine (docs/benchmarks.md, "The arrival bug").

Here user *i* of *n* has its own slot, ``i / n`` of a period after a common epoch (the locustfile's import),
starts at the first occurrence of that slot after it has spawned, and then keeps its pace:
- ``even`` (the default, the issue's "fixed arrival rate"): the slots interleave, so requests arrive one
  every period/n;
- ``poisson``: each user's gaps are drawn from an exponential distribution with the same mean, so
  together the arrivals are a Poisson process at the same rate, the way independent people's requests
  come (bursts included).

A user that falls behind (an answer slower than its gap) sends its next requests at once until it is
back on its schedule, as an open-loop client would send them on time; a user more than a second behind
drops the missed requests (their time has passed) and takes up its pace from now. How late each request
left is kept (``lateness_ms``) and written to ``LOAD_LATENESS_FILE`` when the test stops: locust measures a
response from when its request left, so a server that kept requests waiting shows here too.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import time

ARRIVALS = ("even", "poisson")
MAX_BEHIND_S = 1.0


def checked_arrivals(arrivals: str) -> str:
    """``arrivals`` if it names an arrival process (``LOAD_ARRIVALS``), else a ValueError saying which do."""
    if arrivals not in ARRIVALS:
        raise ValueError(f"LOAD_ARRIVALS must be one of {', '.join(ARRIVALS)}, not {arrivals!r}")
    return arrivals


class Pacing:
    """One schedule per user for ``users`` users each at ``per_user_rps``."""

    def __init__(self, per_user_rps: float, users: int, arrivals: str = "even", *, seed: int = 0):
        if per_user_rps <= 0 or users < 1:
            raise ValueError(f"pacing needs a positive rate and at least one user, got {per_user_rps}/s x {users}")
        self.period = 1.0 / per_user_rps
        self.users = users
        self.arrivals = checked_arrivals(arrivals)
        self.epoch = time.monotonic()
        self._numbers = itertools.count()
        self._seed = seed
        self.lateness_ms: list[float] = []

    @classmethod
    def from_environment(cls) -> Pacing:
        return cls(
            float(os.environ.get("LOAD_PER_USER_RPS", "1")),
            int(os.environ.get("LOAD_USERS", "1")),
            os.environ.get("LOAD_ARRIVALS", "even"),
        )

    def first(self) -> tuple[float, random.Random]:
        """The next user's first request time (monotonic) and its own random source."""
        number = next(self._numbers)
        rng = random.Random(self._seed * 1_000_003 + number)  # noqa: S311 - timing, not secrets
        moment = self.epoch + (number % self.users) / self.users * self.period
        late = time.monotonic() - moment
        if late > 0:  # spawned after its slot: the slot's next occurrence
            moment += math.ceil(late / self.period) * self.period
        return moment, rng

    def gap(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.period) if self.arrivals == "poisson" else self.period

    def write_lateness(self, path: str | None = None) -> None:
        path = path or os.environ.get("LOAD_LATENESS_FILE")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                json.dump(self.lateness_ms, handle)

    @staticmethod
    def wait_until(moment: float) -> None:
        """Sleep until ``moment``; locust patches ``time.sleep`` (gevent), so other users run meanwhile."""
        delay = moment - time.monotonic()
        if delay > 0:
            time.sleep(delay)


class PacedUser:
    """Mixin for a locust ``User``: call ``start_pacing`` in ``on_start``; ``wait_time`` keeps the schedule."""

    pacing: Pacing
    _due: float
    _rng: random.Random

    def start_pacing(self) -> None:
        self._due, self._rng = self.pacing.first()
        self.pacing.wait_until(self._due)
        self.pacing.lateness_ms.append(0.0)

    def wait_time(self) -> float:
        self._due += self.pacing.gap(self._rng)
        now = time.monotonic()
        behind = now - self._due
        if behind > MAX_BEHIND_S:  # the missed requests' time has passed: keep the pace from now
            self._due, behind = now, 0.0
        self.pacing.lateness_ms.append(1000 * max(0.0, behind))
        return max(0.0, -behind)
