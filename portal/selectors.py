"""Reads for the member's own pages: what the account owes, its bills and payments.

The balance is what the co-op's records say, computed the one way everywhere in the portal: the balance
carried over from a legacy system at migration (if any), plus every bill issued since (void bills
excepted), less every payment received since (returned payments excepted). A positive balance is owed
by the member; the amount due is that balance, due on the oldest open bill's due date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet, Sum

from accounts.models import Account, Bill, Payment


@dataclass(frozen=True)
class AccountSummary:
    account: Account
    balance: Decimal
    amount_due: Decimal
    due_on: dt.date | None
    latest_bill: Bill | None

    @property
    def in_credit(self) -> bool:
        return self.balance < 0

    @property
    def credit(self) -> Decimal:
        return -self.balance


def _since(queryset, account: Account, field: str):
    if account.balance is not None and account.balance_as_of is not None:
        return queryset.filter(**{f"{field}__gt": account.balance_as_of})
    return queryset


def account_summary(*, account: Account) -> AccountSummary:
    """Balance, amount due and due date of one account (three small aggregate queries)."""
    bills = _since(Bill.objects.filter(account=account).exclude(status=Bill.Status.VOID), account, "issued_on")
    payments = _since(Payment.objects.filter(account=account, returned=False), account, "received_at__date")
    billed = bills.aggregate(total=Sum("amount_due"))["total"] or Decimal("0")
    paid = payments.aggregate(total=Sum("amount"))["total"] or Decimal("0")
    balance = (account.balance or Decimal("0")) + billed - paid
    oldest_open = bills.filter(status=Bill.Status.OPEN).order_by("due_on").first()
    latest = Bill.objects.filter(account=account).exclude(status=Bill.Status.VOID).order_by("-issued_on").first()
    amount_due = max(balance, Decimal("0"))
    return AccountSummary(
        account=account,
        balance=balance,
        amount_due=amount_due,
        due_on=oldest_open.due_on if oldest_open and amount_due > 0 else None,
        latest_bill=latest,
    )


def bills_of_account(*, account: Account) -> QuerySet[Bill]:
    """Every bill of the account, newest first (the page paginates; nothing is cut off)."""
    return Bill.objects.filter(account=account).order_by("-issued_on", "-pk")


def payments_of_account(*, account: Account) -> QuerySet[Payment]:
    return Payment.objects.filter(account=account).select_related("bill").order_by("-received_at", "-pk")


def bill_of_account(*, account: Account, statement_number: str) -> Bill | None:
    return Bill.objects.filter(account=account, statement_number=statement_number).first()
