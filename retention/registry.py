"""What each retention category destroys, and where the software must hold records itself.

Every app that keeps a purgeable category describes it here with a ``Purgeable``; apps below retention
are described by ``retention/handlers.py``, apps above it (``portal``) register from their own
``ready()``, and a sibling (``disclosures``, which may not import retention nor be imported by it) is
wired by the top layer (``config/apps.py``). The purge, the previews, the ledger and its re-application
all work from these declarations, so a new category is one ``register`` call.

A ``Purgeable`` answers, for a cutoff date: which records still hold something to destroy
(``pending``), how they relate to members and accounts (so holds apply), and how to destroy a list of
primary keys (``destroy``, idempotent: destroying an already-destroyed record is a no-op).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet


@dataclass(frozen=True)
class Purgeable:
    category: str
    # Records still holding something to destroy, dated before ``cutoff`` (None: any date; the ledger).
    pending: Callable[[dt.date | None], QuerySet]
    destroy: Callable[[list[int]], None]
    method: str
    object_type: str
    # The record's date (a DateField or DateTimeField path), for holds on a date range and the preview.
    date_field: str
    # Paths from the record to its member's and account's primary keys, where it has them (holds).
    member_field: str = ""
    account_field: str = ""
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class HoldSource:
    """A condition under which the software holds records itself (an open balance, a court order)."""

    kind: str
    # Primary keys of members (or accounts) the condition holds today, as a values_list/values queryset.
    members: Callable[[], QuerySet] | None = None
    accounts: Callable[[], QuerySet] | None = None


PURGEABLES: dict[str, Purgeable] = {}
HOLD_SOURCES: dict[str, HoldSource] = {}


def register(purgeable: Purgeable) -> None:
    PURGEABLES[purgeable.category] = purgeable


def register_hold_source(source: HoldSource) -> None:
    HOLD_SOURCES[source.kind] = source
