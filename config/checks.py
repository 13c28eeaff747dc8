"""Start-up checks for secrets and keys.

Registered as Django system checks (so ``manage.py check --deploy`` reports them) and run again at
WSGI and Celery start-up (``fail_fast``) so a production process never serves with a weak key.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

MIN_SECRET_LENGTH = 50
MIN_KEY_LENGTH = 32
# A key's estimated entropy (its length times the Shannon entropy of its characters) must reach this;
# ``secrets.token_urlsafe(24)`` (the shortest key allowed, 32 characters) scores at least ~125 and
# ``token_urlsafe(32)`` ~190; a repeated pattern such as "abcdefgh" * 4 scores 96.
MIN_KEY_BITS = 112
# Words that only a placeholder or a hand-made key contains (.env.example's are "change-me-to-...").
_PLACEHOLDER = re.compile(
    r"change.?me|changeit|replace.?me|placeholder|example|random.?characters|your.?(secret|key)|insecure|"
    r"secret.?key|password",
    re.IGNORECASE,
)
_ENV_EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"


def _example_values() -> set[str]:
    """Every value in .env.example: refused verbatim whatever it looks like."""
    try:
        lines = _ENV_EXAMPLE.read_text().splitlines()
    except OSError:
        return set()
    values = set()
    for line in lines:
        if "=" in line and not line.lstrip().startswith("#"):
            for value in line.split("=", 1)[1].split(","):
                if value.strip():
                    values.add(value.strip())
    return values


def entropy_bits(value: str) -> float:
    """Length times the Shannon entropy of the key's own characters: a cheap lower-bound-ish estimate."""
    if not value:
        return 0.0
    counts = Counter(value)
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return per_char * len(value)


def patterned(value: str) -> bool:
    """A key that compresses well repeats itself ("abcdefgh" * 5, "0123456789" * 4); random keys do not."""
    return len(zlib.compress(value.encode(), 9)) < 0.75 * len(value)


def placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.search(value)) or value in _example_values()


def _weak(value: str, min_length: int) -> bool:
    return (
        len(value) < min_length
        or len(set(value)) < 8
        or value.startswith("django-insecure")
        or placeholder(value)
        or entropy_bits(value) < MIN_KEY_BITS
        or patterned(value)
    )


def key_problems() -> list[str]:
    """Every problem with the configured secrets, as messages naming the variable."""
    problems: list[str] = []
    try:
        secret = settings.SECRET_KEY or ""
    except ImproperlyConfigured:  # Django itself refuses to read an empty SECRET_KEY
        secret = ""
    if not secret:
        problems.append("SECRET_KEY is not set.")
    elif _weak(secret, MIN_SECRET_LENGTH):
        problems.append(f"SECRET_KEY is weak or a placeholder: use at least {MIN_SECRET_LENGTH} random characters.")
    fernet_keys = list(getattr(settings, "FERNET_KEYS", []) or [])
    if not fernet_keys:
        problems.append("FERNET_KEYS is not set (a comma-separated list, newest key first).")
    for position, key in enumerate(fernet_keys, start=1):
        if _weak(key, MIN_KEY_LENGTH):
            problems.append(
                f"FERNET_KEYS entry {position} is weak or a placeholder: "
                f"use at least {MIN_KEY_LENGTH} random characters."
            )
        if secret and key == secret:
            problems.append(f"FERNET_KEYS entry {position} equals SECRET_KEY; encryption keys must be separate.")
    blind = getattr(settings, "BLIND_INDEX_KEY", "") or ""
    if not blind:
        problems.append("BLIND_INDEX_KEY is not set.")
    else:
        if _weak(blind, MIN_KEY_LENGTH):
            problems.append(
                f"BLIND_INDEX_KEY is weak or a placeholder: use at least {MIN_KEY_LENGTH} random characters."
            )
        if blind == secret:
            problems.append("BLIND_INDEX_KEY equals SECRET_KEY; the index key must be separate.")
        if blind in fernet_keys:
            problems.append("BLIND_INDEX_KEY equals a FERNET_KEYS entry; the index key must be separate.")
    chain = getattr(settings, "DISCLOSURE_CHAIN_KEY", "") or ""
    if not chain:
        problems.append("DISCLOSURE_CHAIN_KEY is not set (it keys the disclosure log's hash chain).")
    else:
        if _weak(chain, MIN_KEY_LENGTH):
            problems.append(
                f"DISCLOSURE_CHAIN_KEY is weak or a placeholder: use at least {MIN_KEY_LENGTH} random characters."
            )
        if chain in {secret, blind, *fernet_keys}:
            problems.append("DISCLOSURE_CHAIN_KEY equals another key; every key must be separate.")
    return problems


@checks.register("memberguard", checks.Tags.security)
def check_keys(app_configs=None, **kwargs):
    level = checks.Warning if settings.DEBUG else checks.Error
    return [level(message, id=f"memberguard.E{index:03d}") for index, message in enumerate(key_problems(), start=1)]


def fail_fast() -> None:
    """Refuse to start a production process with bad keys (DEBUG off)."""
    if settings.DEBUG:
        return
    problems = key_problems()
    if problems:
        raise SystemExit("MemberGuard refuses to start:\n  " + "\n  ".join(problems))


@checks.register("memberguard", checks.Tags.database)
def check_database_role(app_configs=None, databases=None, **kwargs):
    """``manage.py check --database default``: the connection acts as the runtime role (docs/deployment.md)."""
    from django.db import connections

    from config.db_roles import runtime_role_problems

    errors = []
    for alias in databases or []:
        for index, message in enumerate(runtime_role_problems(connections[alias]), start=1):
            errors.append(checks.Error(f"{alias}: {message}", id=f"memberguard.E1{index:02d}"))
    return errors
