from __future__ import annotations

import csv
import io

import pytest
from django.core.management import call_command

from accounts.cis_import import COLUMNS, ImportReport, announce_import, cleaning, import_members
from accounts.cis_import.synthetic import synthetic_csv, synthetic_row
from accounts.models import Account, Meter, Premise
from members import bulk_load
from members.crypto import blind_index
from members.models import AuditEvent, FinancialAccount, Member
from members.selectors import members_matching
from members.signals import members_imported
from redflags.models import Flag

pytestmark = pytest.mark.django_db


def _csv(rows: list[dict[str, str]]) -> io.StringIO:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    buffer.seek(0)
    return buffer


def test_good_rows_load_with_encrypted_values_and_indexes():
    report = import_members(io.StringIO(synthetic_csv(30)), batch_size=7)

    assert (report.members_loaded, report.bad_rows, report.batches) == (30, 0, 5)
    assert Member.objects.count() == 30 and Account.objects.count() == 30 and Meter.objects.count() == 30
    assert Premise.objects.count() == 30 and FinancialAccount.objects.count() == 10
    row = synthetic_row(1)
    member = Member.objects.get(member_number="L00000001")
    assert member.ssn == row["ssn"].replace("-", "")
    assert member.date_of_birth.isoformat() == row["date_of_birth"]
    assert member.tax_id_index == blind_index("ssn", row["ssn"]) and member.ssn_last4 == row["ssn"][-4:]
    assert member.phone_index == blind_index("phone", row["phone"])
    assert [m.pk for m in members_matching("licence", (row["drivers_licence_number"], "IL"))] == [member.pk]
    assert Premise.objects.get(premise_number="PL00000007").gate_code == synthetic_row(7)["gate_code"]
    assert AuditEvent.objects.filter(action="member.imported").count() == 5


def test_bad_rows_are_reported_by_line_and_reason_without_their_values_and_the_rest_loads():
    rows = [synthetic_row(i) for i in range(5)]
    rows[1]["ssn"] = "666-12-3456"
    rows[2]["phone"] = "12345"
    rows[2]["date_of_birth"] = "1850-01-01"
    rows[3]["ssn"] = "١٢٣-٤٥-٦٧٨٩"
    rows[4]["member_number"] = rows[0]["member_number"]

    report = import_members(_csv(rows))

    assert report.members_loaded == 1
    by_line = {(error.line, error.field) for error in report.errors}
    assert by_line == {(3, "ssn"), (4, "phone"), (4, "date_of_birth"), (5, "ssn"), (6, "member_number")}
    text = " ".join(str(error) for error in report.errors)
    assert "666" not in text and "12345" not in text and "1850" not in text
    assert Member.objects.count() == 1


def test_a_re_run_loads_nothing_twice():
    text = synthetic_csv(12)
    import_members(io.StringIO(text), batch_size=5)
    audit_rows = AuditEvent.objects.count()
    report = import_members(io.StringIO(text), batch_size=5)
    assert (report.members_loaded, report.members_already_present) == (0, 12)
    assert AuditEvent.objects.count() == audit_rows
    assert Member.objects.count() == 12 and Account.objects.count() == 12 and Meter.objects.count() == 12


def test_a_failing_batch_loads_none_of_its_rows(monkeypatch):
    real_copy = bulk_load.copy_rows
    calls = {"accounts": 0}

    def failing_copy(cursor, table, columns, rows, *args):
        if table == "accounts_account":
            calls["accounts"] += 1
            if calls["accounts"] == 2:
                raise RuntimeError("disk full")
        return real_copy(cursor, table, columns, rows, *args)

    monkeypatch.setattr(bulk_load, "copy_rows", failing_copy)
    with pytest.raises(RuntimeError):
        import_members(io.StringIO(synthetic_csv(10)), batch_size=5)
    assert Member.objects.count() == 5 and Account.objects.count() == 5 and Premise.objects.count() == 5


def test_a_wrong_header_is_refused_before_anything_loads():
    with pytest.raises(Exception, match="unknown columns: favourite_colour"):
        import_members(io.StringIO("member_number,legal_name,favourite_colour\nX1,A B,blue\n"))
    assert not Member.objects.exists()


def test_the_command_reports_bad_rows_and_writes_a_report(tmp_path, capsys):
    rows = [synthetic_row(i) for i in range(3)]
    rows[2]["email"] = "nope"
    source = tmp_path / "legacy.csv"
    source.write_text(_csv(rows).getvalue())
    report = tmp_path / "bad.csv"
    call_command("import_members", str(source), "--report", str(report))
    out = capsys.readouterr().out
    assert "2 members loaded" in out and "1 bad rows" in out
    assert report.read_text().splitlines()[1].startswith("4,email,")


