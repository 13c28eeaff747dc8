"""Issue 11 item 3: logs the application cannot rewrite.

The suite runs as the runtime role (tests/conftest.py), as web, worker and beat do. That role owns
nothing, may not TRUNCATE or control triggers, and may only INSERT/SELECT the append-only tables, whose
plain triggers consult no setting (``SET LOCAL pgtrigger.ignore`` does not switch them off). The audit
trail is hash-chained, and every chain's head is anchored where the runtime role cannot reset it.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from config.db_roles import append_only_tables
from disclosures.chain import chain_append, verify_chain
from members import hashchain, roles
from members.audit import audit_record, verify_audit_chain
from members.models import INSERT_ONLY, AuditEvent
from tests.db_owner import as_owner, tamper

pytestmark = pytest.mark.django_db

APPEND_ONLY = append_only_tables()
INSERT_ONLY_TABLES = sorted(table for table, mode in APPEND_ONLY.items() if mode == INSERT_ONLY)


def _log_release(n: int = 1) -> None:
    for index in range(n):
        with transaction.atomic():
            chain_append(actor=None, actor_label="test", outcome="released", recipient_label=f"r{index}")


def _audit(n: int = 1, **extra) -> list[AuditEvent]:
    events = []
    for index in range(n):
        with transaction.atomic():
            events.append(audit_record(actor=None, actor_label="test", action=f"test.{index}", **extra))
    return events


def _refused(statement: str, params=(), because: str = "") -> bool:
    """Run ``statement`` in a savepoint; True when the database refused it (with ``because`` in the error)."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, params)
    except DatabaseError as exc:
        return because in str(exc)
    return False


def test_the_suite_runs_as_the_runtime_role_which_owns_nothing(settings):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        )
        user, is_super, create_role, create_db = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
        )
        (owned,) = cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
            " AND (has_table_privilege(c.oid, 'TRUNCATE') OR has_table_privilege(c.oid, 'TRIGGER'))"
        )
        (truncatable,) = cursor.fetchone()
    assert user == settings.DATABASE_RUNTIME_ROLE
    assert (is_super, create_role, create_db, owned, truncatable) == (False, False, False, 0, 0)


def test_every_log_named_by_the_issue_is_protected():
    assert {
        "members_auditevent": INSERT_ONLY,
        "members_chainanchor": INSERT_ONLY,
        "disclosures_disclosurelogentry": INSERT_ONLY,
        "retention_purgerun": "no-delete",
        "disclosures_consent": "no-delete",
    }.items() <= APPEND_ONLY.items()


@pytest.mark.parametrize("table", INSERT_ONLY_TABLES)
def test_the_runtime_role_cannot_truncate_update_or_delete_an_append_only_table(table):
    _audit(1)
    _log_release(1)
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # else TRUNCATE trips over pending FK checks, not rights
    assert _refused(f"TRUNCATE {table} CASCADE", because="permission denied")
    assert _refused(f"UPDATE {table} SET id = id", because="permission denied")  # noqa: S608 - model tables
    assert _refused(f"DELETE FROM {table}", because="permission denied")  # noqa: S608
    assert _refused(f"ALTER TABLE {table} DISABLE TRIGGER ALL", because="must be owner")
    assert _refused("SET session_replication_role = replica", because="permission denied")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL pgtrigger.ignore = '{x}'")  # any role may set it: so nothing may rely on it
        assert _refused(f"DELETE FROM {table}", because="permission denied")  # noqa: S608


