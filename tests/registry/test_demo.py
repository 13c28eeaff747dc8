from __future__ import annotations

import pytest

from accounts.demo import seed_registry
from accounts.models import Account, Bill, Meter, Payment
from members.demo import DEMO_PASSWORD, DEMO_STEPS
from members.models import CapitalCreditAllocation, Member
from members.selectors import member_for_user

pytestmark = pytest.mark.django_db


def test_the_registry_demo_step_is_registered_first_and_is_idempotent(client):
    assert DEMO_STEPS[0] is seed_registry
    seed_registry()
    counts = (
        Member.objects.count(),
        Account.objects.count(),
        Bill.objects.count(),
        Payment.objects.count(),
        CapitalCreditAllocation.objects.count(),
    )
    seed_registry()
    assert (
        Member.objects.count(),
        Account.objects.count(),
        Bill.objects.count(),
        Payment.objects.count(),
        CapitalCreditAllocation.objects.count(),
    ) == counts
    assert counts[0] == 300 and counts[2] > 3000
    assert Meter.objects.filter(has_solar=True).count() == 30
    assert client.login(username="member0001", password=DEMO_PASSWORD)
    member = member_for_user(Member.objects.get(member_number="D00000001").user)
    assert member.member_number == "D00000001" and member.accounts.filter(status="open").exists()
