"""What the accounts services share: announcing a change on the registry's signal, and a reason check."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from accounts.models import Account
from members.actors import Actor
from members.services import announce


def send_change(
    event: str,
    *,
    actor: Actor,
    account: Account | None = None,
    member_id: int | None = None,
    fields=(),
    old: dict | None = None,
    new: dict | None = None,
) -> None:
    announce(
        event,
        actor=actor,
        sender=Account,
        member_id=member_id if member_id is not None else (account.member_id if account else None),
        account_id=account.pk if account else None,
        fields=fields,
        old=old,
        new=new,
    )


def require_reason(reason: str) -> None:
    if len(" ".join((reason or "").split())) < 5:
        raise ValidationError({"reason": ["Give a reason."]})