@pytest.mark.parametrize("table", ["members_auditevent", "members_chainanchor", "disclosures_disclosurelogentry"])
def test_setting_pgtrigger_ignore_bypasses_nothing_even_for_the_owner(table):
    """The protections are plain triggers that consult no setting: not even the table's owner rewrites a
    row by setting django-pgtrigger's ignore list (the owner has to disable the trigger, deliberately)."""
    _audit(1)
    _log_release(1)
    with as_owner():
        with connection.cursor() as cursor:
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", [table])
            names = ",".join(f"{table}:{row[0]}" for row in cursor.fetchall())
        for guc in (f"SET LOCAL pgtrigger.ignore = '{{{names}}}'", "SET LOCAL pgtrigger.disabled = 'true'"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(guc)
                assert _refused(f"UPDATE {table} SET id = id", because="append-only")  # noqa: S608
                assert _refused(f"DELETE FROM {table}", because="append-only")  # noqa: S608


def test_purge_runs_and_consents_cannot_be_deleted_even_by_the_owner():
    from retention.models import PurgeRun

    PurgeRun.objects.create(category="test", cutoff="2020-01-01", retain_days=1, method="test")
    assert _refused("DELETE FROM disclosures_consent", because="permission denied")
    assert _refused("DELETE FROM retention_purgerun", because="permission denied")
    with as_owner():
        assert _refused("DELETE FROM retention_purgerun", because="append-only")  # the trigger, for every role


def test_the_anchor_refuses_a_head_reset_by_the_runtime_role():
    _log_release(3)
    assert _refused(
        "INSERT INTO members_chainanchor (chain, seq, entry_hash, at) VALUES ('disclosures', 1, %s, now())",
        [hashchain.GENESIS],
    )
    assert _refused("UPDATE members_chainanchor SET seq = 1")
    assert hashchain.anchored_head("disclosures")[0] == 3


def test_truncating_the_log_and_resetting_the_head_no_longer_verifies_as_intact(capsys):
    """The issue's attack, done by an administrator who can truncate: the anchor still names #3."""
    _log_release(3)
    with as_owner():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("TRUNCATE disclosures_disclosurelogentry")
        # Without the triggers the anchor would accept a lower head; with them it does not.
        assert _refused(
            "INSERT INTO members_chainanchor (chain, seq, entry_hash, at) VALUES ('disclosures', 1, %s, now())",
            [hashchain.GENESIS],
        )
    report = verify_chain()
    assert not report.ok and report.entries == 0
    assert "anchor records #3" in report.problems[-1]
    with pytest.raises(CommandError, match="broken"):
        call_command("verify_disclosure_chain", "--record")
    assert "entries=0" in capsys.readouterr().out


def test_every_verification_path_checks_the_anchor(client, make_user):
    _log_release(3)
    tamper("DELETE FROM disclosures_disclosurelogentry WHERE seq = 3")
    client.force_login(make_user("auditor-anchor", role=roles.AUDITOR))
    api = client.get(reverse("disclosures:api-audit-chain")).json()
    assert api["ok"] is False and any("anchor records #3" in p for p in api["problems"])
    page = client.get(reverse("disclosures:audit-chain"))
    assert page.status_code == 200 and b"anchor records #3" in page.content
    with pytest.raises(CommandError):
        call_command("verify_disclosure_chain")


def test_the_audit_trail_is_a_hash_chain_from_the_genesis_hash():
    first, second = _audit(2, detail={"when": "2026-01-02", "ids": [1, 2]}, ip_address="2001:0db8::1")
    assert (second.seq - first.seq, second.prev_hash) == (1, first.entry_hash)
    report = verify_audit_chain()
    assert report.ok, report.problems
    assert report.head_hash == second.entry_hash


def test_the_audit_chain_names_an_altered_row():
    events = _audit(3)
    tamper("UPDATE members_auditevent SET reason = 'nothing to see' WHERE id = %s", [events[1].pk])
    report = verify_audit_chain()
    assert not report.ok and events[1].seq in report.broken_seqs
    assert "altered" in report.problems[0]


def test_the_audit_chain_names_a_deleted_row():
    events = _audit(3)
    tamper("DELETE FROM members_auditevent WHERE id = %s", [events[1].pk])
    report = verify_audit_chain()
    assert not report.ok and events[2].seq in report.broken_seqs


def test_the_audit_chain_catches_its_newest_row_removed():
    events = _audit(2)
    tamper("DELETE FROM members_auditevent WHERE id = %s", [events[-1].pk])
    report = verify_audit_chain()
    assert not report.ok
    assert f"anchor records #{events[-1].seq}" in report.problems[-1]


def test_check_database_passes_as_the_runtime_role_and_fails_as_the_owner():
    """``manage.py check --database default`` (run by .ci/run) names a process connected as the owner."""
    from config.checks import check_database_role

    assert check_database_role(databases=["default"]) == []
    with as_owner():
        messages = [error.msg for error in check_database_role(databases=["default"])]
    assert any("superuser" in m for m in messages) and any("owns" in m for m in messages)


def test_the_auditor_page_api_and_command_verify_the_audit_trail_too(client, make_user):
    events = _audit(2)
    client.force_login(make_user("auditor-trail", role=roles.AUDITOR))
    assert client.get(reverse("disclosures:api-audit-chain")).json()["audit_trail"]["ok"] is True
    tamper("DELETE FROM members_auditevent WHERE id = %s", [events[-1].pk])
    api = client.get(reverse("disclosures:api-audit-chain")).json()
    assert api["audit_trail"]["ok"] is False
    page = client.get(reverse("disclosures:audit-chain"))
    assert b"Audit trail chain" in page.content and b"BROKEN" in page.content
    with pytest.raises(CommandError, match="audit trail"):
        call_command("verify_disclosure_chain")
