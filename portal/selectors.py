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

from django.db.models import F, Min, Q, QuerySet, Sum

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


def _after_carried_balance(field: str) -> Q:
    """Rows the carried-over balance does not already include (all rows when nothing was carried)."""
    return Q(account__balance_as_of__isnull=True) | Q(**{f"{field}__gt": F("account__balance_as_of")})


def account_summaries(*, accounts: list[Account]) -> list[AccountSummary]:
    """Balance, amount due and due date of each account, in three queries however many accounts."""
    ids = [account.pk for account in accounts]
    billed = {
        row["account_id"]: row
        for row in Bill.objects.filter(account_id__in=ids)
        .exclude(status=Bill.Status.VOID)
        .filter(_after_carried_balance("issued_on"))
        .values("account_id")
        .annotate(total=Sum("amount_due"), oldest_open_due=Min("due_on", filter=Q(status=Bill.Status.OPEN)))
    }
    paid = dict(
        Payment.objects.filter(account_id__in=ids, returned=False)
        .filter(_after_carried_balance("received_at__date"))
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values_list("account_id", "total")
    )
    latest = {
        bill.account_id: bill
        for bill in Bill.objects.filter(account_id__in=ids)
        .exclude(status=Bill.Status.VOID)
        .order_by("account_id", "-issued_on", "-pk")
        .distinct("account_id")
    }
    summaries = []
    for account in accounts:
        bills = billed.get(account.pk, {})
        balance = (account.balance or Decimal("0")) + (bills.get("total") or 0) - (paid.get(account.pk) or 0)
        amount_due = max(balance, Decimal("0"))
        summaries.append(
            AccountSummary(
                account=account,
                balance=balance,
                amount_due=amount_due,
                due_on=bills.get("oldest_open_due") if amount_due > 0 else None,
                latest_bill=latest.get(account.pk),
            )
        )
    return summaries


def account_summary(*, account: Account) -> AccountSummary:
    return account_summaries(accounts=[account])[0]


def bills_of_account(*, account: Account) -> QuerySet[Bill]:
    """Every bill of the account, newest first (the page paginates; nothing is cut off)."""
    return Bill.objects.filter(account=account).order_by("-issued_on", "-pk")


def payments_of_account(*, account: Account) -> QuerySet[Payment]:
    return Payment.objects.filter(account=account).select_related("bill").order_by("-received_at", "-pk")


def bill_of_account(*, account: Account, statement_number: str) -> Bill | None:
    return Bill.objects.filter(account=account, statement_number=statement_number).first()
