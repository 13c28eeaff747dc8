"""Issue 12, items 5 and 6: certificates of destruction, and restores that stay purged.

The restore test commits (pg_dump sees only committed rows), dumps the test database before a purge,
purges, restores the dump into a fresh database on the same server, re-applies the ledger there with
the management command (a separate process, as an operator would), and finds nothing purged back.
"""

# ruff: noqa: S603, S607, S608 - runs our own fixed tools (pg_dump, psql, pdftoppm) on ids it created
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import InternalError, ProgrammingError, connection, transaction
from django.test import override_settings

from accounts.models import ReturnedMail
from members.models import Member
from retention.models import Category, DestructionCertificate, DestructionLedgerEntry, PurgeRun
from retention.services import retention_policy_ensure_defaults, retention_purge_category
from retention.services.ledger import ledger_digest
from tests.factories import MemberFactory, ReturnedMailFactory

BASE_DIR = Path(settings.BASE_DIR)


def _pg(*args: str, **kw) -> subprocess.CompletedProcess:
    db = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": db.get("PASSWORD") or ""}
    common = ["-h", db["HOST"] or "127.0.0.1", "-p", str(db["PORT"] or 5432), "-U", db["USER"]]
    return subprocess.run([args[0], *common, *args[1:]], env=env, check=True, capture_output=True, text=True, **kw)


def _psql(database: str, sql: str) -> str:
    return _pg("psql", "-d", database, "-tAc", sql).stdout.strip()


@pytest.mark.django_db(transaction=True, available_apps=[config.name for config in apps.get_app_configs()])
def test_a_restored_pre_purge_dump_is_purged_again_by_the_ledger(tmp_path):
    retention_policy_ensure_defaults()
    former = [MemberFactory(status=Member.Status.FORMER, left_on=dt.date(2015, 1, 1)) for _ in range(3)]
    kept = MemberFactory(status=Member.Status.FORMER, left_on=dt.date.today() - dt.timedelta(days=30))  # noqa: DTZ011
    mail = ReturnedMailFactory(returned_on=dt.date(2015, 1, 1))
    dump = tmp_path / "before.dump"
    source = connection.settings_dict["NAME"]
    _pg("pg_dump", "-Fc", "-f", str(dump), source)

    ledger = tmp_path / "ledger"
    with override_settings(RETENTION_LEDGER_DIR=str(ledger)):
        retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS)
        retention_purge_category(category=Category.RETURNED_MAIL)
    assert len(list(ledger.glob("run-*.jsonl"))) == 2

    restored = f"{source}_restore"
    _pg("dropdb", "--if-exists", restored)
    _pg("createdb", restored)
    try:
        _pg("pg_restore", "--no-owner", "-d", restored, str(dump))
        ids = ",".join(str(m.pk) for m in former)
        assert _psql(restored, f"SELECT count(*) FROM members_member WHERE id IN ({ids}) AND ssn IS NOT NULL") == "3"

        db = connection.settings_dict
        url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{restored}"
        result = subprocess.run(
            [sys.executable, "manage.py", "reapply_destruction_ledger", "--ledger-dir", str(ledger)],
            cwd=BASE_DIR,
            env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true"},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "former_member_identifiers: 3 destroyed again" in result.stdout

        assert _psql(restored, f"SELECT count(*) FROM members_member WHERE id IN ({ids}) AND ssn IS NOT NULL") == "0"
        assert _psql(restored, f"SELECT count(*) FROM members_member WHERE id IN ({ids}) AND tax_id_index <> ''") == "0"
        assert _psql(restored, f"SELECT count(*) FROM accounts_returnedmail WHERE id = {mail.pk}") == "0"
        assert _psql(restored, f"SELECT ssn IS NOT NULL FROM members_member WHERE id = {kept.pk}") == "t"
        assert _psql(restored, "SELECT count(*) FROM retention_destructioncertificate") == "2"
        # A second re-application finds nothing more.
        again = subprocess.run(
            [sys.executable, "manage.py", "reapply_destruction_ledger", "--ledger-dir", str(ledger)],
            cwd=BASE_DIR,
            env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "true"},
            capture_output=True,
            text=True,
            check=True,
        )
        assert "ledger re-applied: 0 records" in again.stdout
    finally:
        _pg("dropdb", "--if-exists", restored)


