"""Reads of the account registry used by more than one screen: a member's accounts with their balances,
their recent bills and payments (the member's page at a glance, members/glance.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from accounts.models import Account, Bill, Payment
from members.models import Member

_MONEY = DecimalField(max_digits=14, decimal_places=2)


def accounts_with_balance(*, member: Member) -> QuerySet[Account]:
    """The member's accounts, newest first, with ``balance_due``: the balance carried over from a legacy CIS
    (if any) plus bills issued since (void ones excluded) less payments received since (returned ones
    excluded). One query: the sums are subqueries."""
    billed = (
        Bill.objects.filter(account=OuterRef("pk"))
        .exclude(status=Bill.Status.VOID)
        .filter(Q(account__balance_as_of__isnull=True) | Q(issued_on__gt=OuterRef("balance_as_of")))
        .values("account")
        .annotate(total=Sum("amount_due"))
        .values("total")
    )
    paid = (
        Payment.objects.filter(account=OuterRef("pk"), returned=False)
        .filter(Q(account__balance_as_of__isnull=True) | Q(received_at__date__gt=OuterRef("balance_as_of")))
        .values("account")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    zero = Value(Decimal("0.00"), output_field=_MONEY)
    return (
        Account.objects.filter(member=member)
        .select_related("premise")
        .only(
            "account_number",
            "status",
            "status_reason",
            "on_hold",
            "red_flag_warning",
            "opened_at",
            "balance",
            "balance_as_of",
            "premise__service_line1",
            "premise__service_city",
        )
        .annotate(
            billed=Coalesce(Subquery(billed, output_field=_MONEY), zero),
            paid=Coalesce(Subquery(paid, output_field=_MONEY), zero),
        )
        .order_by("-created_at", "-id")
    )


def balance_due(account: Account) -> Decimal:
    """An annotated account's balance (``accounts_with_balance``): positive when the member owes."""
    return (account.balance or Decimal("0.00")) + account.billed - account.paid  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ActivityLine:
    on: date
    kind: str  # "Bill" or "Payment"
    account_number: str
    amount: Decimal
    detail: str


def recent_bills_and_payments(*, member: Member, limit: int = 6) -> list[ActivityLine]:
    """The member's latest bills and payments across their accounts, newest first (two queries)."""
    bills = (
        Bill.objects.filter(account__member=member)
        .select_related("account")
        .only("issued_on", "due_on", "amount_due", "status", "kwh", "account__account_number")
        .order_by("-issued_on", "-id")[:limit]
    )
    payments = (
        Payment.objects.filter(account__member=member)
        .select_related("account")
        .only("received_at", "amount", "method", "returned", "account__account_number")
        .order_by("-received_at", "-id")[:limit]
    )
    lines = [
        ActivityLine(
            bill.issued_on,
            "Bill",
            bill.account.account_number,
            bill.amount_due,
            f"{bill.kwh:,.0f} kWh, due {bill.due_on:%b %d, %Y}, {bill.get_status_display().lower()}",
        )
        for bill in bills
    ]
    lines += [
        ActivityLine(
            _local_date(payment.received_at),
            "Payment",
            payment.account.account_number,
            payment.amount,
            payment.get_method_display() + (", returned" if payment.returned else ""),
        )
        for payment in payments
    ]
    return sorted(lines, key=lambda line: line.on, reverse=True)[:limit]


def _local_date(moment: datetime) -> date:
    from django.utils import timezone

    return timezone.localtime(moment).date()
