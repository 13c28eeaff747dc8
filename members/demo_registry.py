"""Demo data for the registry (filled in by the registry demo step; see seed_registry)."""

from __future__ import annotations


def seed_registry() -> str:
    return "registry demo data: not built yet"
