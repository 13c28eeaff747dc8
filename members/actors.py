"""Who does a write: the one type every service's ``actor`` parameter has, and helpers to read it.

A service is called by a signed-in staff member or member (a ``User``), by a request nobody signed in
to (``AnonymousUser``, refused by the service where it matters), or by the system itself (``None``: a
Celery task, an import, a migration), which audit rows label with ``actor_label`` instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from members.models import User

Actor: TypeAlias = "User | AnonymousUser | None"


def signed_in_user(actor: Actor) -> User | None:
    """The actor as a ``User`` when a person signed in, else ``None`` (anonymous or the system)."""
    return actor if actor is not None and actor.is_authenticated else None


def actor_id_of(actor: Actor) -> int | None:
    user = signed_in_user(actor)
    return user.pk if user is not None else None


def actor_name(actor: Actor) -> str:
    """The name audit rows and logs show: the username, or ``"system"``."""
    user = signed_in_user(actor)
    return user.get_username() if user is not None else "system"
