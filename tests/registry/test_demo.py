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
    assert counts[0] == 300 and counts[4] > 800  # bills come later, from the readings (tests/usage/test_demo_bills.py)
    assert Meter.objects.filter(has_solar=True).count() == 30
    assert client.login(username="member0001", password=DEMO_PASSWORD)
    member = member_for_user(Member.objects.get(member_number="D00000001").user)
    assert member.member_number == "D00000001" and member.accounts.filter(status="open").exists()


def test_seed_demo_reports_each_step_as_it_goes_and_can_print_only_the_logins(monkeypatch, settings):
    """`make run` looked hung for minutes: every step now announces itself before it starts (issue 15.7)."""
    import io

    from django.core.management import call_command

    from members import demo

    settings.DEBUG = True  # seed_demo refuses to run without it (a published password)
    heard: list[str] = []

    def slow_step() -> str:
        """A step that takes a while"""
        heard.append("ran")
        return "slow step: done"

    monkeypatch.setattr(demo, "DEMO_STEPS", [slow_step])
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[1] == "[1/2] Staff logins, one per role ..."
    finished = next(line for line in lines if "slow step: done" in line)
    assert lines.index("[2/2] A step that takes a while ...") < lines.index(finished)
    assert heard == ["ran"] and "demo password for every login: memberguard-demo" in lines

    out = io.StringIO()
    call_command("seed_demo", "--logins", stdout=out)
    assert heard == ["ran"]  # --logins loads nothing
    printed = out.getvalue().splitlines()
    assert "Loading demo data" not in out.getvalue()
    assert {line.split()[0] for line in printed[1:]} >= {"csr", "billing", "analyst", "auditor"}
