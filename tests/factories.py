"""factory_boy factories for the registry, shared by every app's tests.

They write rows directly (tests need fixtures fast and without signals); code under test must go
through the services. Blind indexes and ``ssn_last4`` are computed from the fake values so searches
and duplicate checks work on factory rows. All identifiers are fake but valid-looking: SSNs use the
area 123 (valid per SSA rules, never issued to a real person in these fixtures).

Stable names for other apps: VERIFIED_CHECKLIST, UserFactory, MemberFactory, BusinessMemberFactory,
FinancialAccountFactory, CapitalCreditAllocationFactory, PremiseFactory, MeterFactory, AccountFactory,
OpenAccountFactory, AuthorizedPartyFactory, BillFactory, PaymentFactory, ReturnedMailFactory, StatementNoticeFactory.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import factory
from django.utils import timezone

from accounts.models import (
    Account,
    AuthorizedParty,
    Bill,
    Meter,
    Payment,
    Premise,
    ReturnedMail,
    StatementNotice,
)
from members.crypto import blind_index
from members.models import CapitalCreditAllocation, FinancialAccount, Member, User
from members.services import name_search_form

# What an opening records when the clerk verified identity (redflags V1 holds an opening without it).
VERIFIED_CHECKLIST = {"identity_document_reviewed": True, "documents_seen": ["drivers_licence"]}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n:05d}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.django.Password("a-long-test-password-42")


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Member

    member_number = factory.Sequence(lambda n: f"M{n + 100000:07d}")
    kind = Member.Kind.PERSON
    legal_name = factory.Sequence(lambda n: f"Test Member {n}")
    name_search = factory.LazyAttribute(lambda o: name_search_form(o.legal_name))
    status = Member.Status.ACTIVE
    joined_on = factory.LazyFunction(lambda: datetime.date(2020, 1, 15))
    mailing_line1 = factory.Sequence(lambda n: f"{n + 1} Main St")
    mailing_line2 = ""
    mailing_city = "Springfield"
    mailing_state = "IL"
    mailing_postal_code = "62701"
    address_index = factory.LazyAttribute(
        lambda o: blind_index(
            "address", (o.mailing_line1, o.mailing_line2, o.mailing_city, o.mailing_state, o.mailing_postal_code)
        )
    )
    phone = factory.Sequence(lambda n: f"+1217555{n % 10000:04d}")
    phone_index = factory.LazyAttribute(lambda o: blind_index("phone", o.phone))
    email = factory.Sequence(lambda n: f"member{n}@example.test")
    email_index = factory.LazyAttribute(lambda o: blind_index("email", o.email))
    ssn = factory.Sequence(lambda n: f"12345{n % 10000:04d}" if n % 10000 else "123459999")
    tax_id_index = factory.LazyAttribute(lambda o: blind_index("ssn", o.ssn) if o.ssn else "")
    ssn_last4 = factory.LazyAttribute(lambda o: o.ssn[-4:] if o.ssn else "")
    date_of_birth = factory.LazyFunction(lambda: datetime.date(1970, 6, 1))
    drivers_licence_number = factory.Sequence(lambda n: f"D{n:09d}")
    drivers_licence_state = "IL"
    licence_index = factory.LazyAttribute(
        lambda o: (
            blind_index("licence", (o.drivers_licence_number, o.drivers_licence_state))
            if o.drivers_licence_number
            else ""
        )
    )


class BusinessMemberFactory(MemberFactory):
    kind = Member.Kind.BUSINESS
    legal_name = factory.Sequence(lambda n: f"Test Farm Supply {n} LLC")
    ssn = None
    date_of_birth = None
    drivers_licence_number = None
    drivers_licence_state = ""
    tin = factory.Sequence(lambda n: f"12{n % 10000000:07d}")
    tax_id_index = factory.LazyAttribute(lambda o: blind_index("tin", o.tin))


class FinancialAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FinancialAccount

    member = factory.SubFactory(MemberFactory)
    kind = FinancialAccount.Kind.BANK
    institution_name = "Test Savings Bank"
    routing_number = "011000015"
    account_number = factory.Sequence(lambda n: f"9000{n:08d}")
    last4 = factory.LazyAttribute(lambda o: o.account_number[-4:])
    bank_account_index = factory.LazyAttribute(
        lambda o: blind_index("bank_account", (o.routing_number, o.account_number))
    )


class CapitalCreditAllocationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CapitalCreditAllocation

    member = factory.SubFactory(MemberFactory)
    year = 2024
    patronage_amount = Decimal("1200.00")
    allocated_amount = Decimal("84.00")


class PremiseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Premise

    premise_number = factory.Sequence(lambda n: f"P{n + 100000:07d}")
    service_line1 = factory.Sequence(lambda n: f"{n + 1} County Road 5")
    service_line2 = ""
    service_city = "Springfield"
    service_state = "IL"
    service_postal_code = "62702"
    address_index = factory.LazyAttribute(
        lambda o: blind_index(
            "address", (o.service_line1, o.service_line2, o.service_city, o.service_state, o.service_postal_code)
        )
    )


class MeterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Meter

    meter_number = factory.Sequence(lambda n: f"MTR{n + 100000:07d}")
    premise = factory.SubFactory(PremiseFactory)
    has_solar = False
    installed_on = factory.LazyFunction(lambda: datetime.date(2019, 3, 1))


class AccountFactory(factory.django.DjangoModelFactory):
    """A pending account. Use OpenAccountFactory for an open one."""

    class Meta:
        model = Account

    account_number = factory.Sequence(lambda n: f"A{n + 100000:07d}")
    member = factory.SubFactory(MemberFactory)
    premise = factory.SubFactory(PremiseFactory)
    status = Account.Status.PENDING


class OpenAccountFactory(AccountFactory):
    status = Account.Status.OPEN
    opened_at = factory.LazyFunction(timezone.now)


class AuthorizedPartyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuthorizedParty

    account = factory.SubFactory(OpenAccountFactory)
    name = factory.Sequence(lambda n: f"Authorized Person {n}")
    relationship = "spouse"


class BillFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Bill

    account = factory.SubFactory(OpenAccountFactory)
    statement_number = factory.Sequence(lambda n: f"S{n + 1000000:09d}")
    period_start = datetime.date(2026, 9, 1)
    period_end = datetime.date(2026, 9, 30)
    issued_on = datetime.date(2026, 10, 2)
    due_on = datetime.date(2026, 10, 22)
    kwh = Decimal("850.000")
    amount_due = Decimal("112.40")


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    account = factory.SubFactory(OpenAccountFactory)
    received_at = factory.LazyFunction(timezone.now)
    amount = Decimal("112.40")
    method = Payment.Method.CHECK


class ReturnedMailFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ReturnedMail

    member = factory.SubFactory(MemberFactory)
    returned_on = datetime.date(2026, 10, 10)
    reason = "Addressee unknown"


class StatementNoticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StatementNotice

    member = factory.SubFactory(MemberFactory)
    reported_on = datetime.date(2026, 10, 12)
    channel = StatementNotice.Channel.PHONE
