"""Demo data for the registry: ~300 members with premises, meters (some solar), open and closed
accounts, bank accounts, capital credits, and portal logins
``member0001`` .. ``member0005`` (password ``members.demo.DEMO_PASSWORD``). The first step of
``members.demo.DEMO_STEPS`` (added by ``AccountsConfig.ready``): every later app's demo data hangs off
these members.

Members, premises, accounts and meters come in through the legacy CIS import (the same path a co-op's
real data would take), so they are validated, encrypted and indexed exactly like production rows.
Capital credits are bulk-created history with one audit row for the step; bills and payments come
after the meter readings they are billed from (accounts/usage/demo_bills.py). Every
part is idempotent: a second run finds what exists and adds nothing.
"""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from accounts.cis_import import import_members
from accounts.cis_import.synthetic import synthetic_csv
from accounts.models import Account
from members.audit import audit_record
from members.demo import DEMO_PASSWORD
from members.models import CapitalCreditAllocation, Member, User

DEMO_MEMBERS = 300
DEMO_PREFIX = "D"
PORTAL_LOGINS = 5


def _capital_credits(accounts: list[Account]) -> int:
    """Capital credits for each demo member (bills and payments are made from the meter readings in a
    later step, accounts/usage/demo_bills.py)."""
    today = timezone.localdate()
    credits = []
    members_with_credits = set(
        CapitalCreditAllocation.objects.filter(member__in=[a.member_id for a in accounts]).values_list(
            "member_id", flat=True
        )
    )
    for account in accounts:
        if account.member_id in members_with_credits:
            continue
        members_with_credits.add(account.member_id)
        for year in range(today.year - 3, today.year):
            patronage = Decimal(900 + (account.member_id * 17 + year) % 1400)
            credits.append(
                CapitalCreditAllocation(
                    member_id=account.member_id,
                    year=year,
                    patronage_amount=patronage,
                    allocated_amount=(patronage * Decimal("0.07")).quantize(Decimal("0.01")),
                    allocated_on=datetime.date(year + 1, 4, 30),
                )
            )
    CapitalCreditAllocation.objects.bulk_create(credits, batch_size=1000)
    return len(credits)


def _portal_logins() -> int:
    created = 0
    for number in range(1, PORTAL_LOGINS + 1):
        member = Member.objects.only("id", "user_id", "email").get(member_number=f"{DEMO_PREFIX}{number:08d}")
        if member.user_id:
            continue
        user, was_created = User.objects.get_or_create(username=f"member{number:04d}", defaults={"email": member.email})
        if was_created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            created += 1
        Member.objects.filter(pk=member.pk).update(
            user=user
        )  # demo wiring only; services.member_link_user audits real links
    return created


def seed_registry() -> str:
    """Members, accounts, premises and meters (a synthetic CIS import)"""
    report = import_members(
        io.StringIO(synthetic_csv(DEMO_MEMBERS, prefix=DEMO_PREFIX)), batch_size=500, actor_label="demo"
    )
    with transaction.atomic():
        accounts = list(Account.objects.filter(member__member_number__startswith=DEMO_PREFIX).only("id", "member_id"))
        credits = _capital_credits(accounts)
        logins = _portal_logins()
        if credits or logins:
            audit_record(
                actor=None,
                actor_label="demo",
                action="demo.registry_history",
                object_type="accounts.account",
                fields=["capital_credits", "user"],
                detail={"capital_credits": credits, "portal_logins": logins},
            )
    return (
        f"registry: {report.members_loaded} members loaded ({report.members_already_present} already present), "
        f"{credits} capital credits, {logins} portal logins"
    )
