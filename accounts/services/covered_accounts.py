"""Covered accounts (the Red Flags rule's term): opening, holds, denial, closing, suspension, the "Red
Flag Exists" warning, and the people a member authorizes on an account.

Opening sends ``account_opening`` while the account is still ``pending``, so the Red Flags program can
hold it for identity verification, flag it, or deny it before it is ever open.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, AuthorizedParty, Premise
from accounts.services.common import require_reason, send_change
from members import guards, validation
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.crypto import blind_index_or_empty, nfkc
from members.models import Member
from members.services import next_number
from members.signals import account_opening

# --- Covered accounts ----------------------------------------------------------------------------------

# Detection at opening, step (1) of the Red Flags program: the identifying information required before
# an account is opened. A person: date of birth, residential address and an identification number (SSN,
# driver's licence or other identification); a business: its principal place of business and its
# taxpayer number (the legal name is required of every member by the registry).
# The identity documents staff may record as seen (step 2; step 3 for a business), in the checklist's
# ``documents_seen``.
IDENTITY_DOCUMENT_TYPES = {
    "drivers_licence": "Driver's licence",
    "state_id": "State identification card",
    "passport": "Passport",
    "alien_registration_card": "Alien registration card",
    "military_id": "Military identification",
    "business_registration": "Articles of incorporation / business registration",
    "ein_letter": "IRS EIN assignment letter",
    "business_licence": "Business licence",
}


def _missing_identifying_information(member: Member) -> dict[str, str]:
    """``{field: what the program requires}`` for each piece of step (1) the member's record lacks."""
    missing: dict[str, str] = {}
    if not (member.mailing_line1 and member.mailing_city and member.mailing_state and member.mailing_postal_code):
        place = "principal place of business" if member.kind == Member.Kind.BUSINESS else "residential address"
        missing["mailing_line1"] = f"The {place} is required to open an account."
    if member.kind == Member.Kind.BUSINESS:
        if not member.tin:
            missing["tin"] = "A business's taxpayer identification number (EIN) is required to open an account."
        return missing
    if not member.date_of_birth:
        missing["date_of_birth"] = "The date of birth is required to open an account for a person."
    if not (member.ssn or member.drivers_licence_number or member.passport_number or member.alien_registration_number):
        missing["ssn"] = (
            "An identification number is required to open an account for a person: SSN, driver's licence, "
            "passport or alien registration number."
        )
    return missing


def account_open(
    *,
    actor: Actor,
    member: Member,
    premise: Premise | None = None,
    account_number: str | None = None,
    checklist: dict | None = None,
    acknowledgement: str = "",
) -> Account:
    """Open a covered account, letting the Red Flags program decide first.

    The account is created ``pending`` and ``account_opening`` is sent inside the transaction.
    Receivers may set ``on_hold`` (identity to be verified: the account stays pending),
    ``red_flag_warning`` or ``status = "denied"`` on the instance; this service reads them back.
    ``checklist`` records what the clerk verified (e.g. ``{"documents_seen": ["drivers_licence"],
    "id_document_checked": True}``; ``IDENTITY_DOCUMENT_TYPES``) and is passed to receivers unchanged; an
    opening without a recorded verification is held by the Red Flags program.
    The program's required identifying information (step 1) must be on the member's record first: a
    ``ValidationError`` names each missing field and nothing is written. ``acknowledgement``: the acting
    staff member's note on an open "Red Flag Exists" warning (``members.guards``).
    """
    errors = validation.Collector()
    for field, message in _missing_identifying_information(member).items():
        errors.add(field, message)
    if member.status == Member.Status.FORMER:
        errors.add("member", "A former member must rejoin before opening an account.")
    if account_number and Account.objects.filter(account_number=account_number).exists():
        errors.add("account_number", "An account with this number already exists.")
    if premise is not None and premise.accounts.filter(status=Account.Status.OPEN).exclude(member=member).exists():
        errors.add("premise", "Another member has an open account at this premise; close it first.")
    errors.raise_if_errors()
    checklist = dict(checklist or {})
    with transaction.atomic():
        guards.check(action=guards.ACCOUNT_OPEN, member=member, actor=actor, acknowledgement=acknowledgement)
        account = Account(
            member=member,
            premise=premise,
            account_number=account_number or "",
            status=Account.Status.PENDING,
            opened_by=signed_in_user(actor),
        )
        if not account.account_number:
            account.account_number = next_number("accounts_account_number_seq", "A", 7)
        account.save(force_insert=True)
        account_opening.send(sender=Account, account=account, actor=actor, checklist=checklist)
        if account.status == Account.Status.DENIED:
            event = "account.denied"
        elif account.on_hold:
            account.status = Account.Status.PENDING
            event = "account.opening_held"
        else:
            account.status = Account.Status.OPEN
            account.opened_at = timezone.now()
            event = "account.opened"
        account.save(
            update_fields=["status", "status_reason", "opened_at", "on_hold", "red_flag_warning", "updated_at"]
        )
        audit_record(
            actor=actor,
            action=event,
            obj=account,
            fields=["status", "on_hold", "red_flag_warning"],
            detail={
                "member_id": member.pk,
                "status": account.status,
                "on_hold": account.on_hold,
                "red_flag_warning": account.red_flag_warning,
                "checklist": sorted(checklist),
            },
        )
        send_change(
            event,
            actor=actor,
            account=account,
            fields=["status"],
            new={"address": premise.address_index} if premise else {},
        )
    return account


