"""What a member's full copy of their own data holds (seed 000 B.2 access; seed 001 timely access).

Read here, released in ``export.member_copy_export``: everything the co-op holds about the member, in
sections of labelled rows that render both as JSON and as a readable PDF. It reads each app through its
models and selectors (this app sits above members and accounts); the portal adds its own records (the
member's correction requests and complaints) as extra sections, since nothing below the portal may
import it.

Two choices worth stating:

* The member sees their own identifiers in full here, and only here; the export that carries them is
  audited as a reveal (``access.member_copy``) and logged on the disclosure chain as a release to the
  member.
* "Who at the co-op viewed my record" names staff by their role, never by name: the member learns that
  their record was read and by which function, staff are not exposed to a member's grievance by name,
  and the access log keeps the names for the Privacy Officer and auditors.
* A premise's gate code and meter-reading notes describe the premise (they pass to the next occupant),
  not the member, and stay out of the copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from accounts.models import Account, Bill, Payment
from accounts.usage.selectors import monthly_totals_for_account
from disclosures.models import DataCategory, DisclosureLogEntry, LegalBasis
from disclosures.selectors import consents_of_member, disclosures_to_member
from members import identifiers
from members.models import CapitalCreditAllocation, CapitalCreditRetirement, Member
from members.selectors import access_log

# Ten years of bills and usage: the co-op's own record-keeping horizon for billing.
HISTORY_YEARS = 10


@dataclass
class CopySection:
    """One part of the copy: a title, its columns (key, label) and rows of values in column order."""

    key: str
    title: str
    columns: list[tuple[str, str]]
    rows: list[list[Any]] = field(default_factory=list)
    note: str = ""

    def records(self) -> list[dict[str, Any]]:
        keys = [key for key, _label in self.columns]
        return [dict(zip(keys, row, strict=True)) for row in self.rows]


def _text(value: Any) -> Any:
    return "" if value is None else value


def _identity(member: Member) -> CopySection:
    """Every declared field of the member's record, identifiers in full: the member's own values."""
    section = CopySection(
        "identity",
        "About you (in full: this is the one place you see your own identifiers)",
        [("field", "What"), ("value", "On file")],
    )
    section.rows += [
        ["member_number", "Member number", member.member_number],
        ["kind", "Membership kind", member.get_kind_display()],
        ["status", "Membership status", member.get_status_display()],
        ["applied_on", "Applied on", member.applied_on],
        ["joined_on", "Joined on", member.joined_on],
        ["left_on", "Left on", member.left_on],
        ["employer_name", "Employer", member.employer_name],
    ]
    for declared in identifiers.fields_of("members.Member"):
        section.rows.append([declared.name, declared.label, getattr(member, declared.name)])
    section.rows = [[label, _text(value)] for _name, label, value in section.rows]
    return section


def _bank_accounts(member: Member) -> CopySection:
    declared = identifiers.fields_of("members.FinancialAccount")
    section = CopySection(
        "bank_accounts",
        "Bank accounts and cards on file",
        [("kind", "Kind"), ("institution", "Institution")]
        + [(f.name, f.label) for f in declared]
        + [("on_file", "In use"), ("added", "Added"), ("removed", "Removed")],
    )
    for account in member.financial_accounts.order_by("added_at", "pk"):
        section.rows.append(
            [account.get_kind_display(), account.institution_name]
            + [_text(getattr(account, f.name)) for f in declared]
            + ["yes" if account.is_active else "no", account.added_at, account.removed_at]
        )
    return section


def _accounts(accounts: list[Account]) -> CopySection:
    section = CopySection(
        "accounts",
        "Service accounts",
        [
            ("account_number", "Account"),
            ("status", "Status"),
            ("service_address", "Service address"),
            ("opened", "Opened"),
            ("closed", "Closed"),
            ("balance", "Balance"),
            ("balance_as_of", "Balance as of"),
            ("authorized_parties", "People you authorized on the account"),
        ],
    )
    for account in accounts:
        premise = account.premise
        address = (
            ", ".join(
                part
                for part in (
                    premise.service_line1,
                    premise.service_line2,
                    premise.service_city,
                    f"{premise.service_state} {premise.service_postal_code}".strip(),
                )
                if part
            )
            if premise
            else ""
        )
        parties = "; ".join(
            f"{party.name} ({party.relationship})" if party.relationship else party.name
            for party in account.authorized_parties.all()
            if party.removed_at is None
        )
        section.rows.append(
            [
                account.account_number,
                account.get_status_display(),
                address,
                account.opened_at,
                account.closed_at,
                _text(account.balance),
                account.balance_as_of,
                parties,
            ]
        )
    return section


def _bills(accounts: list[Account], since: date) -> CopySection:
    section = CopySection(
        "bills",
        "Bills",
        [
            ("account", "Account"),
            ("statement", "Statement"),
            ("period_start", "From"),
            ("period_end", "To"),
            ("issued_on", "Issued"),
            ("due_on", "Due"),
            ("kwh", "kWh"),
            ("amount_due", "Amount"),
            ("status", "Status"),
        ],
    )
    bills = (
        Bill.objects.filter(account__in=accounts, issued_on__gte=since)
        .select_related("account")
        .order_by("account__account_number", "-issued_on")
    )
    for bill in bills:
        section.rows.append(
            [
                bill.account.account_number,
                bill.statement_number,
                bill.period_start,
                bill.period_end,
                bill.issued_on,
                bill.due_on,
                bill.kwh,
                bill.amount_due,
                bill.get_status_display(),
            ]
        )
    return section


def _payments(accounts: list[Account], since: date) -> CopySection:
    section = CopySection(
        "payments",
        "Payments",
        [
            ("account", "Account"),
            ("received", "Received"),
            ("amount", "Amount"),
            ("method", "How"),
            ("reference", "Reference"),
            ("returned", "Returned"),
        ],
    )
    payments = (
        Payment.objects.filter(account__in=accounts, received_at__date__gte=since)
        .select_related("account")
        .order_by("account__account_number", "-received_at")
    )
    for payment in payments:
        section.rows.append(
            [
                payment.account.account_number,
                payment.received_at,
                payment.amount,
                payment.get_method_display(),
                payment.reference,
                payment.returned_at or ("yes" if payment.returned else ""),
            ]
        )
    return section


def _usage(accounts: list[Account], since: date) -> CopySection:
    section = CopySection(
        "usage",
        "Electricity use by month (from your meter's readings)",
        [
            ("account", "Account"),
            ("month", "Month"),
            ("delivered_kwh", "Used (kWh)"),
            ("received_kwh", "Sent to the grid (kWh)"),
            ("days", "Days with readings"),
        ],
        note="Calendar months. Your bills cover billing periods, which start and end on meter-reading days.",
    )
    today = timezone.localdate()
    for account in accounts:
        months: dict[date, dict[str, int]] = {}
        for total in monthly_totals_for_account(account=account, start_month=since, end_month=today):
            entry = months.setdefault(total.month, {"delivered": 0, "received": 0, "days": 0})
            entry[total.channel] = total.wh
            entry["days"] = max(entry["days"], total.days_with_data)
        for month in sorted(months, reverse=True):
            entry = months[month]
            section.rows.append(
                [
                    account.account_number,
                    month.strftime("%B %Y"),
                    round(entry["delivered"] / 1000, 1),
                    round(entry["received"] / 1000, 1),
                    entry["days"],
                ]
            )
    return section


def _capital_credits(member: Member) -> CopySection:
    section = CopySection(
        "capital_credits",
        "Capital credits",
        [
            ("year", "Year"),
            ("what", "What"),
            ("patronage", "Patronage"),
            ("allocated", "Allocated"),
            ("retired", "Retired"),
            ("on", "On"),
        ],
    )
    for allocation in CapitalCreditAllocation.objects.filter(member=member).order_by("-year"):
        section.rows.append(
            [
                allocation.year,
                "Allocation",
                allocation.patronage_amount,
                allocation.allocated_amount,
                allocation.retired_amount,
                allocation.allocated_on,
            ]
        )
    for retirement in CapitalCreditRetirement.objects.filter(member=member).order_by("-year", "retired_on"):
        section.rows.append(
            [
                retirement.year,
                f"Retirement {retirement.retirement_number}",
                "",
                "",
                retirement.amount,
                retirement.retired_on,
            ]
        )
    return section


def _category_words(categories: Iterable[str]) -> str:
    words = []
    for category in categories:
        try:
            words.append(DataCategory(category).label.split(" ", 1)[-1])
        except ValueError:
            words.append(str(category))
    return ", ".join(words)


def _consents(member: Member) -> CopySection:
    section = CopySection(
        "consents",
        "What you allowed us to share",
        [
            ("recipient", "With"),
            ("information", "Information"),
            ("purpose", "Purpose"),
            ("how", "How you told us"),
            ("granted", "Given"),
            ("expires", "Until"),
            ("withdrawn", "Withdrawn"),
        ],
    )
    for consent in consents_of_member(member=member):
        section.rows.append(
            [
                consent.recipient.name,
                _category_words(consent.categories),
                consent.get_purpose_display(),
                consent.get_channel_display(),
                consent.granted_at,
                consent.expires_at,
                consent.revoked_at,
            ]
        )
    return section


_BASIS_WORDS = {
    "consent": "you gave your consent",
    "membership_list": "a fellow member's request for the membership list (names and mailing addresses)",
    "member_copy": "you downloaded a copy in the member portal",
    **{kind.value: kind.label for kind in LegalBasis.Kind},
}


def release_recipient_words(entry: DisclosureLogEntry) -> str:
    """Who received it, never naming another member (a membership list goes to a fellow member)."""
    if entry.basis_kind == "membership_list":
        return "a fellow member's request for the membership list"
    if entry.basis_kind == "member_copy":
        return "you"
    return entry.recipient_label or "a recipient the co-op is required to answer"


def _releases(member: Member) -> CopySection:
    section = CopySection(
        "releases",
        "Who received your information",
        [
            ("when", "When"),
            ("recipient", "Who"),
            ("information", "Information"),
            ("why", "Why we were allowed to"),
            ("outcome", "Outcome"),
        ],
        note="Releases a court order requires us to keep quiet are not listed while the order lasts.",
    )
    for entry in disclosures_to_member(member=member):
        section.rows.append(
            [
                entry.at,
                release_recipient_words(entry),
                _category_words(entry.categories) or "a copy of everything we hold about you",
                _BASIS_WORDS.get(entry.basis_kind, entry.basis_kind.replace("_", " ")),
                entry.get_outcome_display(),
            ]
        )
    return section


_ACCESS_WORDS = {
    "access.view_member": "opened your record",
    "access.list_members": "saw your name in a list of members",
    "access.reveal": "looked at your {field} in full",
    "access.reveal_denied": "asked to see your {field} in full and was refused",
    "access.member_copy": "downloaded a full copy of your information",
}


def _viewer(event, member: Member) -> str:
    """Staff by role, never by name; the member's own login is "you"; a program by what it is."""
    if event.actor_id is None:
        return "An automatic process" if not event.actor_label else "A co-op system"
    if event.actor_id == member.user_id:
        return "You"
    roles = sorted(group.name for group in event.actor.groups.all())
    return " / ".join(roles) if roles else "Co-op staff"


