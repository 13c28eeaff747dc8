"""Issue 14 item 6: nothing a member sees names another member. A membership-list release names its
requester in the disclosure log (the auditor needs to know who asked); the members on the list see "a
fellow member's request for the membership list". And no code shows through: categories, bases and
purposes are words."""

from __future__ import annotations

import re

import pytest
from django.utils.html import escape

from disclosures import services
from members import roles
from portal.labels import FELLOW_MEMBER_LIST_REQUEST
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def _visible_text(html: str) -> str:
    """What the member reads: the page without its tags (form values are codes the browser sends back)."""
    return re.sub(r"<[^>]+>", " ", html)


@pytest.fixture
def listed_member():
    return MemberFactory(legal_name="Alice Example", user=UserFactory(username="alice-listed"))


@pytest.fixture
def requester():
    return MemberFactory(legal_name="Rita Requester", member_number="D00000777")


def test_a_membership_list_release_does_not_name_the_member_who_asked(client, make_user, listed_member, requester):
    csr, privacy_officer = make_user("csr-1", role=roles.CSR), make_user("privacy-1", role=roles.PRIVACY_OFFICER)
    request = services.membership_list_request_create(actor=csr, requester=requester, purpose="Board election petition")
    services.membership_list_request_decide(actor=privacy_officer, request=request, approve=True, note="proper purpose")
    export = services.membership_list_export(actor=privacy_officer, request=request)
    export.read_all()
    assert requester.member_number in export.entry.recipient_label  # the log keeps who asked ...

    client.force_login(listed_member.user)
    body = _visible_text(client.get("/portal/privacy/").content.decode())
    assert escape(FELLOW_MEMBER_LIST_REQUEST) in body  # ... the member sees only that a fellow member asked
    for leak in (requester.member_number, requester.legal_name, "membership_list", "A1_contact", "consent #"):
        assert leak not in body, leak
    assert "Contact information" in body


def test_consents_show_words_not_codes(client, listed_member, make_user):
    from disclosures.models import Recipient
    from disclosures.services import recipient_create

    partner = recipient_create(
        actor=make_user("po", role=roles.PRIVACY_OFFICER), name="HomeWarm Offers", kind=Recipient.Kind.NON_AFFILIATED
    )
    client.force_login(listed_member.user)
    client.post("/portal/privacy/", {"recipient": partner.pk, "categories": ["A3_usage"], "purpose": "energy_services"})
    body = _visible_text(client.get("/portal/privacy/").content.decode())
    assert "Electric usage and service history" in body and "Energy services / programs offered by others" in body
    table = body[body.index("My consents") : body.index("Allow sharing")]
    assert "A3_usage" not in table and "energy_services" not in table and "Secondary:" not in table