def test_the_bulk_index_shortcuts_agree_with_the_general_blind_index():
    """The import indexes values it has already validated without canonicalising them again; that
    shortcut must give exactly the index the services and searches compute from raw input."""
    from django.utils import timezone

    from members import crypto

    index = crypto.canonical_indexer()
    for number in (1, 7, 25, 33, 100):
        raw = synthetic_row(number)
        raw["phone"] = "+1 (217) 555-01" + f"{number % 100:02d}"
        raw["email"] = f"Mixed.Case{number}@Example.TEST"
        row, errors = cleaning.clean_row(2, raw, timezone.localdate())
        assert errors == []
        m, s = row.member, row.secrets
        tax_kind, tax_raw = ("tin", raw["tin"]) if "tin" in s else ("ssn", raw["ssn"])
        assert index("tax_id", s.get("ssn") or s["tin"]) == blind_index(tax_kind, tax_raw)
        assert index("phone", m["phone"]) == blind_index("phone", raw["phone"])
        assert index("email", m["email"]) == blind_index("email", raw["email"])
        assert crypto.canonical_cleaned_address(*m["address"]) == crypto.canonical_address(m["address"])
        assert crypto.canonical_cleaned_address(*row.premise["address"]) == crypto.canonical_address(
            (raw["service_line1"], "", raw["service_city"], raw["service_state"], raw["service_postal_code"])
        )
        if "drivers_licence_number" in s:
            assert index("licence", f"{m['drivers_licence_state']}:{s['drivers_licence_number']}") == blind_index(
                "licence", (raw["drivers_licence_number"], raw["drivers_licence_state"])
            )
        if row.bank:
            assert index("bank_account", f"{row.bank[0]}:{row.bank[1]}") == blind_index(
                "bank_account", (raw["bank_routing_number"], raw["bank_account_number"])
            )


def test_copy_keeps_empty_strings_nulls_and_awkward_text_apart():
    rows = [synthetic_row(i) for i in range(3)]
    rows[0]["legal_name"] = 'Quote "Q" O\'Neil, Jr.\\ Tab\tEnd'
    rows[1]["mailing_line1"] = '12 Main St, Apt "B"'
    import_members(_csv(rows))
    first = Member.objects.get(member_number="L00000000")
    assert first.legal_name == 'Quote "Q" O\'Neil, Jr.\\ Tab End'  # whitespace runs collapse, the rest survives
    assert first.mailing_line2 == "" and first.passport_number is None and first.left_on is None
    assert Member.objects.get(member_number="L00000001").mailing_line1 == '12 Main St, Apt "B"'


def test_the_import_command_queues_members_sharing_an_ssn_for_red_flags_review(tmp_path, capsys):
    from redflags.models import Flag

    rows = [synthetic_row(i) for i in range(4)]
    rows[3]["ssn"] = rows[1]["ssn"]
    source = tmp_path / "legacy.csv"
    source.write_text(_csv(rows).getvalue())
    call_command("import_members", str(source))
    flagged = set(Flag.objects.filter(code="B5_SSN_SHARED").values_list("assessment__member__member_number", flat=True))
    assert flagged == {rows[1]["member_number"], rows[3]["member_number"]}
    assert rows[1]["ssn"] not in capsys.readouterr().out


def test_a_finished_load_is_announced_and_red_flags_answers_with_its_shared_ssn_scan():
    rows = [synthetic_row(i) for i in range(4)]
    rows[3]["ssn"] = rows[1]["ssn"]
    report = import_members(_csv(rows))
    assert sorted(report.member_ids) == sorted(Member.objects.values_list("pk", flat=True))
    heard = []

    def listener(sender, member_ids, actor_label, **kwargs):
        heard.append((sorted(member_ids), actor_label))

    members_imported.connect(listener)
    try:
        summaries = announce_import(report, actor_label="import:legacy.csv")
    finally:
        members_imported.disconnect(listener)

    assert heard == [(sorted(report.member_ids), "import:legacy.csv")]
    assert any("2 members flagged for review" in summary for summary in summaries)
    flagged = set(Flag.objects.filter(code="B5_SSN_SHARED").values_list("assessment__member__member_number", flat=True))
    assert flagged == {rows[1]["member_number"], rows[3]["member_number"]}
    assert all(rows[1]["ssn"] not in summary for summary in summaries)


def test_a_load_that_loaded_nobody_announces_nothing():
    assert announce_import(ImportReport(members_already_present=12), actor_label="import:again.csv") == []
