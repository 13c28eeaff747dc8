"""A consent-gated export read in several keyset pages (export_rows.member_rows): exactly the members holding
a consent in force are released, once each and in member order, whatever page they fall on."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from disclosures import rendering, services
from disclosures.models import DataCategory as C
from disclosures.models import DisclosureLogEntry, Purpose
from disclosures.services import export_rows
from tests.disclosures.conftest import written_consent
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def gated(csr, partner, recipient):
    """Eleven members; consent in force for seven, spread over the pages; the others hold none, a revoked
    one, or one to another recipient. Returns (members, the ids that must be released)."""
    other = recipient("non_affiliated", "Another partner")
    members = MemberFactory.create_batch(11)
    consented = []
    for index, member in enumerate(members):
        if index in (1, 4):
            continue  # no consent at all
        consent = written_consent(csr, member, partner, categories=(C.CONTACT, C.BILLING))
        if index == 6:
            services.consent_revoke(actor=csr, consent=consent, channel="written")
        elif index == 9:
            written_consent(csr, member, other, categories=(C.CONTACT, C.BILLING))
            services.consent_revoke(actor=csr, consent=consent, channel="written")
        else:
            consented.append(member.pk)
    written_consent(csr, members[4], other, categories=(C.CONTACT, C.BILLING))
    return members, sorted(consented)


def _export(actor, partner, member_ids=None):
    return services.disclosure_export(
        actor=actor,
        recipient=partner,
        categories=[C.CONTACT, C.BILLING],
        purpose=Purpose.MARKETING,
        member_ids=member_ids,
    )


def _numbers(data: bytes) -> list[str]:
    return [row["member_number"] for row in csv.DictReader(io.StringIO(data.decode()))]


@pytest.mark.parametrize("page_size", [1, 2, 3, 7, 100])
def test_a_paged_export_releases_exactly_the_consented_members_once_each_in_order(
    privacy_officer, partner, gated, monkeypatch, page_size
):
    members, consented = gated
    monkeypatch.setattr(export_rows, "EXPORT_PAGE_SIZE", page_size)
    by_pk = {m.pk: m for m in members}

    export = _export(privacy_officer, partner)
    data = export.read_all()

    assert _numbers(data) == [by_pk[pk].member_number for pk in consented]
    assert export.entry.member_ids == consented and export.entry.row_count == len(consented)
    stored = DisclosureLogEntry.objects.get(outcome="released")
    assert stored.member_ids == consented and stored.member_count == len(consented)
    # The billing category's encrypted fields were decrypted on every page.
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [row["ssn"] for row in rows] == [by_pk[pk].ssn for pk in consented]


def test_each_page_bounds_the_consent_subquery_by_the_page_keyset(privacy_officer, partner, gated, monkeypatch):
    """The page's ``pk > last`` is repeated on the consent join (``member_id > last``), so a late page does
    not scan the consents of every member before it."""
    members, consented = gated
    monkeypatch.setattr(export_rows, "EXPORT_PAGE_SIZE", 3)
    with CaptureQueriesContext(connection) as queries:
        export = _export(privacy_officer, partner)
        export.read_all()
    sqls = [query["sql"] for query in queries.captured_queries]
    pages = [sql for sql in sqls if 'FROM "members_member"' in sql and "LIMIT 3" in sql]
    assert len(pages) == -(-len(consented) // 3) + (len(consented) % 3 == 0)
    for sql in pages:
        assert '"member_id" > ' in sql.split("EXISTS", 1)[1], sql


# --- Failures and revocations in the middle of a paged release ---------------------------------------


def test_a_failed_page_read_aborts_the_release_and_logs_no_release(privacy_officer, partner, gated, monkeypatch):
    """A real database error on the third page (a statement timeout): the release's transaction rolls back
    (no released entry, no notices due, no release audit row), the error reaches the reader, and the log
    says which members' rows had left before it."""
    from disclosures.models import ReleaseNoticeDue
    from members.models import AuditEvent

    members, consented = gated
    monkeypatch.setattr(export_rows, "EXPORT_PAGE_SIZE", 2)
    monkeypatch.setattr(rendering, "CHUNK_ROWS", 1)  # each row leaves as it is rendered
    pages = 0

    def slow_third_page(execute, sql, params, many, context):
        nonlocal pages
        if 'FROM "members_member"' in sql and "LIMIT 2" in sql:
            pages += 1
            if pages == 3:
                with context["connection"].cursor() as cursor:  # the release's own session
                    cursor.execute("SET LOCAL statement_timeout = '50ms'")
                sql = "SELECT pg_sleep(1), * FROM (" + sql + ") AS page"  # noqa: S608 - Django's own SQL
        return execute(sql, params, many, context)

    export = _export(privacy_officer, partner)
    received = []
    with connection.execute_wrapper(slow_third_page), pytest.raises(OperationalError, match="statement timeout"):
        for chunk in export.chunks():
            received.append(chunk)
    assert not DisclosureLogEntry.objects.filter(outcome="released").exists()
    assert not ReleaseNoticeDue.objects.exists()
    assert not AuditEvent.objects.filter(action="disclosure.released").exists()
    interrupted = DisclosureLogEntry.objects.get(outcome="interrupted")
    assert interrupted.member_ids == consented[:4]  # the first two pages' rows had left
    first_pages = [m.member_number for m in members if m.pk in consented[:4]]
    sent = _numbers(b"".join(received))  # (the stream holds its latest chunk back until the next is ready)
    assert sent and sent == first_pages[: len(sent)]


