"""Locust users for ``config/loadtest.py``: each user issues GETs at a fixed pace on its own slot
(config/load_pacing.py), so the arrival rate is ``LOAD_USERS x LOAD_PER_USER_RPS``, spread evenly (or as a
Poisson process, ``LOAD_ARRIVALS=poisson``) whatever the response times (up to the pace's period): an
open loop within that bound. The paths and the signed-in session cookies come from the environment.
"""

from __future__ import annotations

import itertools
import json
import os
import random

# Locust runs this file with its own folder first on sys.path (config/, not the project), so the pacing
# module is imported by its own name: importing the config package would start Celery's app here.
from load_pacing import PacedUser, Pacing  # type: ignore[import-not-found]
from locust import events, task
from locust.contrib.fasthttp import FastHttpUser

# Each session is a signed-in user with the paths that user may read: [{"cookie": ..., "paths": [...]}].
# They come in a file named by LOAD_SESSIONS_FILE (config/loadtest.py), or inline in LOAD_SESSIONS.
_FILE = os.environ.get("LOAD_SESSIONS_FILE")
if _FILE:
    with open(_FILE) as _handle:
        _ALL = json.load(_handle)
else:
    _ALL = json.loads(os.environ.get("LOAD_SESSIONS", '[{"cookie": "", "paths": ["/healthz"]}]'))
_SESSIONS = itertools.cycle(_ALL)


PACING = Pacing.from_environment()


@events.test_stop.add_listener
def _write_lateness(**_kwargs) -> None:
    PACING.write_lateness()


class SignedIn(PacedUser, FastHttpUser):
    """FastHttpUser (geventhttpclient), not HttpUser (python-requests): locust runs every user in one process,
    so its own cost per request delays the others' requests and is measured as the server's latency. With
    python-requests a 4 ms page read p50 34 ms at 20 requests/s and 76 ms at 60 on this two-core machine;
    geventhttpclient costs a fraction of that (docs/benchmarks.md, the load harness)."""

    pacing = PACING

    def on_start(self) -> None:
        session = next(_SESSIONS)
        self.paths = session["paths"]
        self.cookie = session["cookie"]
        self.rng = random.Random(id(self))  # noqa: S311 - choosing paths, not secrets
        self.start_pacing()

    @task
    def get(self) -> None:
        # With more signed-in users than locust users (the portal's members drawn from 10,000), each
        # request is a random one of them, so the load reaches every member, not the first hundred.
        if len(_ALL) > 1:
            session = self.rng.choice(_ALL)
            path, cookie = self.rng.choice(session["paths"]), session["cookie"]
        else:
            path, cookie = self.rng.choice(self.paths), self.cookie
        self.client.cookiejar.clear()  # only the session's own cookie, never one a response set
        headers = {"Cookie": cookie} if cookie else None
        with self.client.get(
            path, name="request", catch_response=True, allow_redirects=False, headers=headers
        ) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
