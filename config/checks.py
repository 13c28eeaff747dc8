"""Start-up checks for secrets and keys.

Registered as Django system checks (so ``manage.py check --deploy`` reports them) and run again at
WSGI and Celery start-up (``fail_fast``) so a production process never serves with a weak key.
"""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

MIN_SECRET_LENGTH = 50
MIN_KEY_LENGTH = 32


def _weak(value: str, min_length: int) -> bool:
    return len(value) < min_length or len(set(value)) < 8 or value.startswith("django-insecure")


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
        problems.append(f"SECRET_KEY is weak: use at least {MIN_SECRET_LENGTH} random characters.")
    fernet_keys = list(getattr(settings, "FERNET_KEYS", []) or [])
    if not fernet_keys:
        problems.append("FERNET_KEYS is not set (a comma-separated list, newest key first).")
    for position, key in enumerate(fernet_keys, start=1):
        if _weak(key, MIN_KEY_LENGTH):
            problems.append(f"FERNET_KEYS entry {position} is weak: use at least {MIN_KEY_LENGTH} random characters.")
        if secret and key == secret:
            problems.append(f"FERNET_KEYS entry {position} equals SECRET_KEY; encryption keys must be separate.")
    blind = getattr(settings, "BLIND_INDEX_KEY", "") or ""
    if not blind:
        problems.append("BLIND_INDEX_KEY is not set.")
    else:
        if _weak(blind, MIN_KEY_LENGTH):
            problems.append(f"BLIND_INDEX_KEY is weak: use at least {MIN_KEY_LENGTH} random characters.")
        if blind == secret:
            problems.append("BLIND_INDEX_KEY equals SECRET_KEY; the index key must be separate.")
        if blind in fernet_keys:
            problems.append("BLIND_INDEX_KEY equals a FERNET_KEYS entry; the index key must be separate.")
    chain = getattr(settings, "DISCLOSURE_CHAIN_KEY", "") or ""
    if not chain:
        problems.append("DISCLOSURE_CHAIN_KEY is not set (it keys the disclosure log's hash chain).")
    else:
        if _weak(chain, MIN_KEY_LENGTH):
            problems.append(f"DISCLOSURE_CHAIN_KEY is weak: use at least {MIN_KEY_LENGTH} random characters.")
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
