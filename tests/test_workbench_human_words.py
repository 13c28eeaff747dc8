"""Issue 15.4: the admin speaks the co-op's words. No internal ids or codes in labels ("consent #5 member 1
→ 3", "(members 11)", "A1_contact", "legal_basis:2", "Ingest batchs", "seed 002"), and pickers for a
member, a premise or a requester are searchable (autocomplete), not raw ids."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from accounts.models import Account
from accounts.usage.models import IngestBatch
from disclosures import labels
from disclosures.models import Consent, DisclosureLogEntry, MembershipListRequest, Recipient
from members import roles
from redflags.cases.models import AccessAnomaly
from tests import factories

pytestmark = pytest.mark.django_db


def test_records_are_named_in_words_not_ids():
    member = factories.MemberFactory(member_number="M0000042", legal_name="Ada Whitfield")
    recipient = Recipient.objects.create(name="Prairie Solar Partners", kind="non_affiliated")
    consent = Consent.objects.create(
        member=member, recipient=recipient, categories=["A1_contact"], purpose="marketing", channel="written"
    )
    assert (
        str(consent)
        == "Consent of M0000042 to Prairie Solar Partners (Secondary: marketing by a non-affiliated company)"
    )
    request = MembershipListRequest(requester=member, purpose="board election mailing")
    assert "M0000042 Ada Whitfield" in str(request) and "#" not in str(request)
    payment = factories.PaymentFactory(account=factories.OpenAccountFactory(account_number="A0000777"))
    assert str(payment) == "Payment of $112.40 on A0000777"


def test_model_names_read_as_english():
    assert IngestBatch._meta.verbose_name_plural == "meter-reading files"
    assert "(C8)" not in str(AccessAnomaly._meta.verbose_name_plural)


def test_codes_in_the_disclosure_log_become_words():
    assert labels.categories_label(["A1_contact", "A3_usage"]) == (
        "A.1 Contact information, A.3 Electric usage and service history"
    )
    assert labels.reference_label("legal_basis:2 legal_process subpoena 2026-CV-118") == (
        "legal basis no. 2 (Legal process (warrant, subpoena, court order)) subpoena 2026-CV-118"
    )
    assert "consent:" not in labels.reference_label("consent:recipient=3,purpose=marketing")
    assert labels.basis_kind_label("membership_list") == "Membership list (proper purpose)"


def test_a_refusal_names_members_by_number_not_id():
    from disclosures.services.planner import _member_numbers

    first, second = factories.MemberFactory(member_number="M0000101"), factories.MemberFactory(member_number="M0000102")
    assert _member_numbers([first.pk, second.pk]) == "M0000101, M0000102"


def test_the_disclosure_log_page_shows_words_not_codes(client, make_user):
    from django.db import transaction

    from disclosures.chain import chain_append

    auditor = make_user("auditor-words", role=roles.AUDITOR)
    with transaction.atomic():
        chain_append(
            actor=auditor,
            actor_label="auditor-words",
            outcome=DisclosureLogEntry.Outcome.REFUSED,
            recipient_label="County Sheriff",
            basis_kind="legal_process",
            basis_ref="legal_basis:2 legal_process subpoena 2026-CV-118",
            purpose="legal_audit",
            member_ids=[],
            categories=["A1_contact"],
            reason="legal_basis:2 legal_process: expired 2026-01-01",
        )
    client.force_login(auditor)
    html = client.get(reverse("disclosures:audit-log")).content.decode()
    assert "A.1 Contact information" in html and "A1_contact" not in html
    assert "legal basis no. 2" in html and "legal_basis:2" not in html


@pytest.mark.parametrize(
    ("model", "field"),
    [
        (Account, "member"),
        (Account, "premise"),
        (Consent, "member"),
        (MembershipListRequest, "requester"),
    ],
)
def test_pickers_are_autocomplete_not_raw_ids(model, field):
    model_admin = admin.site._registry[model]
    assert field in model_admin.autocomplete_fields
    assert field not in getattr(model_admin, "raw_id_fields", ())


def test_the_member_autocomplete_finds_a_name_for_a_csr(client, make_user):
    factories.MemberFactory(legal_name="Ada Whitfield")
    factories.MemberFactory(legal_name="Someone Else")
    client.force_login(make_user("csr-autocomplete", role=roles.CSR))
    response = client.get(
        reverse("admin:autocomplete"),
        {"term": "whitfield", "app_label": "accounts", "model_name": "account", "field_name": "member"},
    )
    assert response.status_code == 200
    found = [result["text"] for result in response.json()["results"]]
    assert len(found) == 1 and "Ada Whitfield" in found[0]
