"""The CIS migration (accounts/cis_migrate, docs/migration.md): check, load, reconcile, re-run, resume."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts import bulk_load as accounts_bulk
from accounts.cis_migrate import MigrationRefused, check, migrate
from accounts.cis_migrate.synthetic import write_coop
from accounts.models import Account, AuthorizedParty, Bill, MigrationRun, Payment, Premise
from members.models import AuditEvent, CapitalCreditAllocation, CapitalCreditRetirement, FinancialAccount, Member
from members.services import member_link_user

pytestmark = pytest.mark.django_db


def _write(directory: Path, name: str, header: list[str], rows: list[list[str]], *, encoding: str = "utf-8") -> None:
    with (directory / name).open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)


@pytest.fixture
def coop(tmp_path) -> Path:
    write_coop(tmp_path, members=40, months=24, prefix="T")
    return tmp_path


def test_a_generated_coop_checks_clean_and_moves_in_whole_balancing_to_the_cent(coop, capsys):
    plan = check(coop)
    assert plan.problems == []
    assert Member.objects.count() == 0  # the check loads nothing
    assert plan.files["accounts"].good == 52 and plan.files["bills"].good == 52 * 24

    outcome = migrate(coop, batch_size=100)

    run = outcome.run
    assert run.outcome == MigrationRun.Outcome.COMPLETE and run.balanced and run.problems == 0
    assert {entity: row["loaded"] for entity, row in run.entities.items()} == {
        "members": 40,
        "premises": 52,
        "meters": 52,
        "accounts": 52,
        "authorized_parties": 8,
        "bank_accounts": 14,
        "balances": 52,
        "bills": 1248,
        "payments": 1248,
        "capital_credits": 120,
        "capital_credit_retirements": 10,
    }
    assert all(total["difference"] == "0.00" for total in run.sums.values())
    assert Decimal(run.sums["bills.amount_due"]["stored"]) == sum(Bill.objects.values_list("amount_due", flat=True))
    # A member with three accounts (home, barn, shop) moved whole, with each account's history.
    member = Member.objects.get(member_number="T0000000")
    assert member.accounts.count() == 3
    assert all(account.bills.count() == 24 and account.payments.count() == 24 for account in member.accounts.all())
    assert AuditEvent.objects.filter(action="migration.reconciled", object_id=str(run.pk)).exists()


def test_messy_cis_values_are_stored_exactly(coop):
    migrate(coop)

    accented = Member.objects.get(member_number="T0000001")  # "Zoë O'Brien 1", dates written M/D/YYYY
    assert accented.legal_name == "Zoë O'Brien 1" and accented.joined_on.isoformat() == "1990-01-02"
    assert Member.objects.get(member_number="T0000012").mailing_line2 == "c/o Zoë D'Angelo"
    assert Member.objects.get(member_number="T0000013").mailing_line1.startswith("PO Box")
    assert Member.objects.get(member_number="T0000017").mailing_line1.startswith("RR ")
    assert Member.objects.get(member_number="T0000004").mailing_postal_code == "62701-1004"
    assert Member.objects.get(member_number="T0000007").ssn == "008011001"  # leading zeros, written without dashes
    with_extension = Member.objects.get(member_number="T0000009")
    assert (with_extension.phone, with_extension.phone_extension) == ("+12175550009", "109")
    assert Premise.objects.get(premise_number="PT00000040").service_line1 == "5 Cañon Rd"  # from a Windows-1252 file
    party = AuthorizedParty.objects.get(legacy_number="APT00000000")
    assert (party.name, party.phone, party.phone_extension) == ("Renée O'Neil 0", "+12175550140", "22")
    assert (
        FinancialAccount.objects.filter(member__member_number="T0000003", institution_name="First Prairie Bank").count()
        == 1
    )


def test_capital_credit_retirements_add_up_into_the_allocation(coop):
    migrate(coop)

    allocation = CapitalCreditAllocation.objects.get(member__member_number="T0000004", year=2021)
    retirement = CapitalCreditRetirement.objects.get(retirement_number="RT00000042021")
    assert allocation.retired_amount == retirement.amount > 0


def test_rejected_rows_are_reported_by_file_line_and_field_without_values_and_the_rest_loads(tmp_path):
    write_coop(tmp_path, members=10, months=2, prefix="R", rejects=True)

    plan = check(tmp_path)

    found = {(p.file, p.line, p.field) for p in plan.problems}
    assert {("members.csv", line, "ssn") for line in range(12, 18)} <= found  # never-issued and placeholders
    assert ("members.csv", 18, "date_of_birth") in found
    assert ("accounts.csv", 16, "member_number") in found  # an account of a member in no file nor the database
    text = "\n".join(str(problem) for problem in plan.problems)
    for value in ("111-11-1111", "123-45-6789", "078-05-1120", "666-12-3456", "2/30/1970", "R9999999"):
        assert value not in text

    outcome = migrate(tmp_path)
    assert outcome.run.entities["members"]["rejected"] == 7 and outcome.run.entities["members"]["loaded"] == 10
    assert outcome.run.balanced  # rejected rows are counted, not summed
    assert not Member.objects.filter(member_number__gte="R0000010").exists()


def test_a_reference_to_a_rejected_row_is_rejected_with_it(tmp_path):
    write_coop(tmp_path, members=3, months=1, prefix="Q")
    rows = list(csv.reader((tmp_path / "members.csv").open(encoding="utf-8-sig")))
    rows[1][12] = "111-11-1111"  # member Q0000000 rejected: its accounts, bills, payments... go with it
    _write(tmp_path, "members.csv", rows[0], rows[1:])

    plan = check(tmp_path)

    reasons = {(p.file, p.field): p.reason for p in plan.problems}
    assert reasons[("accounts.csv", "member_number")] == "Refers to a row members.csv rejects (line 2)."
    assert ("bills.csv", "account_number") in reasons and ("payments.csv", "account_number") in reasons
    migrate(tmp_path)
    assert not Account.objects.filter(account_number__startswith="AQ0000000").exists()
    assert Account.objects.filter(account_number__startswith="AQ0000001").exists()


def test_the_second_account_of_a_member_loaded_earlier_loads_on_a_re_run(tmp_path):
    write_coop(tmp_path, members=2, months=1, prefix="S")
    accounts = list(csv.reader((tmp_path / "accounts.csv").open(encoding="utf-8")))
    _write(tmp_path, "accounts.csv", accounts[0], accounts[1:2])  # only the first account of S0000000
    for name in ("bills.csv", "payments.csv", "balances.csv", "authorized_parties.csv"):
        (tmp_path / name).unlink()
    first = migrate(tmp_path)
    assert first.run.entities["accounts"]["loaded"] == 1
    _write(tmp_path, "accounts.csv", accounts[0], accounts[1:])

    second = migrate(tmp_path)

    entities = second.run.entities
    assert (entities["members"]["loaded"], entities["members"]["already_present"]) == (0, 2)
    assert (entities["accounts"]["loaded"], entities["accounts"]["already_present"]) == (4, 1)
    assert Member.objects.get(member_number="S0000000").accounts.count() == 3
    assert second.run.balanced


def test_a_re_run_loads_nothing_twice(coop):
    migrate(coop)
    counts = (Bill.objects.count(), Payment.objects.count(), CapitalCreditRetirement.objects.count())

    again = migrate(coop)

    assert all(row["loaded"] == 0 for row in again.run.entities.values())
    assert again.run.entities["bills"]["already_present"] == 1248 and again.run.balanced
    assert (Bill.objects.count(), Payment.objects.count(), CapitalCreditRetirement.objects.count()) == counts
    assert CapitalCreditAllocation.objects.get(member__member_number="T0000004", year=2021).retired_amount > 0


def test_an_interrupted_run_is_recorded_as_such_and_a_re_run_resumes(coop, monkeypatch):
    real, calls = accounts_bulk.bills_insert, []

    def fail_on_the_third_batch(cursor, rows):
        calls.append(len(rows))
        if len(calls) == 3:
            raise RuntimeError("the database went away")
        real(cursor, rows)

    monkeypatch.setattr(accounts_bulk, "bills_insert", fail_on_the_third_batch)
    with pytest.raises(RuntimeError):
        migrate(coop, batch_size=200)

    interrupted = MigrationRun.objects.get()
    assert interrupted.outcome == MigrationRun.Outcome.INTERRUPTED and not interrupted.balanced
    bills = interrupted.entities["bills"]
    assert (bills["loaded"], bills["complete"], bills["stored"]) == (400, False, 400)  # whole batches only
    assert interrupted.entities["members"]["complete"] and "payments" in interrupted.entities
    assert Bill.objects.count() == 400

    monkeypatch.setattr(accounts_bulk, "bills_insert", real)
    resumed = migrate(coop, batch_size=200)

    assert resumed.run.balanced and resumed.run.entities["bills"]["already_present"] == 400
    assert Bill.objects.count() == 1248


def test_check_command_prints_problems_and_counts_and_loads_nothing(tmp_path, capsys):
    write_coop(tmp_path, members=5, months=1, prefix="K", rejects=True)
    report = tmp_path / "problems.csv"

    call_command("cis_migrate", str(tmp_path), "--check", "--report", str(report))

    out = capsys.readouterr().out
    assert "members.csv line 6: ssn:" not in out and "members.csv line 7: ssn:" in out
    assert "members.csv (utf-8-sig): 12 rows, 7 rejected, 0 already present, 5 would load" in out
    assert "nothing was loaded" in out and Member.objects.count() == 0
    assert next(csv.reader(report.open())) == ["file", "line", "field", "reason"]


def test_unknown_columns_refuse_the_run_before_anything_loads(coop):
    rows = list(csv.reader((coop / "bills.csv").open(encoding="utf-8")))
    _write(coop, "bills.csv", [*rows[0], "surprise"], [[*row, ""] for row in rows[1:]])

    with pytest.raises(MigrationRefused) as refused:
        migrate(coop)

    assert "bills.csv" in str(refused.value) and Member.objects.count() == 0
    problems = [str(p) for p in refused.value.plan.problems]
    assert problems[0] == "bills.csv line 1: header: Not this file's layout: unknown columns surprise."
    with pytest.raises(CommandError, match="Nothing was loaded: bills.csv"):
        call_command("cis_migrate", str(coop))


def test_the_portal_shows_a_migrated_member_each_account_and_its_history(coop, client, make_user):
    migrate(coop)
    member = Member.objects.get(member_number="T0000001")  # two accounts
    user = make_user("member-t1", is_staff=False)
    member_link_user(actor=None, member=member, user=user)
    client.force_login(user)

    home = client.get("/portal/").content.decode()
    assert "AT00000010" in home and "AT00000011" in home
    # Every one of the 24 months of bills, 12 to a page, each with its PDF; payments paginated the same way.
    pages = [
        client.get("/portal/accounts/AT00000011/", {"page": n, "payments_page": n}).content.decode() for n in (1, 2)
    ]
    both = "".join(pages)
    assert both.count("/bills/ST0000001") == 24
    assert "ST00000011023" in pages[0] and "ST00000011000" in pages[1]  # newest first
    assert "Jan 19, 2025" in pages[0] and "Feb 19, 2023" in pages[1]  # last and first payments
    assert client.get("/portal/accounts/AT00000020/").status_code == 404  # another member's account


def test_the_command_loads_records_the_operator_and_prints_the_reconciliation(tmp_path, capsys, make_user):
    write_coop(tmp_path, members=3, months=2, prefix="O")
    operator = make_user("operator-ola", is_staff=False)

    call_command("cis_migrate", str(tmp_path), "--operator", "operator-ola", "--workers", "1")

    out = capsys.readouterr().out
    run = MigrationRun.objects.get()
    assert run.run_by == operator and run.balanced
    assert "bills: 14 / 14 / 0 / 0 / 14 of 14" in out and "bills.amount_due: files" in out
    assert f"Migration run {run.pk} balances" in out
    with pytest.raises(CommandError, match="no user"):
        call_command("cis_migrate", str(tmp_path), "--operator", "nobody")
