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

from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

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


# Per account: bills and payments since any carried-over balance (void bills and returned payments aside),
# the oldest open bill's due date, and the latest bill's columns the pages show. One statement, written
# out: the same three correlated subqueries built through the ORM cost ~3 ms of CPU to compile on every
# visit of the most visited page (issue 14's load test), several times the database's own work.
_SUMMARIES = """
SELECT a.id,
       (SELECT sum(b.amount_due) FROM accounts_bill b
         WHERE b.account_id = a.id AND b.status <> 'void'
           AND (a.balance_as_of IS NULL OR b.issued_on > a.balance_as_of)),
       (SELECT min(b.due_on) FROM accounts_bill b
         WHERE b.account_id = a.id AND b.status = 'open'
           AND (a.balance_as_of IS NULL OR b.issued_on > a.balance_as_of)),
       (SELECT sum(p.amount) FROM accounts_payment p
         WHERE p.account_id = a.id AND NOT p.returned
           AND (a.balance_as_of IS NULL OR (p.received_at AT TIME ZONE %(tz)s)::date > a.balance_as_of)),
       {latest}
  FROM accounts_account a
  LEFT JOIN LATERAL (SELECT {latest} FROM accounts_bill l
                      WHERE l.account_id = a.id AND l.status <> 'void'
                      ORDER BY l.issued_on DESC, l.id DESC LIMIT 1) l ON true
 WHERE a.id = ANY(%(ids)s)
"""
_LATEST_FIELDS = (
    "id",
    "account_id",
    "statement_number",
    "period_start",
    "period_end",
    "issued_on",
    "due_on",
    "kwh",
    "amount_due",
    "status",
)
_SUMMARIES_SQL = _SUMMARIES.replace("{latest}", ", ".join(f"l.{name}" for name in _LATEST_FIELDS))


def account_summaries(*, accounts: list[Account]) -> list[AccountSummary]:
    """Balance, amount due and due date of each account, and its latest bill, in one query however many
    accounts. The latest bill is a Bill loaded with the columns the pages show (the others are deferred:
    read on first use, like ``.only()``)."""
    if not accounts:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            _SUMMARIES_SQL, {"ids": [account.pk for account in accounts], "tz": timezone.get_current_timezone_name()}
        )
        rows = {row[0]: row for row in cursor.fetchall()}
    summaries = []
    for account in accounts:
        _pk, billed, oldest_open_due, paid, *latest = rows.get(account.pk) or (account.pk, None, None, None, None)
        balance = (account.balance or Decimal("0")) + (billed or 0) - (paid or 0)
        amount_due = max(balance, Decimal("0"))
        summaries.append(
            AccountSummary(
                account=account,
                balance=balance,
                amount_due=amount_due,
                due_on=oldest_open_due if amount_due > 0 else None,
                latest_bill=Bill.from_db("default", _LATEST_FIELDS, latest) if latest and latest[0] else None,
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
