"""Every write to premises, meters, covered accounts and their activity. The only write path.

Same pattern as members/services.py: validate (all field errors, nothing written), then one
transaction that saves with ``update_fields``, audits and sends ``registry_changed``. Opening an
account also sends ``account_opening`` while the account is still ``pending``, so the Red Flags program
can hold it for identity verification, flag it, or deny it before it is ever open.
"""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, AuthorizedParty, Bill, Meter, Payment, Premise, ReturnedMail, StatementNotice
from members import validation
from members.audit import audit_record
from members.crypto import blind_index, blind_index_or_empty, canonical, nfkc
from members.models import FinancialAccount, Member
from members.services import actor_id_of, clean_address, next_number
from members.signals import RegistryChange, account_opening, registry_changed

_UNSET: Any = object()


def _send(
    event: str,
    *,
    actor,
    account: Account | None = None,
    member_id: int | None = None,
    fields=(),
    old: dict | None = None,
    new: dict | None = None,
) -> None:
    registry_changed.send(
        sender=Account,
        change=RegistryChange(
            event=event,
            member_id=member_id if member_id is not None else (account.member_id if account else None),
            account_id=account.pk if account else None,
            fields=tuple(sorted(fields)),
            old_indexes=dict(old or {}),
            new_indexes=dict(new or {}),
            actor_id=actor_id_of(actor),
        ),
    )


# --- Premises and meters -------------------------------------------------------------------------------


def premise_create(
    *,
    actor,
    service_line1: str,
    service_line2: str = "",
    service_city: str,
    service_state: str,
    service_postal_code: str,
    premise_number: str | None = None,
    meter_reading_notes: str = "",
    gate_code: str = "",
    dog_warning: bool = False,
) -> Premise:
    collector = validation.Collector()
    address = clean_address(
        collector, "service_", service_line1, service_line2, service_city, service_state, service_postal_code
    )
    if premise_number and Premise.objects.filter(premise_number=premise_number).exists():
        collector.add("premise_number", "A premise with this number already exists.")
    if len(gate_code or "") > 40:
        collector.add("gate_code", "Keep the gate code under 40 characters.")
    collector.raise_if_errors()
    premise = Premise(
        premise_number=premise_number or "",
        address_index=blind_index("address", address.as_tuple()),
        meter_reading_notes=nfkc(meter_reading_notes) or None,
        gate_code=nfkc(gate_code) or None,
        dog_warning=dog_warning,
    )
    (
        premise.service_line1,
        premise.service_line2,
        premise.service_city,
        premise.service_state,
        premise.service_postal_code,
    ) = address.as_tuple()
    with transaction.atomic():
        if not premise.premise_number:
            premise.premise_number = next_number("accounts_premise_number_seq", "P", 7)
        premise.save(force_insert=True)
        audit_record(
            actor=actor,
            action="premise.created",
            obj=premise,
            fields=[f for f in ("meter_reading_notes", "gate_code", "dog_warning") if getattr(premise, f)],
        )
        _send("premise.created", actor=actor, fields=["service_address"], new={"address": premise.address_index})
    return premise


def premise_change_field_notes(
    *, actor, premise: Premise, meter_reading_notes: Any = _UNSET, gate_code: Any = _UNSET, dog_warning: Any = _UNSET
) -> Premise:
    fields = []
    if meter_reading_notes is not _UNSET:
        premise.meter_reading_notes = nfkc(meter_reading_notes or "") or None
        fields.append("meter_reading_notes")
    if gate_code is not _UNSET:
        if len(gate_code or "") > 40:
            raise ValidationError({"gate_code": ["Keep the gate code under 40 characters."]})
        premise.gate_code = nfkc(gate_code or "") or None
        fields.append("gate_code")
    if dog_warning is not _UNSET:
        premise.dog_warning = bool(dog_warning)
        fields.append("dog_warning")
    if not fields:
        return premise
    with transaction.atomic():
        premise.save(update_fields=[*fields, "updated_at"])
        audit_record(actor=actor, action="premise.field_notes_changed", obj=premise, fields=fields)
    return premise


