"""The only way the Red Flags program changes an account: the registry's own services.

Thin adapters so the program's responses read as the program's words, while every account write is
validated, audited and signalled by ``accounts/services.py`` like any other account change.
"""

from __future__ import annotations

from accounts import services as account_services
from accounts.models import Account
from members.actors import Actor
from members.models import Member

LIVE_STATUSES = (Account.Status.PENDING, Account.Status.OPEN, Account.Status.SUSPENDED)


def live_accounts(member: Member | None) -> list[Account]:
    if member is None:
        return []
    return list(Account.objects.filter(member_id=member.pk, status__in=LIVE_STATUSES).order_by("id"))


def set_warning(*, account: Account, warning: bool, reason: str, actor: Actor = None) -> Account:
    return account_services.account_set_red_flag_warning(actor=actor, account=account, warning=warning, reason=reason)


def deny_opening(*, account: Account, actor: Actor, reason: str) -> Account:
    return account_services.account_deny(actor=actor, account=account, reason=reason)


def close_account(*, account: Account, actor: Actor, reason: str) -> Account:
    return account_services.account_close(actor=actor, account=account, reason=reason)


def release_hold(*, account: Account, actor: Actor, reason: str) -> Account:
    return account_services.account_release_hold(actor=actor, account=account, reason=reason)
