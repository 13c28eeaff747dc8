"""Settings for the test suite: the real configuration, in development mode.

Tests run against real PostgreSQL and Redis exactly as configured by DATABASE_URL / REDIS_URL (or the
embedded servers when unset). Only DEBUG is defaulted on, so development keys exist and no TLS
redirect gets in the way of the test client; Django's test runner switches DEBUG itself off again.
"""

import os

os.environ.setdefault("DEBUG", "true")

from config.settings import *  # noqa: E402,F403

# Parallel test workers (pytest-xdist) each get their own Redis database, because tests clear the
# cache (FLUSHDB) between them and must not wipe another worker's heartbeat or locks.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw"):
    from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

    _parts = urlsplit(REDIS_URL)  # noqa: F405
    if _parts.scheme == "unix":
        _query = parse_qs(_parts.query)
        _base = int(_query.get("db", ["0"])[0])
        _query["db"] = [str(_base + 1 + int(_worker[2:]))]
        REDIS_URL = f"unix://{_parts.path}?{urlencode(_query, doseq=True)}"
    else:
        _base = int(_parts.path.strip("/") or 0)
        REDIS_URL = urlunsplit(_parts._replace(path=f"/{(_base + 1 + int(_worker[2:])) % 16}"))
    CACHES["default"]["LOCATION"] = REDIS_URL  # noqa: F405
    from config.env import celery_broker_url

    CELERY_BROKER_URL = CELERY_RESULT_BACKEND = celery_broker_url(REDIS_URL)