def account_release_hold(*, actor: Actor, account: Account, reason: str) -> Account:
    """Identity verified: a held pending account opens."""
    if account.status != Account.Status.PENDING or not account.on_hold:
        raise ValidationError({"status": ["Only a held, pending account can be released."]})
    require_reason(reason)
    account.on_hold = False
    account.status = Account.Status.OPEN
    account.opened_at = timezone.now()
    return _save_account(
        actor=actor, account=account, event="account.opened", fields=["on_hold", "status", "opened_at"], reason=reason
    )


def account_deny(*, actor: Actor, account: Account, reason: str) -> Account:
    if account.status != Account.Status.PENDING:
        raise ValidationError({"status": ["Only a pending account can be denied."]})
    require_reason(reason)
    account.status = Account.Status.DENIED
    account.on_hold = False
    account.status_reason = reason[:200]
    return _save_account(
        actor=actor,
        account=account,
        event="account.denied",
        fields=["status", "on_hold", "status_reason"],
        reason=reason,
    )


def account_close(*, actor: Actor, account: Account, reason: str = "") -> Account:
    if account.status not in (Account.Status.OPEN, Account.Status.SUSPENDED):
        raise ValidationError({"status": ["Only an open or suspended account can be closed."]})
    account.status = Account.Status.CLOSED
    account.closed_at = timezone.now()
    return _save_account(
        actor=actor, account=account, event="account.closed", fields=["status", "closed_at"], reason=reason
    )


def account_suspend(*, actor: Actor, account: Account, reason: str) -> Account:
    if account.status != Account.Status.OPEN:
        raise ValidationError({"status": ["Only an open account can be suspended."]})
    require_reason(reason)
    account.status = Account.Status.SUSPENDED
    account.suspended_at = timezone.now()
    account.status_reason = reason[:200]
    return _save_account(
        actor=actor,
        account=account,
        event="account.suspended",
        fields=["status", "suspended_at", "status_reason"],
        reason=reason,
    )


def account_reinstate(*, actor: Actor, account: Account, reason: str) -> Account:
    if account.status != Account.Status.SUSPENDED:
        raise ValidationError({"status": ["Only a suspended account can be reinstated."]})
    require_reason(reason)
    account.status = Account.Status.OPEN
    account.suspended_at = None
    account.status_reason = ""
    return _save_account(
        actor=actor,
        account=account,
        event="account.reinstated",
        fields=["status", "suspended_at", "status_reason"],
        reason=reason,
    )


def account_set_red_flag_warning(*, actor: Actor, account: Account, warning: bool, reason: str) -> Account:
    """Set or clear the "Red Flag Exists" warning (the Red Flags program's responses call this)."""
    require_reason(reason)
    if account.red_flag_warning == warning:
        return account
    account.red_flag_warning = warning
    return _save_account(
        actor=actor,
        account=account,
        event="account.red_flag_warning_changed",
        fields=["red_flag_warning"],
        reason=reason,
    )


def _save_account(*, actor: Actor, account: Account, event: str, fields: list[str], reason: str = "") -> Account:
    with transaction.atomic():
        account.save(update_fields=[*fields, "updated_at"])
        audit_record(
            actor=actor,
            action=event,
            obj=account,
            fields=fields,
            reason=reason,
            detail={"member_id": account.member_id, "status": account.status},
        )
        send_change(event, actor=actor, account=account, fields=fields)
    return account


# --- Authorized parties ----------------------------------------------------------------------------


def authorized_party_add(
    *,
    actor: Actor,
    account: Account,
    name: str,
    relationship: str = "",
    phone: str = "",
    email: str = "",
    acknowledgement: str = "",
) -> AuthorizedParty:
    collector = validation.Collector()
    clean_name = " ".join(nfkc(name).split())
    if not clean_name:
        collector.add("name", "The authorized person's name is required.")
    elif validation.name_problem(clean_name):
        collector.add("name", validation.name_problem(clean_name))
    phone_value = collector.clean("phone", validation.clean_phone, phone) if phone else ""
    email_value = collector.clean("email", validation.clean_email, email) if email else ""
    if account.status in (Account.Status.CLOSED, Account.Status.DENIED):
        collector.add("account", "Parties cannot be added to a closed or denied account.")
    collector.raise_if_errors()
    party = AuthorizedParty(
        account=account,
        name=clean_name,
        relationship=nfkc(relationship),
        phone=phone_value or "",
        phone_index=blind_index_or_empty("phone", phone_value),
        email=email_value or "",
        email_index=blind_index_or_empty("email", email_value),
        added_by=signed_in_user(actor),
    )
    with transaction.atomic():
        guards.check(
            action=guards.AUTHORIZED_PARTY,
            member=account.member,
            account=account,
            actor=actor,
            acknowledgement=acknowledgement,
        )
        party.save(force_insert=True)
        audit_record(
            actor=actor,
            action="account.party_added",
            obj=party,
            fields=["name", "relationship", "phone", "email"],
            detail={"account_id": account.pk},
        )
        send_change(
            "account.party_added",
            actor=actor,
            account=account,
            fields=["authorized_parties"],
            new={k: v for k, v in {"phone": party.phone_index, "email": party.email_index}.items() if v},
        )
    return party


def authorized_party_remove(*, actor: Actor, party: AuthorizedParty, reason: str = "") -> AuthorizedParty:
    if party.removed_at:
        return party
    party.removed_at = timezone.now()
    party.removed_by = signed_in_user(actor)
    with transaction.atomic():
        party.save(update_fields=["removed_at", "removed_by"])
        audit_record(
            actor=actor,
            action="account.party_removed",
            obj=party,
            fields=["removed_at"],
            reason=reason,
            detail={"account_id": party.account_id},
        )
        send_change(
            "account.party_removed",
            actor=actor,
            account=party.account,
            fields=["authorized_parties"],
            old={k: v for k, v in {"phone": party.phone_index, "email": party.email_index}.items() if v},
        )
    return party
