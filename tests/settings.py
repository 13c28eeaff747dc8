"""Settings for the test suite: the real configuration, in development mode.

Tests run against real PostgreSQL and Redis exactly as configured by DATABASE_URL / REDIS_URL (or the
embedded servers when unset). Only DEBUG is defaulted on, so development keys exist and no TLS
redirect gets in the way of the test client; Django's test runner switches DEBUG itself off again.
"""

import os

os.environ.setdefault("DEBUG", "true")

from config.settings import *  # noqa: E402,F403
