"""Issue 12, the purge's speed: a redacted member's new row version skips the indexes of what the purge
cleared (they are partial on a value), every lookup that used those indexes still does, and the nightly
run deletes payments before the bills they name (so it does not first detach them)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Bill, Payment
from members.models import Member
from members.selectors import PLAN_SETTINGS, member_search
from redflags.lookups import DUPLICATE_SQL
from redflags.services.import_scan import _CANDIDATES_SQL
from retention.handlers import IDENTIFIER_INDEX_FIELDS
from retention.models import Category
from retention.services import retention_policy_ensure_defaults, retention_run_due
from tests.factories import BillFactory, MemberFactory, OpenAccountFactory, PaymentFactory

pytestmark = pytest.mark.django_db

BLIND_INDEXES = {
    "address_index": "member_address_bi_idx",
    "phone_index": "member_phone_bi_idx",
    "email_index": "member_email_bi_idx",
    "tax_id_index": "member_tax_id_bi_idx",
    "licence_index": "member_licence_bi_idx",
    "passport_index": "member_passport_bi_idx",
    "alien_registration_index": "member_alien_reg_bi_idx",
    "ssn_last4": "member_ssn_last4_idx",
}


def _member_indexes() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'members_member'")
        return dict(cursor.fetchall())


def _partial_on_a_value(definition: str, column: str) -> bool:
    return any(
        f"WHERE {predicate}" in definition
        for predicate in (f"(({column})::text <> ''::text)", f"(NOT (({column})::text = ''::text))")
    )


def _plan(sql: str, params) -> str:
    """The plan with sequential and ordered index scans priced out: only a bitmap scan of an index that
    applies avoids a (priced-out) sequential scan, whatever the size of the test tables."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _queryset_plan(queryset) -> str:
    sql, params = queryset.query.sql_with_params()
    return _plan(sql, params)


class _Staff:
    def has_perm(self, perm: str) -> bool:
        return True


def test_every_index_on_a_column_the_redaction_clears_leaves_out_empty_values():
    definitions = _member_indexes()
    cleared = [
        (column, definition)
        for column in IDENTIFIER_INDEX_FIELDS
        for definition in definitions.values()
        if f"({column})" in definition
    ]
    assert len(cleared) >= 5  # tax id, licence, passport, alien registration, last four
    for column, definition in cleared:
        assert _partial_on_a_value(definition, column), definition


def test_the_contact_indexes_leave_out_rows_without_a_value():
    definitions = _member_indexes()
    for column, name in BLIND_INDEXES.items():
        assert _partial_on_a_value(definitions[name], column), definitions[name]
    assert _partial_on_a_value(definitions["member_phone_tail_idx"], "phone")
    assert _partial_on_a_value(definitions["member_mailing_trgm_idx"], "mailing_line1")
    assert "WHERE" not in definitions["member_name_trgm_idx"]  # purged members stay findable by name


@pytest.mark.parametrize(("column", "index"), sorted(BLIND_INDEXES.items()))
def test_a_lookup_by_value_uses_the_partial_blind_index(column, index):
    assert index in _queryset_plan(Member.objects.filter(**{column: "abcdef0123456789"}))
    assert index in _queryset_plan(Member.objects.filter(**{f"{column}__in": ["abcdef0123456789", "0123"]}))


@pytest.mark.parametrize(
    ("kind", "params", "index"),
    [
        ("tax_id", ["abc", "6789", 1], "member_tax_id_bi_idx"),
        ("licence", ["abc", "IL", 1], "member_licence_bi_idx"),
        ("address", ["abc", "62701", ["OAK"], ["OAK"], 1], "member_address_bi_idx"),
        ("phone", ["abc", "+12175550003", 1], "member_phone_bi_idx"),
    ],
)
def test_the_red_flags_duplicate_lookups_use_the_partial_blind_indexes(kind, params, index):
    plan = _plan(DUPLICATE_SQL[kind], params)
    assert "Seq Scan on members_member" not in plan
    assert index in plan or (kind == "tax_id" and "member_ssn_last4_idx" in plan)  # both narrow it


def test_the_import_scan_compares_shared_indexes_through_the_partial_blind_indexes():
    plan = _plan(_CANDIDATES_SQL, [[1, 2, 3]])
    assert "member_address_bi_idx" in plan and "member_phone_bi_idx" in plan
    assert "Seq Scan on members_member" not in plan


@pytest.mark.parametrize(
    ("term", "index"),
    [
        ("555-0003", "member_phone_tail_idx"),
        ("(217) 555-0003", "member_phone_tail_idx"),
        ("12 Oak", "member_mailing_trgm_idx"),
        ("Smith", "member_mailing_trgm_idx"),
        ("6789", "member_ssn_last4_idx"),
        ("431977", "member_number_tail_idx"),  # a member number's last digits: a range of the reversed number
        ("431977", "account_number_tail_idx"),  # and an account number's
    ],
)
def test_the_staff_search_uses_the_partial_indexes(term, index):
    """The search gathers its capped candidates in one UNION ALL statement (members/selectors.py
    ``_Candidates``); that statement, as it ran, is the one whose plan must use the partial index."""
    with CaptureQueriesContext(connection) as ran:
        list(member_search(Member.objects.all(), term, _Staff()))
    candidates = [query["sql"] for query in ran.captured_queries if "UNION ALL" in query["sql"]]
    assert candidates, "the search ran no candidate statement"
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + candidates[0].removeprefix(PLAN_SETTINGS))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan
    assert "Seq Scan on members_member" not in plan


def test_the_search_still_finds_a_purged_former_member_by_name_phone_and_address():
    member = MemberFactory(
        legal_name="Wilhelmina Quasthoff",
        phone="+12175550177",
        mailing_line1="77 Juniper Hollow",
        status=Member.Status.FORMER,
        left_on=dt.date(2012, 1, 1),
    )
    retention_policy_ensure_defaults()
    retention_run_due()
    member.refresh_from_db()
    assert member.ssn is None and member.tax_id_index == "" and member.ssn_last4 == ""
    for term in ("Quasthoff", "555-0177", "Juniper Hollow"):
        assert list(member_search(Member.objects.all(), term, _Staff()).values_list("pk", flat=True)) == [member.pk]


def test_the_nightly_run_deletes_payments_before_the_bills_they_name():
    account = OpenAccountFactory()
    bill = BillFactory(account=account, issued_on=dt.date(2012, 1, 5), status=Bill.Status.PAID)
    payment = PaymentFactory(account=account, bill=bill, received_at=timezone.now() - dt.timedelta(days=12 * 365))
    retention_policy_ensure_defaults()

    categories = [run.category for run in retention_run_due()]

    assert categories.index(Category.PAYMENTS) < categories.index(Category.BILLS)
    assert categories.index(Category.FORMER_MEMBER_IDENTIFIERS) < categories.index(Category.FORMER_MEMBER_LOGINS)
    assert not Payment.objects.filter(pk=payment.pk).exists()
    assert not Bill.objects.filter(pk=bill.pk).exists()
