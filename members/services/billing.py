"""A member's bank accounts and cards on file, and capital credits (billing information, Privacy Policy
A.2 and A.4). Same pattern as members.services.registry: validate, then one transaction that saves,
audits and announces."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from members import guards, validation
from members.actors import Actor
from members.audit import audit_record
from members.crypto import blind_index, nfkc
from members.models import CapitalCreditAllocation, FinancialAccount, Member
from members.services.common import announce
from members.services.notify import notify_bank_account


def financial_account_add(
    *,
    actor: Actor,
    member: Member,
    kind: str = FinancialAccount.Kind.BANK,
    institution_name: str = "",
    routing_number: str = "",
    account_number: str = "",
    card_token: str = "",
    card_last4: str = "",
    acknowledgement: str = "",
) -> FinancialAccount:
    collector = validation.Collector()
    financial = FinancialAccount(member=member, kind=kind, institution_name=nfkc(institution_name))
    if kind == FinancialAccount.Kind.BANK:
        routing = collector.clean("routing_number", validation.clean_routing_number, routing_number)
        number = collector.clean("account_number", validation.clean_bank_account_number, account_number)
        collector.raise_if_errors()
        financial.routing_number, financial.account_number, financial.last4 = routing, number, number[-4:]
        financial.bank_account_index = blind_index("bank_account", (routing, number))
    elif kind == FinancialAccount.Kind.CARD:
        if not card_token:
            collector.add("card_token", "A card is stored only as the processor's token.")
        if card_last4 and not (len(card_last4) == 4 and card_last4.isascii() and card_last4.isdigit()):
            collector.add("card_last4", "Give the last four digits of the card.")
        collector.raise_if_errors()
        financial.card_token, financial.last4 = card_token, card_last4
    else:
        raise ValidationError({"kind": ["Choose bank or card."]})
    with transaction.atomic():
        guards.check(action=guards.BANK_CHANGE, member=member, actor=actor, acknowledgement=acknowledgement)
        financial.save(force_insert=True)
        audit_record(
            actor=actor,
            action="member.financial_account_added",
            obj=financial,
            fields=["kind", "last4"],
            detail={"member_id": member.pk},
        )
        announce(
            "member.financial_account_added",
            actor=actor,
            member_id=member.pk,
            fields=["financial_accounts"],
            new={"bank_account": financial.bank_account_index} if financial.bank_account_index else {},
        )
        notify_bank_account(actor=actor, financial=financial, action="added")
    return financial


def financial_account_remove(
    *, actor: Actor, financial_account: FinancialAccount, reason: str = "", acknowledgement: str = ""
) -> FinancialAccount:
    if not financial_account.is_active:
        return financial_account
    with transaction.atomic():
        guards.check(
            action=guards.BANK_CHANGE, member=financial_account.member, actor=actor, acknowledgement=acknowledgement
        )
        financial_account.is_active = False
        financial_account.removed_at = timezone.now()
        financial_account.save(update_fields=["is_active", "removed_at"])
        audit_record(
            actor=actor,
            action="member.financial_account_removed",
            obj=financial_account,
            fields=["is_active"],
            reason=reason,
            detail={"member_id": financial_account.member_id},
        )
        announce(
            "member.financial_account_removed",
            actor=actor,
            member_id=financial_account.member_id,
            fields=["financial_accounts"],
            old={"bank_account": financial_account.bank_account_index},
        )
        notify_bank_account(actor=actor, financial=financial_account, action="removed")
    return financial_account


def capital_credit_allocate(
    *,
    actor: Actor,
    member: Member,
    year: int,
    patronage_amount: Decimal | str,
    allocated_amount: Decimal | str,
    allocated_on: datetime.date | None = None,
) -> CapitalCreditAllocation:
    collector = validation.Collector()
    patronage = collector.clean("patronage_amount", validation.clean_amount, patronage_amount, allow_zero=True)
    allocated = collector.clean("allocated_amount", validation.clean_amount, allocated_amount, allow_zero=True)
    if not 1930 <= int(year) <= timezone.localdate().year:
        collector.add("year", "Give a past or current year.")
    collector.raise_if_errors()
    with transaction.atomic():
        allocation, created = CapitalCreditAllocation.objects.select_for_update(no_key=True).get_or_create(
            member=member,
            year=int(year),
            defaults={"patronage_amount": patronage, "allocated_amount": allocated, "allocated_on": allocated_on},
        )
        if not created:
            allocation.patronage_amount, allocation.allocated_amount = patronage, allocated
            allocation.allocated_on = allocated_on or allocation.allocated_on
            allocation.save(update_fields=["patronage_amount", "allocated_amount", "allocated_on"])
        audit_record(
            actor=actor,
            action="member.capital_credit_allocated",
            obj=allocation,
            fields=["patronage_amount", "allocated_amount"],
            detail={"member_id": member.pk, "year": int(year)},
        )
    return allocation
