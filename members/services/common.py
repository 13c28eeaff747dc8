"""What the registry's services share: the address value, cleaning it, numbering, announcing a change.

Also used by ``accounts.services`` (premises have addresses and numbers; account activity is announced
on the same signal).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection

from members import validation
from members.actors import Actor, actor_id_of
from members.crypto import fold_for_search
from members.models import Member
from members.signals import RegistryChange, registry_changed


@dataclass(frozen=True)
class Address:
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str

    def as_tuple(self) -> tuple[str, str, str, str, str]:
        return (self.line1, self.line2, self.city, self.state, self.postal_code)


def announce(
    event: str,
    *,
    actor: Actor,
    sender: type = Member,
    member_id: int | None = None,
    account_id: int | None = None,
    fields: Iterable[str] = (),
    old: dict | None = None,
    new: dict | None = None,
) -> None:
    """Send ``registry_changed`` for a change a service just saved (inside its transaction)."""
    registry_changed.send(
        sender=sender,
        change=RegistryChange(
            event=event,
            member_id=member_id,
            account_id=account_id,
            fields=tuple(sorted(fields)),
            old_indexes=dict(old or {}),
            new_indexes=dict(new or {}),
            actor_id=actor_id_of(actor),
        ),
    )


def name_search_form(name: str) -> str:
    """The name as staff search it: upper-case, accents folded ("José Núñez" -> "JOSE NUNEZ"), one space."""
    return fold_for_search(name)


def clean_address(
    collector: validation.Collector, prefix: str, line1: str, line2: str, city: str, state: str, postal_code: str
) -> Address | None:
    cleaned = [
        collector.clean(f"{prefix}line1", validation.clean_address_line, line1),
        collector.clean(f"{prefix}line2", validation.clean_optional_address_line, line2 or ""),
        collector.clean(f"{prefix}city", validation.clean_address_line, city),
        collector.clean(f"{prefix}state", validation.clean_state, state),
        collector.clean(f"{prefix}postal_code", validation.clean_postal_code, postal_code),
    ]
    if any(value is None for value in cleaned):
        return None
    return Address(*cleaned)


def next_number(sequence: str, prefix: str, width: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [sequence])
        (value,) = cursor.fetchone()
    return f"{prefix}{value:0{width}d}"
