"""Guards a higher layer places on the registry's sensitive actions (issue 16: warnings that bind).

The registry (members, accounts) and the portal perform the sensitive actions; the Red Flags program,
a higher layer, knows whether a "Red Flag Exists" warning is open on the member or the account. The
registry cannot import it (import-linter layers), so the program registers a guard here from its
``AppConfig.ready`` and every sensitive service calls ``check`` inside its transaction, before it
writes:

    guards.check(action=guards.CONTACT_CHANGE, member=member, actor=actor, acknowledgement=note)

A guard either returns (nothing to say, or it recorded the acknowledgement in the caller's
transaction, so a write that later fails leaves no acknowledgement behind) or raises
``AcknowledgementRequired``: a ``ValidationError`` on the ``acknowledgement`` field whose message lists
the open warnings, so the caller shows it like any other field error and nothing is written.

Action names (``ACTIONS``), for every caller, including helpers that build new sensitive actions:

=====================  =========================================================================
``contact_change``     mailing address, phone or email of a member changed
``bank_change``        a bank account or card on file added or removed
``authorized_party``   a new authorized party on an account
``account_open``       a new account for the member
``portal_enrollment``  the member's portal login created or linked (the identity helper calls it)
=====================  =========================================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from django.core.exceptions import ValidationError

CONTACT_CHANGE = "contact_change"
BANK_CHANGE = "bank_change"
AUTHORIZED_PARTY = "authorized_party"
ACCOUNT_OPEN = "account_open"
PORTAL_ENROLLMENT = "portal_enrollment"

ACTIONS: dict[str, str] = {
    CONTACT_CHANGE: "contact information change",
    BANK_CHANGE: "bank information change",
    AUTHORIZED_PARTY: "new authorized party",
    ACCOUNT_OPEN: "new account",
    PORTAL_ENROLLMENT: "portal enrollment",
}


class AcknowledgementRequired(ValidationError):
    """The action needs the acting staff member's acknowledgement (a note) of the open warnings."""

    def __init__(self, message: str, warnings: list[str]):
        super().__init__({"acknowledgement": [message]})
        self.warnings = warnings


class Guard(Protocol):
    def __call__(self, *, action: str, member: Any, account: Any, actor: Any, acknowledgement: str) -> None: ...


_GUARDS: list[Callable[..., None]] = []


def register(guard: Callable[..., None]) -> Callable[..., None]:
    """Add a guard (idempotent: registering the same function twice keeps one)."""
    if guard not in _GUARDS:
        _GUARDS.append(guard)
    return guard


def check(*, action: str, member: Any, actor: Any, acknowledgement: str = "", account: Any = None) -> None:
    """Run every registered guard for one sensitive action; raises ``AcknowledgementRequired``.

    Call it inside the transaction of the write it guards, before writing.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown guarded action {action!r}; one of {', '.join(ACTIONS)}")
    for guard in _GUARDS:
        guard(action=action, member=member, account=account, actor=actor, acknowledgement=acknowledgement.strip())
