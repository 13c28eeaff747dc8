"""The purgeable categories of the apps below retention (members, accounts, Red Flags), and the
conditions under which the software holds records itself. Registered when ``retention`` is ready.

Identifiers are *redacted* (set to NULL, blind indexes cleared) rather than rows deleted where the row
itself must stay: a former member's name, mailing address and capital credits are kept (Privacy Policy
A.4) while the SSN, date of birth, licence and the rest go. Redaction uses ``QuerySet.update`` on
purpose: it is not a change of a member's identity that the Red Flags program should score, and it
must not pass through validators that require the values. The audit trail and the disclosure log are
never purged: they are the evidence.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.auth.hashers import make_password
from django.db import connection
from django.db.models import CharField, F, Q, QuerySet, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.models import Account, Bill, Payment, Premise, ReturnedMail, StatementNotice
from members import identifiers
from members.models import CapitalCreditAllocation, FinancialAccount, Member, User
from redflags.models import Flag, ObservedEvent, ReviewItem, RiskAssessment
from retention.models import Category, Hold
from retention.registry import HoldSource, Purgeable, register, register_hold_source

# What each purge destroys is declared with the fields (members/identifiers.py, ``retention``).
IDENTIFIER_FIELDS, IDENTIFIER_INDEX_FIELDS = identifiers.redaction(Category.FORMER_MEMBER_IDENTIFIERS)
_FINANCIAL_ACCOUNT_FIELDS = identifiers.encrypted_names("members.FinancialAccount")
# Gate codes and meter-reading notes (encrypted) go with the dog warning, which is a field note too.
_PREMISE_NOTES = tuple(
    field.name
    for field in identifiers.fields_in_retention_category(Category.VACANT_PREMISE_FIELD_NOTES, "accounts.Premise")
)
_LIVE = [Account.Status.PENDING, Account.Status.OPEN, Account.Status.SUSPENDED]


def _before(queryset: QuerySet, lookup: str, cutoff: dt.date | None) -> QuerySet:
    return queryset if cutoff is None else queryset.filter(**{f"{lookup}__lt": cutoff})


def _holds_identifiers() -> Q:
    q = Q()
    for name in IDENTIFIER_FIELDS:
        q |= Q(**{f"{name}__isnull": False})
    for name in IDENTIFIER_INDEX_FIELDS:
        q |= ~Q(**{name: ""})
    return q


def redact_members(ids: list[int]) -> None:
    Member.objects.filter(pk__in=ids).update(
        **dict.fromkeys(IDENTIFIER_FIELDS), **dict.fromkeys(IDENTIFIER_INDEX_FIELDS, ""), updated_at=timezone.now()
    )
    banks = FinancialAccount.objects.filter(member_id__in=ids)
    if banks.exists():  # the delete collector costs a query per related table even when there is nothing
        banks.delete()


def _former_members(cutoff: dt.date | None) -> QuerySet:
    return _before(Member.objects.filter(_holds_identifiers(), status=Member.Status.FORMER), "left_on", cutoff)


def _denied_applicants(cutoff: dt.date | None) -> QuerySet:
    still_served = Account.objects.exclude(status=Account.Status.DENIED).values("member_id")
    denied = _before(
        Member.objects.filter(status=Member.Status.APPLICANT, accounts__status=Account.Status.DENIED),
        "accounts__updated_at__date",
        cutoff,
    )
    return Member.objects.filter(_holds_identifiers(), pk__in=denied.exclude(pk__in=still_served).values("pk"))


def _inactive_financial_accounts(cutoff: dt.date | None) -> QuerySet:
    return _before(FinancialAccount.objects.filter(is_active=False), "removed_at__date", cutoff)


def _vacant_premises(cutoff: dt.date | None) -> QuerySet:
    served = Q(status__in=_LIVE)
    if cutoff is not None:
        served |= Q(closed_at__date__gte=cutoff)
    holds_notes = Q(dog_warning=True)
    for name in _PREMISE_NOTES:
        holds_notes |= Q(**{f"{name}__isnull": False})
    premises = Premise.objects.filter(holds_notes).exclude(pk__in=Account.objects.filter(served).values("premise_id"))
    return _before(premises, "updated_at__date", cutoff)


def _clear_premise_notes(ids: list[int]) -> None:
    Premise.objects.filter(pk__in=ids).update(
        **dict.fromkeys(_PREMISE_NOTES), dog_warning=False, updated_at=timezone.now()
    )


def _former_member_logins(cutoff: dt.date | None) -> QuerySet:
    """Logins of former members whose identifiers are already gone (purged), still usable or named."""
    purged = Q(member__status=Member.Status.FORMER, member__tax_id_index="", member__ssn__isnull=True)
    personal = Q(is_active=True) | ~Q(email="") | ~Q(first_name="") | ~Q(last_name="")
    return _before(User.objects.filter(purged, personal), "member__left_on", cutoff)


def _deactivate_logins(ids: list[int]) -> None:
    # The unusable password also ends every session: Django checks each session against the password hash.
    User.objects.filter(pk__in=ids).update(
        is_active=False,
        email="",
        first_name="",
        last_name="",
        username=Concat(Value("purged-"), Cast("id", CharField())),
        password=make_password(None),
    )
    Token.objects.filter(user_id__in=ids).delete()


def _delete(model) -> object:
    """One ``DELETE ... WHERE id = ANY(%s)`` where no other row points at the model (and no signal
    handler listens); Django's delete collector otherwise, which handles the rows that point at it."""

    def destroy(ids: list[int]) -> None:
        if model._meta.related_objects:
            model.objects.filter(pk__in=ids).delete()
            return
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE id = ANY(%s)", [ids])  # noqa: S608

    return destroy


