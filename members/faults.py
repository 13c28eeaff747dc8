"""Named points where a process started by a fault test stops and waits to be killed.

The kill tests (tests/test_platform_worker_kill.py) start a real Celery worker with
``MEMBERGUARD_PAUSE_AT=<point>[:<nth>]`` and ``MEMBERGUARD_PAUSE_FLAG=<file>``; when the worker reaches
that point for the nth time it writes its process id to the file and sleeps, inside the transaction
of the batch in flight, until the test kills it with SIGKILL. Inert unless DEBUG is on and the
variable names the point: production settings never pause.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

from django.conf import settings

_hits: Counter[str] = Counter()


def pause_point(name: str) -> None:
    spec = os.environ.get("MEMBERGUARD_PAUSE_AT", "")
    if not spec or not settings.DEBUG:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] != int(nth or 1):
        return
    Path(os.environ["MEMBERGUARD_PAUSE_FLAG"]).write_text(str(os.getpid()))
    time.sleep(float(os.environ.get("MEMBERGUARD_PAUSE_SECONDS", "300")))