def test_a_consent_revoked_mid_release_stops_every_page_read_after_it(
    csr, privacy_officer, partner, gated, monkeypatch
):
    """Consent is checked when a member's page is read, in the release's transaction. Revoked once the first
    row is out, before the second page is read: neither member is sent, and both are logged as withheld at
    the moment of release. (The release names its members, as the left-out are logged only then.)"""
    from disclosures.models import Consent

    members, consented = gated
    monkeypatch.setattr(export_rows, "EXPORT_PAGE_SIZE", 2)
    monkeypatch.setattr(rendering, "CHUNK_ROWS", 1)
    by_pk = {m.pk: m for m in members}
    second_page, third_page = consented[2], consented[4]

    export = _export(privacy_officer, partner, member_ids=consented)
    chunks = export.chunks()
    received = next(chunks)
    for pk in (second_page, third_page):
        consent = Consent.objects.get(member_id=pk, recipient=partner, revoked_at=None)
        services.consent_revoke(actor=csr, consent=consent, channel="written")
    received += b"".join(chunks)

    released = [pk for pk in consented if pk not in (second_page, third_page)]
    assert _numbers(received) == [by_pk[pk].member_number for pk in released]
    assert export.entry.member_ids == released and export.entry.row_count == len(released)
    refused = DisclosureLogEntry.objects.get(outcome="refused")
    assert refused.member_ids == [second_page, third_page]
    assert "moment of release" in refused.reason and "revoked" in refused.reason


# --- Tokens read as escape-format text (export_rows._TokenText, _token_bytes) ---------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"gAAAAABn-_token_with_every_base64url_character_0123456789=",
        bytes(range(256)),
        b"\\\\000\\x80",
        b"",
    ],
    ids=["token", "every-byte", "backslashes-and-digits", "empty"],
)
def test_a_column_read_as_escape_text_gives_back_its_exact_bytes(value):
    """Whatever a column holds (a token, or bytes no token holds: NUL, high bytes, backslashes), the
    decrypter gets exactly the column's bytes, as it did when the column was read as bytea."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT encode(%s::bytea, 'escape')", [value])
        (text,) = cursor.fetchone()
    assert export_rows._token_bytes(text) == value


def test_stored_tokens_decrypt_or_fail_exactly_as_before(csr, privacy_officer, partner, gated, monkeypatch):
    """A byte no token holds, after the token, is skipped by Fernet's lenient base64 as it always was (the
    decrypter still gets that byte: the escape format is undone); a changed character fails the release
    with InvalidToken, and nothing is logged as released."""
    from cryptography.fernet import InvalidToken

    from tests.db_owner import tamper

    members, consented = gated
    by_pk = {m.pk: m for m in members}
    monkeypatch.setattr(export_rows, "EXPORT_PAGE_SIZE", 2)
    tamper("UPDATE members_member SET ssn = ssn || '\\x80'::bytea WHERE id = %s", [consented[3]])
    rows = list(csv.DictReader(io.StringIO(_export(privacy_officer, partner).read_all().decode())))
    assert [row["ssn"] for row in rows] == [by_pk[pk].ssn for pk in consented]

    with connection.cursor() as cursor:
        cursor.execute("SELECT ssn FROM members_member WHERE id = %s", [consented[5]])
        token = bytearray(cursor.fetchone()[0])
    token[40] = ord("A") if token[40] != ord("A") else ord("B")
    tamper("UPDATE members_member SET ssn = %s WHERE id = %s", [bytes(token), consented[5]])
    with pytest.raises(InvalidToken):
        _export(privacy_officer, partner).read_all()
    assert DisclosureLogEntry.objects.filter(outcome="released").count() == 1  # the first release only
