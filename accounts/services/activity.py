"""What happens on an account: bills, payments (and returned payments), returned mail, statements not
received. The last three are Red Flags notices; every one is announced on ``registry_changed``."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Bill, Payment, ReturnedMail, StatementNotice
from accounts.services.common import require_reason, send_change
from members import identifiers, validation
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.crypto import canonical, nfkc
from members.models import FinancialAccount, Member

_MAILING_ADDRESS = identifiers.index_named("members.Member", "address_index")


# --- Bills, payments, notices ----------------------------------------------------------------------


def bill_record(
    *,
    actor: Actor,
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
        send_change("account.bill_recorded", actor=actor, account=account, fields=["bills"])
    return bill


def payment_record(
    *,
    actor: Actor,
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
            recorded_by=signed_in_user(actor),
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
        send_change(
            "account.payment_recorded",
            actor=actor,
            account=account,
            fields=["payments"],
            new={"bank_account": financial_account.bank_account_index}
            if financial_account is not None and financial_account.bank_account_index
            else {},
        )
    return payment


def payment_return(*, actor: Actor, payment: Payment, reason: str) -> Payment:
    """A payment came back (NSF, stopped, charged back): unusual account activity for Red Flags."""
    if payment.returned:
        return payment
    require_reason(reason)
    payment.returned = True
    payment.returned_at = timezone.now()
    with transaction.atomic():
        payment.save(update_fields=["returned", "returned_at"])
        bill = payment.bill
        if bill is not None and bill.status == Bill.Status.PAID:
            bill.status = Bill.Status.OPEN
            bill.save(update_fields=["status"])
        audit_record(
            actor=actor,
            action="account.payment_returned",
            obj=payment,
            fields=["returned"],
            reason=reason,
            detail={"account_id": payment.account_id},
        )
        send_change("account.payment_returned", actor=actor, account=payment.account, fields=["payments"])
    return payment


def _canonical_mailing(member: Member) -> str:
    address = _MAILING_ADDRESS.value_of(member)
    return canonical("address", address) if address is not None else ""


def returned_mail_record(
    *, actor: Actor, member: Member, returned_on: datetime.date, account: Account | None = None, reason: str = ""
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
            recorded_by=signed_in_user(actor),
        )
        audit_record(
            actor=actor,
            action="account.mail_returned",
            obj=item,
            fields=["returned_on"],
            detail={"member_id": member.pk},
        )
        send_change(
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
    actor: Actor,
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
            recorded_by=signed_in_user(actor),
        )
        audit_record(
            actor=actor,
            action="account.statement_not_received",
            obj=notice,
            fields=["reported_on", "channel"],
            detail={"member_id": member.pk},
        )
        send_change(
            "account.statement_not_received",
            actor=actor,
            account=account,
            member_id=member.pk,
            fields=["statement_notices"],
        )
    return notice
