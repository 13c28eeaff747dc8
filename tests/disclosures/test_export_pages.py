"""A consent-gated export read in several keyset pages (export_rows.member_rows): exactly the members holding
a consent in force are released, once each and in member order, whatever page they fall on."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from disclosures import services
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


def _export(actor, partner):
    return services.disclosure_export(
        actor=actor, recipient=partner, categories=[C.CONTACT, C.BILLING], purpose=Purpose.MARKETING
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
    pages = [q["sql"] for q in queries.captured_queries if 'FROM "members_member"' in q["sql"] and "LIMIT 3" in q["sql"]]
    assert len(pages) == -(-len(consented) // 3) + (len(consented) % 3 == 0)
    for sql in pages:
        assert '"member_id" > ' in sql.split("EXISTS", 1)[1], sql
