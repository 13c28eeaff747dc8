"""Typed readers for configuration that lives in the environment.

Settings are read only from the environment (12-factor). Each helper fails loudly: a value that is
present but malformed raises ``ImproperlyConfigured`` naming the variable, never a silent default.
``*_FILE`` variants let container secrets be mounted as files (healthchecks' ``envsecret``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import overload

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@overload
def env_str(name: str) -> str | None: ...
@overload
def env_str(name: str, default: str) -> str: ...
def env_str(name: str, default: str | None = None) -> str | None:
    """The variable's value (or its ``_FILE``'s contents); ``default`` when unset."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE points at {file_path!r}, which cannot be read: {exc}") from exc
    return os.environ.get(name, default)


def env_required(name: str) -> str:
    value = env_str(name)
    if not value:
        raise ImproperlyConfigured(f"The environment variable {name} must be set.")
    return value


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer.") from exc


def env_seconds(name: str, default: int, *, minimum: int = 1) -> int:
    """A duration in whole seconds (token lifetimes, windows); below ``minimum`` fails loudly."""
    value = env_int(name, default)
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum} seconds.")
    return value


def env_list(name: str, default: list[str] | None = None, separator: str = ",") -> list[str]:
    raw = env_str(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(separator) if item.strip()]


def celery_broker_url(redis_url: str) -> str:
    """Celery's transport spells a unix-socket Redis ``redis+socket://``; redis-py spells it ``unix://``."""
    return redis_url.replace("unix://", "redis+socket://", 1) if redis_url.startswith("unix://") else redis_url
