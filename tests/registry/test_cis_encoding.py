"""Legacy exports' encodings, extensions and placeholder SSNs (issue 20): decided before any row loads,
never mojibake, nothing silently changed. Both the legacy import and the migration."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.cis_import import COLUMNS, import_members
from accounts.cis_import.encoding import EncodingRefused, detect_encoding
from accounts.cis_import.synthetic import synthetic_row
from accounts.cis_migrate import MigrationRefused, migrate
from accounts.cis_migrate.synthetic import write_coop
from members import validation
from members.models import Member

pytestmark = pytest.mark.django_db


def _latin1_export(path: Path, count: int = 1200, accented_from: int = 1000) -> None:
    """The issue's file: plain ASCII names until row ``accented_from``, then accented ones, in Latin-1."""
    rows = []
    for index in range(count):
        row = synthetic_row(index, prefix="E")
        if index >= accented_from:
            row["legal_name"] = f"José Müller-Côté {index}"
        rows.append(row)
    with path.open("w", encoding="latin-1", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS), extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)


def test_a_latin1_export_read_as_utf8_is_refused_by_file_and_line_before_any_member_loads(tmp_path):
    export = tmp_path / "legacy.csv"
    _latin1_export(export)

    with pytest.raises(CommandError) as refused:
        call_command("import_members", str(export), "--batch-size", "500", "--encoding", "utf-8")

    message = str(refused.value)
    assert message.startswith("legacy.csv line 1002: not valid utf-8") and "nothing was loaded" in message
    assert "José" not in message and "Traceback" not in message
    assert Member.objects.count() == 0  # not 1,000 of 1,200


def test_a_latin1_export_is_detected_and_loads_whole_without_mojibake(tmp_path, capsys):
    export = tmp_path / "legacy.csv"
    _latin1_export(export)

    call_command("import_members", str(export), "--batch-size", "500", "--workers", "1")

    assert Member.objects.count() == 1200
    assert Member.objects.get(member_number="E00001100").legal_name == "José Müller-Côté 1100"
    assert not Member.objects.filter(legal_name__contains="Ã").exists()


def test_the_migration_refuses_a_file_it_cannot_decode_before_any_file_loads(tmp_path):
    write_coop(tmp_path, members=30, months=1, prefix="W")
    members = (tmp_path / "members.csv").read_bytes()
    (tmp_path / "members.csv").write_bytes(members.decode("utf-8-sig").encode("cp1252"))

    with pytest.raises(MigrationRefused) as refused:
        migrate(tmp_path, encoding="utf-8", batch_size=5)

    problem = refused.value.plan.problems[0]
    assert (problem.file, problem.field, problem.line) == ("members.csv", "encoding", 3)  # Zoë, member 1
    assert Member.objects.count() == 0

    outcome = migrate(tmp_path, batch_size=5)  # detected: Windows-1252
    assert outcome.run.files["members.csv"]["encoding"] == "cp1252" and outcome.run.balanced
    assert Member.objects.get(member_number="W0000001").legal_name == "Zoë O'Brien 1"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("José,1\r\n".encode(), "utf-8"),
        (b"\xef\xbb\xbf" + "José,1\r\n".encode(), "utf-8-sig"),
        ("José Núñez,Renée Côté,1\n".encode("cp1252") * 50, "cp1252"),
    ],
)
def test_encodings_are_detected(tmp_path, content, expected):
    path = tmp_path / "f.csv"
    path.write_bytes(content)
    assert detect_encoding(path) == expected


def test_a_file_mixing_utf8_and_windows_1252_is_refused_rather_than_stored_as_mojibake(tmp_path):
    path = tmp_path / "members.csv"
    path.write_bytes("name\nJosé\n".encode() + "Renée\n".encode("cp1252"))
    with pytest.raises(EncodingRefused, match=r"members.csv line 2: the file mixes UTF-8"):
        detect_encoding(path)


def test_an_unknown_encoding_name_is_refused(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes(b"a\n")
    with pytest.raises(EncodingRefused, match="not an encoding"):
        detect_encoding(path, "klingon-8")


# --- nothing silently changed ------------------------------------------------------------------------


def test_a_phone_extension_is_kept_in_its_own_field_by_the_import():
    row = synthetic_row(1, prefix="X")
    row["phone"] = "(217) 555-0140 ext. 2201"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerow(row)
    buffer.seek(0)

    import_members(buffer)

    member = Member.objects.get(member_number="X00000001")
    assert (member.phone, member.phone_extension) == ("+12175550140", "2201")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("(217) 555-0140 ext. 2201", ("(217) 555-0140", "2201")),
        ("217-555-0140 x12", ("217-555-0140", "12")),
        ("217.555.0140 #7", ("217.555.0140", "7")),
        ("(217) 555-0140 extension 44", ("(217) 555-0140", "44")),
        ("(217) 555-0140", ("(217) 555-0140", "")),
    ],
)
def test_extensions_are_split_off(text, expected):
    assert validation.split_phone_extension(text) == expected


@pytest.mark.parametrize("ssn", ["111-11-1111", "222222222", "999-99-9999", "123-45-6789", "078-05-1120"])
def test_placeholder_ssns_are_refused_on_import_like_never_issued_ones(ssn):
    with pytest.raises(ValidationError):
        validation.clean_imported_ssn(ssn)


def test_placeholder_ssns_are_reported_by_the_import_and_do_not_load():
    rows = [synthetic_row(i, prefix="Z") for i in range(3)]
    rows[1]["ssn"], rows[2]["ssn"] = "111-11-1111", "111-11-1111"
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    buffer.seek(0)

    report = import_members(buffer)

    assert report.members_loaded == 1
    assert [(error.line, error.field) for error in report.errors] == [(3, "ssn"), (4, "ssn")]
    assert all("placeholder" in error.message and "1111" not in error.message for error in report.errors)
