"""Issue 15.1: the member's page shows the member at a glance (accounts with status and balance, recent
bills and payments, usage, open Red Flags, consents and releases, correction requests) and the change
history from the audit trail; a role that may not reveal is told why and what to do instead."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts import services as account_services
from members import roles, services
from members.models import Member
from tests import factories

pytestmark = pytest.mark.django_db


def _page(member: Member) -> str:
    return reverse("admin:members_member_change", args=[member.pk])


@pytest.fixture
def member_with_history(make_user):
    clerk = make_user("clerk-carla", role=roles.CSR, first_name="Carla", last_name="Clerk")
    member = factories.MemberFactory(legal_name="Ada Whitfield")
    account = factories.OpenAccountFactory(member=member, account_number="A0099001")
    factories.BillFactory(account=account, amount_due=Decimal("112.40"), statement_number="S-1")
    factories.BillFactory(account=account, amount_due=Decimal("90.00"), statement_number="S-2")
    factories.PaymentFactory(account=account, amount=Decimal("112.40"))
    services.member_change_address(
        actor=clerk, member=member, line1="12 Oak Street", city="Springfield", state="IL", postal_code="62704"
    )
    return member, account, clerk


def test_the_member_page_shows_accounts_balance_bills_payments_and_changes(
    client, make_user, member_with_history, django_assert_max_num_queries
):
    member, account, clerk = member_with_history
    csr = make_user("csr-at-a-glance", role=roles.CSR)
    client.force_login(csr)

    with django_assert_max_num_queries(45):
        response = client.get(_page(member))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="member-at-a-glance"' in html
    assert "A0099001" in html and "Open" in html
    assert "$90.00" in html  # balance due: 112.40 + 90.00 billed, 112.40 paid
    assert "Recent bills and payments" in html and "Payment" in html and "Check" in html
    # The change history from the audit trail: who, what, which fields; never the new value.
    assert "Mailing address changed" in html
    assert "Carla Clerk" in html
    assert "Mailing address line 1" in html or "mailing line1" in html.lower()


def test_history_shows_the_audit_trail_instead_of_no_change_history(client, make_user, member_with_history):
    member, _account, _clerk = member_with_history
    csr = make_user("csr-history", role=roles.CSR)
    client.force_login(csr)

    response = client.get(reverse("admin:members_member_history", args=[member.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "doesn\u2019t have a change history" not in html and "doesn't have a change history" not in html
    assert "Mailing address changed" in html and "Carla Clerk" in html
    assert "12 Oak Street" not in html  # field names only, never values


def test_history_is_refused_to_a_role_without_the_registry_and_to_anonymous(client, make_user, member_with_history):
    member, _account, _clerk = member_with_history
    url = reverse("admin:members_member_history", args=[member.pk])
    assert client.get(url).status_code == 302
    client.force_login(make_user("no-role", is_staff=True))
    assert client.get(url).status_code == 302
    client.force_login(make_user("pa-history", role=roles.PROGRAM_ADMINISTRATOR))
    # The Program Administrator may view members (CIS sign-off) but not their change history beyond that:
    # the page follows the member's view permission.
    assert client.get(url).status_code in (200, 403)


def test_a_csr_sees_why_there_is_no_reveal_link_and_an_analyst_gets_one(client, make_user, member_with_history):
    member, _account, _clerk = member_with_history
    client.force_login(make_user("csr-reveal", role=roles.CSR))
    html = client.get(_page(member)).content.decode()
    assert 'id="reveal-not-allowed"' in html
    assert "may not reveal full identifiers" in html
    assert roles.RED_FLAG_ANALYST in html and roles.PRIVACY_OFFICER in html
    assert "Reveal…" not in html

    client.force_login(make_user("analyst-reveal", role=roles.RED_FLAG_ANALYST))
    html = client.get(_page(member)).content.decode()
    assert "Reveal…" in html
    assert 'id="reveal-not-allowed"' not in html


def test_a_held_opening_shows_as_an_open_red_flag_on_the_member_page(client, make_user):
    clerk = make_user("csr-opener", role=roles.CSR)
    member = factories.MemberFactory()
    account = account_services.account_open(actor=clerk, member=member, premise=factories.PremiseFactory())
    assert account.on_hold  # no identity verification recorded: the program holds the opening

    client.force_login(make_user("csr-viewer", role=roles.CSR))
    html = client.get(_page(member)).content.decode()
    assert "Open Red Flags" in html
    assert "opening held" in html
    assert "held for identity verification" in html
    assert "Ask a Red Flag Analyst." in html  # a CSR sees that a flag exists, not the rules behind it

    client.force_login(make_user("analyst-viewer", role=roles.RED_FLAG_ANALYST))
    html = client.get(_page(member)).content.decode()
    assert ">Respond</a>" in html
    assert "Ask a Red Flag Analyst." not in html  # the analyst sees the rules that fired


def test_consents_and_corrections_appear_by_role(client, make_user):
    from disclosures.models import Consent
    from portal.models import CorrectionRequest

    member = factories.MemberFactory()
    recipient = factories_recipient()
    Consent.objects.create(
        member=member, recipient=recipient, categories=["A1_contact"], purpose="marketing", channel="written"
    )
    CorrectionRequest.objects.create(
        member=member, topic="billing", requested_correction="the May bill", submitted_by=make_user("m-login")
    )
    client.force_login(make_user("csr-consents", role=roles.CSR))
    html = client.get(_page(member)).content.decode()
    assert "Consents" in html and recipient.name in html
    assert "A.1 Contact information" in html and "A1_contact" not in html
    assert "Correction requests" in html and "Bills, payments or payment history" in html
    assert "the May bill" not in html  # the requested value stays on the request's own page
    assert "Releases of the member" not in html  # a CSR may not read the disclosure log


def factories_recipient():
    from disclosures.models import Recipient

    return Recipient.objects.create(name="Prairie Solar Co-op Partners", kind="non_affiliated")
