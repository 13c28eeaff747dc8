"""What an export reads: the released members' rows, a page at a time, and their usage.

The hot path of the gate. Only the columns released are read, so fields outside the categories are
never even decrypted; encrypted columns are fetched as raw Fernet tokens and decrypted a page at a time.
Each reader appends the ids of the members it yielded to ``sink``, which the log entry records.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Exists, F, Field, Func, OuterRef, QuerySet, Sum, TextField
from django.utils import timezone
from fernet_fields.fields import EncryptedField

from accounts.models import Account
from accounts.usage.selectors import accounts_with_meters, espi_usage_points, monthly_totals_for_accounts
from disclosures.models import Consent
from disclosures.services.consents import active_consents, consent_in_force, consent_read
from disclosures.services.planner import Plan
from members import crypto
from members.fernet_bulk import decrypt_page
from members.models import Member

EXPORT_PAGE_SIZE = 5000


def _members_queryset(plan: Plan) -> QuerySet[Member]:
    return _members_after(plan, _gate_consents(plan), after=None)


def _gate_consents(plan: Plan) -> QuerySet[Consent] | None:
    """The consents in force that the plan's gate asks for (``None``: the plan is not gated on consent)."""
    return active_consents(**plan.consent_gate) if plan.consent_gate is not None else None


def _members_after(plan: Plan, consents: QuerySet[Consent] | None, *, after: int | None) -> QuerySet[Member]:
    """The plan's members (with ``pk > after``: one keyset page's worth, once sliced), each holding one of
    ``consents`` when the plan is gated on consent.

    The page's bound is repeated on the consent subquery (``member_id > after``): PostgreSQL does not carry
    ``pk > after`` across the join, so without it every page's merge join scanned the consents of all the
    members before the page too (page 20 of a 100,000-member release read 100,000 consent rows for 5,000).
    """
    queryset = Member.objects.all()
    if after is not None:
        queryset = queryset.filter(pk__gt=after)
    if plan.member_ids is not None:
        queryset = queryset.filter(pk__in=plan.member_ids)
    if consents is not None:
        matching = consents.filter(member=OuterRef("pk"))
        if after is not None:
            matching = matching.filter(member__gt=after)
        queryset = queryset.filter(Exists(matching))
    if plan.basis_kind == "membership_list" and plan.member_ids is None:
        queryset = queryset.filter(status=Member.Status.ACTIVE)
    return queryset.order_by("pk")


def _encrypted_field_names() -> frozenset[str]:
    return frozenset(f.name for f in Member._meta.fields if isinstance(f, EncryptedField))


def _concrete_field(name: str) -> Field:
    field = Member._meta.get_field(name)
    if not isinstance(field, Field):
        raise TypeError(f"{name} is not a column of the member")
    return field


class _TokenText(Func):
    """An encrypted column's raw Fernet token, as PostgreSQL's ``encode(column, 'escape')`` text.

    Fetched as bytea, psycopg2 makes each value a memoryview at ~2.7 µs with the GIL held (1.1 s of a
    100,000-member release's four tokens a member); as text, a tenth of that. A token is printable ASCII,
    which the escape format gives as it is; ``_token_bytes`` undoes the format for any other byte.
    """

    function = "encode"
    template = "%(function)s(%(expressions)s, 'escape')"
    output_field = TextField()


_ESCAPED = re.compile(r"\\(\\|[0-7]{3})")


def _token_bytes(text: str) -> bytes:
    """The column's exact bytes back from the escape format: a NUL or a byte above 0x7F comes as ``\\ooo``
    and a backslash doubled (neither is in a token: such a value fails as InvalidToken, as it always has)."""
    if "\\" not in text:
        return text.encode("ascii")
    return _ESCAPED.sub(lambda m: "\\" if m[1] == "\\" else chr(int(m[1], 8)), text).encode("latin-1")