def _delete_bills(ids: list[int]) -> None:
    """Payments keep their own record (``Payment.bill`` is SET_NULL): two statements per batch instead of
    the collector's select of every bill, update and delete in chunks of 100."""
    if [(rel.related_model, rel.field.name) for rel in Bill._meta.related_objects] != [(Payment, "bill")]:
        Bill.objects.filter(pk__in=ids).delete()  # something else points at bills now: the collector handles it
        return
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_payment SET bill_id = NULL WHERE bill_id = ANY(%s)", [ids])
        cursor.execute("DELETE FROM accounts_bill WHERE id = ANY(%s)", [ids])


def _assessments_with_evidence(cutoff: dt.date | None) -> QuerySet:
    with_evidence = RiskAssessment.objects.filter(~Q(fired=[]) | Q(flags__evidence__gt="")).values("pk")
    return _before(RiskAssessment.objects.filter(pk__in=with_evidence), "created_at__date", cutoff)


def _strip_evidence(ids: list[int]) -> None:
    """Evidence goes; which rule fired, its weight, the outcome and the date stay (annual review counts)."""
    RiskAssessment.objects.filter(pk__in=ids).update(fired=[])
    Flag.objects.filter(assessment_id__in=ids).update(evidence="")
    ObservedEvent.objects.filter(assessments__in=ids).update(old_indexes={}, new_indexes={}, payload={})


def register_builtin() -> None:
    redact = "identifiers set to NULL, blind indexes cleared, bank accounts deleted"
    identifier_fields = IDENTIFIER_FIELDS + IDENTIFIER_INDEX_FIELDS
    for purgeable in (
        Purgeable(
            Category.FORMER_MEMBER_IDENTIFIERS, _former_members, redact_members, redact, "members.member", "left_on",
            member_field="pk", fields=identifier_fields,
        ),
        Purgeable(
            Category.DENIED_APPLICANT_IDENTIFIERS, _denied_applicants, redact_members, redact, "members.member",
            "updated_at__date", member_field="pk", fields=identifier_fields,
        ),
        Purgeable(
            Category.INACTIVE_FINANCIAL_ACCOUNTS, _inactive_financial_accounts, _delete(FinancialAccount),
            "rows deleted", "members.financialaccount", "removed_at__date", member_field="member_id",
            fields=_FINANCIAL_ACCOUNT_FIELDS,
        ),
        Purgeable(
            Category.VACANT_PREMISE_FIELD_NOTES, _vacant_premises, _clear_premise_notes,
            "gate code and notes set to NULL", "accounts.premise", "updated_at__date",
            account_field="accounts", fields=(*_PREMISE_NOTES, "dog_warning"),
        ),
        Purgeable(
            Category.RETURNED_MAIL, lambda cutoff: _before(ReturnedMail.objects.all(), "returned_on", cutoff),
            _delete(ReturnedMail), "rows deleted", "accounts.returnedmail", "returned_on",
            member_field="member_id", account_field="account_id",
        ),
        Purgeable(
            Category.STATEMENT_NOTICES, lambda cutoff: _before(StatementNotice.objects.all(), "reported_on", cutoff),
            _delete(StatementNotice), "rows deleted", "accounts.statementnotice", "reported_on",
            member_field="member_id", account_field="account_id",
        ),
        Purgeable(
            Category.FORMER_MEMBER_LOGINS, _former_member_logins, _deactivate_logins,
            "login deactivated, password unusable (sessions end), name, email and API tokens removed",
            "members.user", "member__left_on", member_field="member__id",
            fields=("is_active", "username", "first_name", "last_name", "email", "password"),
        ),
        Purgeable(
            Category.BILLS,
            lambda cutoff: _before(Bill.objects.exclude(status=Bill.Status.OPEN), "issued_on", cutoff),
            _delete_bills, "rows deleted (payments keep their own record)", "accounts.bill", "issued_on",
            member_field="account__member_id", account_field="account_id",
        ),
        Purgeable(
            Category.PAYMENTS, lambda cutoff: _before(Payment.objects.all(), "received_at__date", cutoff),
            _delete(Payment), "rows deleted", "accounts.payment", "received_at__date",
            member_field="account__member_id", account_field="account_id",
        ),
        Purgeable(
            Category.REDFLAGS_EVIDENCE, _assessments_with_evidence, _strip_evidence,
            "evidence texts and blind-index values cleared; rule, weight, outcome and date kept for the annual review",
            "redflags.riskassessment", "created_at__date", member_field="member_id", account_field="account_id",
            fields=("fired", "flag.evidence", "event.old_indexes", "event.new_indexes", "event.payload"),
        ),
    ):  # fmt: skip
        register(purgeable)

    register_hold_source(
        HoldSource(
            Hold.Kind.OPEN_BALANCE,
            accounts=lambda: Bill.objects.filter(status=Bill.Status.OPEN).values_list("account_id", flat=True),
        )
    )
    register_hold_source(
        HoldSource(
            Hold.Kind.REDFLAGS_REVIEW,
            members=lambda: ReviewItem.objects.filter(status=ReviewItem.Status.OPEN, member__isnull=False).values_list(
                "member_id", flat=True
            ),
            accounts=lambda: ReviewItem.objects.filter(
                status=ReviewItem.Status.OPEN, account__isnull=False
            ).values_list("account_id", flat=True),
        )
    )
    register_hold_source(
        HoldSource(
            Hold.Kind.CAPITAL_CREDITS,
            members=lambda: (
                CapitalCreditAllocation.objects.filter(allocated_amount__gt=F("retired_amount"))
                .values_list("member_id", flat=True)
                .distinct()
            ),
        )
    )
