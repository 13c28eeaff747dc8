"""The notices the registry's own changes send (members/notices): who hears about a change of how the
co-op reaches a member. Called inside the change's transaction by the services in this package.

A changed e-mail is told to the old and the new address; a changed mailing address is told by letter
to the *old* address and by e-mail to the address on file, so a takeover that changes the address
first and the e-mail next still reaches the real member twice.
"""

from __future__ import annotations

from django.utils import timezone

from members.actors import Actor
from members.models import FinancialAccount, Member
from members.notices.rendering import masked_number
from members.notices.services import notice_enqueue


def notify_address_changed(*, actor: Actor, member: Member, old_address: str) -> None:
    notice_enqueue(
        actor=actor,
        kind="contact_changed",
        member=member,
        context={"what": "mailing address", "when": timezone.now()},
        letter=bool(old_address),
        letter_to=old_address,
    )


def notify_email_changed(*, actor: Actor, member: Member, old_email: str) -> None:
    notice_enqueue(
        actor=actor,
        kind="contact_changed",
        member=member,
        context={"what": "e-mail address", "when": timezone.now()},
        emails=[old_email, member.email],
        letter=True,
    )


def notify_phone_changed(*, actor: Actor, member: Member) -> None:
    notice_enqueue(
        actor=actor, kind="contact_changed", member=member, context={"what": "phone number", "when": timezone.now()}
    )


def notify_bank_account(*, actor: Actor, financial: FinancialAccount, action: str) -> None:
    notice_enqueue(
        actor=actor,
        kind="bank_account_changed",
        member=financial.member,
        context={
            "action": action,
            "what": financial.get_kind_display().lower(),
            "last4": financial.last4 or "(none)",
            "when": timezone.now(),
        },
        letter=True,
    )


def notify_enrolled(*, member: Member, username: str, account_number: str) -> None:
    """E-mail to the address on file and a letter to the mailing address on file: the member hears of it
    even when someone else enrolled with a different e-mail."""
    notice_enqueue(
        actor=None,
        kind="online_access_enrolled",
        member=member,
        context={"account": masked_number(account_number), "username": username, "when": timezone.now()},
        letter=True,
    )
