"""The registry's signals: how the Red Flags program (and anyone else) sees every change.

Sent only by ``members/services.py`` and ``accounts/services.py``, so no caller has to remember.
Payloads carry ids, field names and blind-index values, never plaintext identifiers.

* ``account_opening(sender, account, actor, checklist)``: sent inside the opening transaction while
  ``account.status == "pending"``. Receivers may score synchronously and set ``account.on_hold``,
  ``account.red_flag_warning``, ``account.status_reason`` or ``account.status = "denied"`` on the
  instance they are given (no save needed); the opening service reads those back and saves them.
  ``checklist`` is a dict describing what was verified at opening (see accounts.services.account_open).
* ``registry_changed(sender, change)``: sent after a change is saved, still inside the transaction.
  Receivers do their work with ``transaction.on_commit``.
* ``members_imported(sender, member_ids, actor_label)``: sent by ``manage.py import_members`` after a
  legacy CIS load that loaded members (``accounts.cis_import.announce_import``), every batch committed.
  Imported accounts were opened in the legacy system, so no ``account_opening`` scored them: a receiver
  that checks members in bulk does it here, synchronously (the command reports when it is done), and may
  return a one-line summary the command prints. ``member_ids``: the members this load created.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.dispatch import Signal
from django.utils import timezone

account_opening = Signal()
registry_changed = Signal()
members_imported = Signal()
# Sent when ``rotate_keys`` has recomputed every registry blind index under a new BLIND_INDEX_KEY
# (``run_id``). An app that stores blind-index values of its own recomputes them on this signal.
blind_index_key_rotated = Signal()


@dataclass(frozen=True)
class RegistryChange:
    """What changed. ``old_indexes`` / ``new_indexes`` map an index kind (``"tax_id"``, ``"licence"``,
    ``"phone"``, ``"email"``, ``"address"``, ``"bank_account"``) to its blind-index value (``""`` when
    the value was empty); they hold only kinds whose value changed."""

    event: str
    member_id: int | None = None
    account_id: int | None = None
    fields: tuple[str, ...] = ()
    old_indexes: dict[str, str] = field(default_factory=dict)
    new_indexes: dict[str, str] = field(default_factory=dict)
    actor_id: int | None = None
    occurred_at: datetime.datetime = field(default_factory=timezone.now)


# The events the services send, for receivers to match on.
EVENTS = (
    "member.created",
    "member.name_changed",
    "member.address_changed",
    "member.phone_changed",
    "member.email_changed",
    "member.identifiers_changed",
    "member.status_changed",
    "member.financial_account_added",
    "member.financial_account_removed",
    "member.identifier_revealed",
    "member.online_access_enrolled",
    "account.opened",
    "account.party_added",
    "account.party_removed",
    "account.bill_recorded",
    "account.payment_recorded",
    "account.payment_returned",
    "account.mail_returned",
    "account.statement_not_received",
    "account.closed",
    "account.suspended",
    "account.reinstated",
    "premise.created",
    "premise.changed",
    "meter.installed",
)