def _record_views(member: Member, since: date) -> CopySection:
    section = CopySection(
        "record_views",
        "Who at the co-op looked at your record",
        [("when", "When"), ("who", "Who (by role)"), ("what", "What")],
        note="Staff are named by their role. The co-op keeps their names for its Privacy Officer and auditors.",
    )
    labels = {f.name: f.label for f in identifiers.fields_of("members.Member")}
    events = (
        access_log(member=member, since=timezone.make_aware(datetime.combine(since, time.min)))
        .prefetch_related("actor__groups")
        .order_by("-at", "-id")
    )
    for event in events:
        fields = ", ".join(labels.get(name, name) for name in event.fields) or "identifying information"
        words = _ACCESS_WORDS.get(event.action, "used your record").format(field=fields)
        section.rows.append([event.at, _viewer(event, member), words])
    return section


def member_copy_sections(*, member: Member, extra: Iterable[CopySection] = ()) -> list[CopySection]:
    """Every section of ``member``'s full copy, in reading order; ``extra`` is added before the log of
    who looked at the record (the portal's correction requests and complaints)."""
    since = timezone.localdate() - timedelta(days=365 * HISTORY_YEARS + 3)
    member = Member.objects.get(pk=member.pk)  # every field, decrypted for this one read
    accounts = list(
        Account.objects.filter(member=member).select_related("premise").prefetch_related("authorized_parties")
        .order_by("account_number")
    )  # fmt: skip
    return [
        _identity(member),
        _bank_accounts(member),
        _accounts(accounts),
        _bills(accounts, since),
        _payments(accounts, since),
        _usage(accounts, since.replace(day=1)),
        _capital_credits(member),
        _consents(member),
        _releases(member),
        *extra,
        _record_views(member, since),
    ]