def meter_install(
    *, actor, premise: Premise, meter_number: str, has_solar: bool = False, installed_on: datetime.date | None = None
) -> Meter:
    number = nfkc(meter_number).upper()
    if not number:
        raise ValidationError({"meter_number": ["The meter number is required."]})
    if Meter.objects.filter(meter_number=number).exists():
        raise ValidationError({"meter_number": ["A meter with this number already exists."]})
    with transaction.atomic():
        meter = Meter.objects.create(
            premise=premise, meter_number=number, has_solar=has_solar, installed_on=installed_on or timezone.localdate()
        )
        audit_record(
            actor=actor,
            action="meter.installed",
            obj=meter,
            fields=["meter_number", "has_solar"],
            detail={"premise_id": premise.pk},
        )
        _send("meter.installed", actor=actor, fields=["meter_number"])
    return meter


def meter_remove(*, actor, meter: Meter, removed_on: datetime.date | None = None) -> Meter:
    meter.removed_on = removed_on or timezone.localdate()
    with transaction.atomic():
        meter.save(update_fields=["removed_on"])
        audit_record(actor=actor, action="meter.removed", obj=meter, fields=["removed_on"])
    return meter


# --- Covered accounts ----------------------------------------------------------------------------------


def account_open(
    *,
    actor,
    member: Member,
    premise: Premise | None = None,
    account_number: str | None = None,
    checklist: dict | None = None,
) -> Account:
    """Open a covered account, letting the Red Flags program decide first.

    The account is created ``pending`` and ``account_opening`` is sent inside the transaction.
    Receivers may set ``on_hold`` (identity to be verified: the account stays pending),
    ``red_flag_warning`` or ``status = "denied"`` on the instance; this service reads them back.
    ``checklist`` records what the clerk verified (e.g. ``{"id_document": "drivers_licence",
    "id_document_checked": True}``) and is passed to receivers unchanged.
    """
    errors = validation.Collector()
    if member.status == Member.Status.FORMER:
        errors.add("member", "A former member must rejoin before opening an account.")
    if account_number and Account.objects.filter(account_number=account_number).exists():
        errors.add("account_number", "An account with this number already exists.")
    if premise is not None and premise.accounts.filter(status=Account.Status.OPEN).exclude(member=member).exists():
        errors.add("premise", "Another member has an open account at this premise; close it first.")
    errors.raise_if_errors()
    checklist = dict(checklist or {})
    with transaction.atomic():
        account = Account(
            member=member,
            premise=premise,
            account_number=account_number or "",
            status=Account.Status.PENDING,
            opened_by=actor if actor_id_of(actor) else None,
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
        _send(
            event,
            actor=actor,
            account=account,
            fields=["status"],
            new={"address": premise.address_index} if premise else {},
        )
    return account


def account_release_hold(*, actor, account: Account, reason: str) -> Account:
    """Identity verified: a held pending account opens."""
    if account.status != Account.Status.PENDING or not account.on_hold:
        raise ValidationError({"status": ["Only a held, pending account can be released."]})
    _require_reason(reason)
    account.on_hold = False
    account.status = Account.Status.OPEN
    account.opened_at = timezone.now()
    return _save_account(
        actor=actor, account=account, event="account.opened", fields=["on_hold", "status", "opened_at"], reason=reason
    )


def account_deny(*, actor, account: Account, reason: str) -> Account:
    if account.status != Account.Status.PENDING:
        raise ValidationError({"status": ["Only a pending account can be denied."]})
    _require_reason(reason)
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


def account_close(*, actor, account: Account, reason: str = "") -> Account:
    if account.status not in (Account.Status.OPEN, Account.Status.SUSPENDED):
        raise ValidationError({"status": ["Only an open or suspended account can be closed."]})
    account.status = Account.Status.CLOSED
    account.closed_at = timezone.now()
    return _save_account(
        actor=actor, account=account, event="account.closed", fields=["status", "closed_at"], reason=reason
    )


def account_suspend(*, actor, account: Account, reason: str) -> Account:
    if account.status != Account.Status.OPEN:
        raise ValidationError({"status": ["Only an open account can be suspended."]})
    _require_reason(reason)
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


def account_reinstate(*, actor, account: Account, reason: str) -> Account:
    if account.status != Account.Status.SUSPENDED:
        raise ValidationError({"status": ["Only a suspended account can be reinstated."]})
    _require_reason(reason)
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


def account_set_red_flag_warning(*, actor, account: Account, warning: bool, reason: str) -> Account:
    """Set or clear the "Red Flag Exists" warning (the Red Flags program's responses call this)."""
    _require_reason(reason)
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


def _require_reason(reason: str) -> None:
    if len(" ".join((reason or "").split())) < 5:
        raise ValidationError({"reason": ["Give a reason."]})


def _save_account(*, actor, account: Account, event: str, fields: list[str], reason: str = "") -> Account:
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
        _send(event, actor=actor, account=account, fields=fields)
    return account


# --- Authorized parties ----------------------------------------------------------------------------


def authorized_party_add(
    *, actor, account: Account, name: str, relationship: str = "", phone: str = "", email: str = ""
) -> AuthorizedParty:
    collector = validation.Collector()
    clean_name = " ".join(nfkc(name).split())
    if not clean_name:
        collector.add("name", "The authorized person's name is required.")
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
        added_by=actor if actor_id_of(actor) else None,
    )
    with transaction.atomic():
        party.save(force_insert=True)
        audit_record(
            actor=actor,
            action="account.party_added",
            obj=party,
            fields=["name", "relationship", "phone", "email"],
            detail={"account_id": account.pk},
        )
        _send(
            "account.party_added",
            actor=actor,
            account=account,
            fields=["authorized_parties"],
            new={k: v for k, v in {"phone": party.phone_index, "email": party.email_index}.items() if v},
        )
    return party


