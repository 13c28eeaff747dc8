"""The account registry's sections of the member's page (members/glance.py): accounts with their status
and balance, recent bills and payments, and a year of monthly usage as a sparkline."""

from __future__ import annotations

from datetime import date

from django.urls import reverse
from django.utils import timezone

from accounts import selectors
from members.glance import GlancePanel, GlanceSection, register, sparkline


def _money(amount) -> str:
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def _account_state(account) -> str:
    state = account.get_status_display()
    if account.on_hold:
        state += ", held for identity verification"
    if account.red_flag_warning:
        state += ", \u201cRed Flag Exists\u201d"
    return state


def accounts_section(*, member, user) -> GlanceSection:
    accounts = list(selectors.accounts_with_balance(member=member))
    rows = [
        (
            (account.account_number, reverse("admin:accounts_account_change", args=[account.pk])),
            f"{account.premise.service_line1}, {account.premise.service_city}" if account.premise else "",
            _account_state(account),
            _money(selectors.balance_due(account)),
        )
        for account in accounts
    ]
    return GlanceSection(
        title="Accounts",
        columns=("Account", "Service address", "Status", "Balance due"),
        rows=rows,
        empty="No accounts.",
        alert=any(account.on_hold or account.red_flag_warning for account in accounts),
    )


def activity_section(*, member, user) -> GlanceSection:
    lines = selectors.recent_bills_and_payments(member=member)
    return GlanceSection(
        title="Recent bills and payments",
        columns=("Date", "", "Account", "Amount", ""),
        rows=[
            (f"{line.on:%b %d, %Y}", line.kind, line.account_number, _money(line.amount), line.detail) for line in lines
        ],
        empty="No bills or payments yet.",
        wide=True,
    )


def _months_back(today: date, count: int) -> date:
    month = today.year * 12 + today.month - 1 - (count - 1)
    return date(month // 12, month % 12 + 1, 1)


def usage_section(*, member, user) -> GlanceSection | None:
    from accounts.usage.selectors import monthly_totals_for_accounts

    account_ids = [account.pk for account in member.accounts.only("pk")]
    if not account_ids:
        return None
    today = timezone.localdate()
    first = _months_back(today, 12)
    totals: dict[date, float] = {}
    for _account, month, channel, wh in monthly_totals_for_accounts(
        account_ids=account_ids, start_month=first, end_month=today
    ):
        if channel == "delivered":
            totals[month] = totals.get(month, 0) + wh / 1000
    if not totals:
        return GlanceSection(title="Usage, last 12 months", empty="No meter readings yet.")
    months = sorted(totals)
    values = [totals[month] for month in months]
    return GlanceSection(
        title="Usage, last 12 months",
        figure=sparkline(values, labels=[f"{month:%b %Y}" for month in months]),
        note=f"{months[0]:%b %Y} to {months[-1]:%b %Y}: {sum(values):,.0f} kWh delivered; "
        f"latest month {values[-1]:,.0f} kWh.",
    )


def register_panels() -> None:
    register(
        GlancePanel("accounts", 10, "accounts.view_account", accounts_section),
        GlancePanel("bills", 20, "accounts.view_bill", activity_section),
        GlancePanel("usage", 30, "usage.view_account_usage", usage_section),
    )