def member_rows(plan: Plan, sink: list[int]) -> Iterator[list]:
    """Rows of the released fields, a page at a time.

    Only the columns released are read, so fields outside the categories are never even decrypted.
    Encrypted columns are fetched as raw Fernet tokens and decrypted a page at a time
    (members/fernet_bulk.decrypt_page: one AES call and one XOR per page), which is what lets a
    100,000-member export run at thousands of members a second.
    """
    # Read once: "now" in the consent test stays the release's, whichever page is read.
    consents = _gate_consents(plan)
    encrypted = _encrypted_field_names()
    columns: list = []
    for name in plan.fields:
        columns.append(_TokenText(name) if name in encrypted else F(name))
    capital = "capital_allocated_total" in plan.fields or "capital_retired_total" in plan.fields

    def page_after(last_pk: int) -> list[tuple]:
        queryset = _members_after(plan, consents, after=last_pk)
        if capital:
            queryset = queryset.annotate(
                capital_allocated_total=Sum("capital_credits__allocated_amount"),
                capital_retired_total=Sum("capital_credits__retired_amount"),
            )
        return list(queryset.values_list("pk", *columns)[:EXPORT_PAGE_SIZE])

    encrypted_positions = [
        (index, _concrete_field(name)) for index, name in enumerate(plan.fields) if name in encrypted
    ]
    keys = crypto.derived_fernet_keys()

    def decrypted(page: list[tuple]) -> list[list]:
        rows = [list(row[1:]) for row in page]
        if encrypted_positions:
            tokens = [
                _token_bytes(row[index]) for row in rows for index, _ in encrypted_positions if row[index] is not None
            ]
            plaintexts = iter(decrypt_page(keys, tokens))
            for row in rows:
                for index, model_field in encrypted_positions:
                    if row[index] is not None:
                        row[index] = model_field.to_python(next(plaintexts).decode())
        return rows

    # Keyset pagination (pk > last, LIMIT n): memory stays at one page whatever the export's size, and
    # unlike a server-side cursor nothing is left open if the download is abandoned half-way.
    last_pk = 0
    while True:
        page = page_after(last_pk)
        for source, row in zip(page, decrypted(page), strict=True):
            sink.append(source[0])
            yield row
        if len(page) < EXPORT_PAGE_SIZE:
            return
        last_pk = page[-1][0]


def usage_rows(plan: Plan, sink: list[int], *, start: date | None, end: date | None) -> Iterator[list]:
    """Monthly kWh per account and channel (CSV/JSON usage exports), from the usage app's selector."""
    today = timezone.localdate()
    start_month = (start or date(today.year - 1, today.month, 1)).replace(day=1)
    end_month = (end or today).replace(day=1)
    members = list(_members_queryset(plan).values_list("pk", flat=True))
    accounts = {
        a.pk: a
        for a in Account.objects.filter(member_id__in=members)
        .select_related("member")
        .only("pk", "account_number", "member__member_number")
    }
    sink.extend(members)
    for account_id, month, channel, wh in monthly_totals_for_accounts(
        account_ids=list(accounts), start_month=start_month, end_month=end_month
    ):
        account = accounts[account_id]
        yield [
            account.member.member_number,
            account.account_number,
            month,
            channel,
            (Decimal(wh) / 1000).quantize(Decimal("0.001")),
        ]


def espi_points(
    plan: Plan, sink: list[int], *, start: date | datetime | None, end: date | datetime | None
) -> Iterator[dict]:
    """One usage point per account and channel (energy received only where the premise has solar),
    only the plan's accounts when it names them (a Connect My Data authorization)."""
    today = timezone.localdate()
    start_day = start or today - timedelta(days=30)
    end_day = end or today + timedelta(days=1)
    members = _released_members(plan)
    sink.extend(members)
    for account in accounts_with_meters(member_ids=members, account_ids=plan.account_ids):
        yield from espi_usage_points(account=account, start=start_day, end=end_day)


def _released_members(plan: Plan) -> list[int]:
    """The plan's members whose consent is still in force, read in the release's transaction (a
    revocation a moment ago counts). A release on one named consent (a Connect My Data pull) re-reads
    that consent's row and applies ``active_consents``'s test to it: one indexed read, no join."""
    if plan.consent_id is None or plan.consent_gate is None:
        return list(_members_queryset(plan).values_list("pk", flat=True))
    consent = consent_read(consent_id=plan.consent_id)
    if consent is None or not consent_in_force(consent, **plan.consent_gate):
        return []
    return [consent.member_id] if plan.member_ids is None or consent.member_id in plan.member_ids else []


# What a RetailCustomer release sends of each authorized account: its number, its agreement's start and the
# premise's service address. Never the premise's gate code, meter-reading notes or dog warning.
CUSTOMER_ACCOUNT_FIELDS = (
    "account_number",
    "opened_at",
    "service_line1",
    "service_line2",
    "service_city",
    "service_state",
    "service_postal_code",
)


def released_fields(plan: Plan, format: str) -> list[str]:
    """The columns a release's log entry names as sent."""
    if format == "espi":
        return ["interval_readings"]
    if format == "espi_cust":
        return [*plan.fields, *CUSTOMER_ACCOUNT_FIELDS]
    return list(plan.fields)


def espi_customer(plan: Plan, sink: list[int]) -> tuple[dict | None, list[dict]]:
    """One member's RetailCustomer data (Connect My Data): the contact fields the plan releases (the
    contact category's, decrypted here), and of the plan's accounts only (none when it names none) the
    number, start and service address. ``(None, [])`` when the member's consent ended a moment ago."""
    rows = list(member_rows(plan, sink))
    if len(rows) != 1:
        return None, []
    member = dict(zip(plan.fields, rows[0], strict=True))
    accounts = Account.objects.filter(member_id=sink[0], pk__in=plan.account_ids or []).order_by("pk")
    values = accounts.values(
        "id", *(f"premise__{f}" if f.startswith("service_") else f for f in CUSTOMER_ACCOUNT_FIELDS)
    )
    return member, [{key.removeprefix("premise__"): value for key, value in row.items()} for row in values]