@pytest.mark.django_db
def test_each_run_has_a_certificate_with_a_digest_of_the_destroyed_ids_and_they_are_append_only():
    import hashlib

    retention_policy_ensure_defaults()
    members = [MemberFactory(status=Member.Status.FORMER, left_on=dt.date(2015, 1, 1)) for _ in range(3)]
    run = retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS, batch_size=2)

    certificate = DestructionCertificate.objects.get(run=run)
    expected = hashlib.sha256("".join(f"members.member:{m.pk}\n" for m in members).encode()).hexdigest()
    assert (certificate.category, certificate.records_destroyed, certificate.digest) == (
        Category.FORMER_MEMBER_IDENTIFIERS,
        3,
        expected,
    )
    assert certificate.cutoff == run.cutoff and "NULL" in certificate.method
    assert certificate.approved_by_label == "documented default schedule"
    ledger = set(DestructionLedgerEntry.objects.filter(run=run).values_list("digest", flat=True))
    assert ledger == {ledger_digest(Category.FORMER_MEMBER_IDENTIFIERS, m.pk) for m in members}
    assert not any(str(m.pk) == digest for m in members for digest in ledger)

    for statement in (
        lambda: DestructionCertificate.objects.filter(pk=certificate.pk).update(records_destroyed=0),
        lambda: DestructionCertificate.objects.filter(pk=certificate.pk).delete(),
        lambda: PurgeRun.objects.filter(pk=run.pk).update(records_destroyed=0),
        lambda: connection.cursor().execute("DELETE FROM retention_purgerun WHERE id = %s", [run.pk]),
        lambda: DestructionLedgerEntry.objects.filter(run=run).delete(),
    ):
        # Refused by the append-only trigger (InternalError) or, for the runtime role, by the missing grant.
        with pytest.raises((InternalError, ProgrammingError)), transaction.atomic():
            statement()
    assert ReturnedMail.objects.count() == 0


class TestCertificateDownloads:
    @pytest.fixture
    def certificate(self, db):
        retention_policy_ensure_defaults()
        ReturnedMailFactory(returned_on=dt.date(2015, 1, 1))
        return retention_purge_category(category=Category.RETURNED_MAIL).certificate

    def test_the_privacy_officer_downloads_the_pdf_and_it_renders(self, client, make_user, certificate, tmp_path):
        from members import roles

        client.force_login(make_user("po", role=roles.PRIVACY_OFFICER))
        response = client.get(f"/admin/retention/destructioncertificate/{certificate.pk}/download.pdf")
        assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
        pdf = tmp_path / "certificate.pdf"
        pdf.write_bytes(response.content)
        subprocess.run(["pdftoppm", "-png", "-r", "50", str(pdf), str(tmp_path / "page")], check=True)
        assert (tmp_path / "page-1.png").stat().st_size > 1000
        text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
        assert certificate.number in text and certificate.digest[:32] in text.replace("\n", "")

    def test_the_csv_names_category_cutoff_count_digest_method_and_approver(self, client, auditor, certificate):
        client.force_login(auditor)
        response = client.get(f"/admin/retention/destructioncertificate/{certificate.pk}/download.csv")
        body = response.content.decode()
        assert response.status_code == 200
        for value in (certificate.category, certificate.cutoff.isoformat(), certificate.digest, "rows deleted"):
            assert value in body
        assert "Approved by,documented default schedule" in body and "Records destroyed,1" in body

    def test_a_csr_and_anonymous_cannot_download(self, client, make_user, certificate):
        from members import roles

        url = f"/admin/retention/destructioncertificate/{certificate.pk}/download.pdf"
        assert client.get(url).status_code == 302
        client.force_login(make_user("csr", role=roles.CSR))
        assert client.get(url).status_code == 403