def authorized_party_remove(*, actor, party: AuthorizedParty, reason: str = "") -> AuthorizedParty:
    if party.removed_at:
        return party
    party.removed_at = timezone.now()
    party.removed_by = actor if actor_id_of(actor) else None
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
        _send(
            "account.party_removed",
            actor=actor,
            account=party.account,
            fields=["authorized_parties"],
            old={k: v for k, v in {"phone": party.phone_index, "email": party.email_index}.items() if v},
        )
    return party


# --- Bills, payments, notices ----------------------------------------------------------------------


def bill_record(
    *,
    actor,
    account: Account,
    statement_number: str,
    period_start: datetime.date,
    period_end: datetime.date,
    issued_on: datetime.date,
    due_on: datetime.date,
    amount_due: Decimal | str,
    kwh: Decimal | str = "0",
) -> Bill:
    collector = validation.Collector()
    amount = collector.clean("amount_due", validation.clean_amount, amount_due, allow_zero=True)
    usage = collector.clean("kwh", validation.clean_amount, kwh, allow_zero=True) if str(kwh) else Decimal(0)
    if period_end < period_start:
        collector.add("period_end", "The period ends before it starts.")
    if due_on < issued_on:
        collector.add("due_on", "The bill is due before it is issued.")
    if Bill.objects.filter(statement_number=statement_number).exists():
        collector.add("statement_number", "A bill with this statement number already exists.")
    collector.raise_if_errors()
    with transaction.atomic():
        bill = Bill.objects.create(
            account=account,
            statement_number=statement_number,
            period_start=period_start,
            period_end=period_end,
            issued_on=issued_on,
            due_on=due_on,
            amount_due=amount,
            kwh=usage,
        )
        audit_record(
            actor=actor,
            action="account.bill_recorded",
            obj=bill,
            fields=["amount_due", "kwh"],
            detail={"account_id": account.pk},
        )
        _send("account.bill_recorded", actor=actor, account=account, fields=["bills"])
    return bill


def payment_record(
    *,
    actor,
    account: Account,
    amount: Decimal | str,
    method: str,
    received_at: datetime.datetime | None = None,
    bill: Bill | None = None,
    financial_account: FinancialAccount | None = None,
    reference: str = "",
) -> Payment:
    collector = validation.Collector()
    value = collector.clean("amount", validation.clean_amount, amount)
    if method not in Payment.Method.values:
        collector.add("method", "Choose a payment method.")
    if bill is not None and bill.account_id != account.pk:
        collector.add("bill", "The bill belongs to another account.")
    if financial_account is not None and financial_account.member_id != account.member_id:
        collector.add("financial_account", "The bank account or card belongs to another member.")
    if received_at is not None and received_at > timezone.now() + datetime.timedelta(minutes=5):
        collector.add("received_at", "A payment cannot be received in the future.")
    collector.raise_if_errors()
    with transaction.atomic():
        payment = Payment.objects.create(
            account=account,
            amount=value,
            method=method,
            received_at=received_at or timezone.now(),
            bill=bill,
            financial_account=financial_account,
            reference=nfkc(reference)[:60],
            recorded_by=actor if actor_id_of(actor) else None,
        )
        if bill is not None and bill.status == Bill.Status.OPEN:
            paid = sum((p.amount for p in bill.payments.filter(returned=False)), Decimal(0))
            if paid >= bill.amount_due:
                bill.status = Bill.Status.PAID
                bill.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action="account.payment_recorded",
            obj=payment,
            fields=["amount", "method"],
            detail={"account_id": account.pk},
        )
        _send(
            "account.payment_recorded",
            actor=actor,
            account=account,
            fields=["payments"],
            new={"bank_account": financial_account.bank_account_index}
            if financial_account is not None and financial_account.bank_account_index
            else {},
        )
    return payment


def payment_return(*, actor, payment: Payment, reason: str) -> Payment:
    """A payment came back (NSF, stopped, charged back): unusual account activity for Red Flags."""
    if payment.returned:
        return payment
    _require_reason(reason)
    payment.returned = True
    payment.returned_at = timezone.now()
    with transaction.atomic():
        payment.save(update_fields=["returned", "returned_at"])
        if payment.bill_id and payment.bill.status == Bill.Status.PAID:
            payment.bill.status = Bill.Status.OPEN
            payment.bill.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action="account.payment_returned",
            obj=payment,
            fields=["returned"],
            reason=reason,
            detail={"account_id": payment.account_id},
        )
        _send("account.payment_returned", actor=actor, account=payment.account, fields=["payments"])
    return payment


def _canonical_mailing(member: Member) -> str:
    if not member.mailing_line1:
        return ""
    return canonical(
        "address",
        (
            member.mailing_line1,
            member.mailing_line2,
            member.mailing_city,
            member.mailing_state,
            member.mailing_postal_code,
        ),
    )


def returned_mail_record(
    *, actor, member: Member, returned_on: datetime.date, account: Account | None = None, reason: str = ""
) -> ReturnedMail:
    if returned_on > timezone.localdate():
        raise ValidationError({"returned_on": ["Mail cannot be returned in the future."]})
    if account is not None and account.member_id != member.pk:
        raise ValidationError({"account": ["The account belongs to another member."]})
    with transaction.atomic():
        item = ReturnedMail.objects.create(
            member=member,
            account=account,
            returned_on=returned_on,
            address_index=member.address_index,
            sent_to_address=_canonical_mailing(member),
            reason=nfkc(reason)[:200],
            recorded_by=actor if actor_id_of(actor) else None,
        )
        audit_record(
            actor=actor,
            action="account.mail_returned",
            obj=item,
            fields=["returned_on"],
            detail={"member_id": member.pk},
        )
        _send(
            "account.mail_returned",
            actor=actor,
            account=account,
            member_id=member.pk,
            fields=["returned_mail"],
            new={"address": member.address_index} if member.address_index else {},
        )
    return item


def statement_notice_record(
    *,
    actor,
    member: Member,
    reported_on: datetime.date,
    account: Account | None = None,
    channel: str = StatementNotice.Channel.PHONE,
    notes: str = "",
) -> StatementNotice:
    if reported_on > timezone.localdate():
        raise ValidationError({"reported_on": ["The report date is in the future."]})
    if channel not in StatementNotice.Channel.values:
        raise ValidationError({"channel": ["Choose how the member told us."]})
    if account is not None and account.member_id != member.pk:
        raise ValidationError({"account": ["The account belongs to another member."]})
    with transaction.atomic():
        notice = StatementNotice.objects.create(
            member=member,
            account=account,
            reported_on=reported_on,
            channel=channel,
            notes=nfkc(notes),
            recorded_by=actor if actor_id_of(actor) else None,
        )
        audit_record(
            actor=actor,
            action="account.statement_not_received",
            obj=notice,
            fields=["reported_on", "channel"],
            detail={"member_id": member.pk},
        )
        _send(
            "account.statement_not_received",
            actor=actor,
            account=account,
            member_id=member.pk,
            fields=["statement_notices"],
        )
    return notice
