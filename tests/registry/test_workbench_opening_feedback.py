"""Issue 15.3: an account opening that the Red Flags program held tells the clerk so, with the reasons
and the next step, instead of "added successfully"."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from accounts.models import Account
from members import roles
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_held_opening_shows_a_banner_with_reasons_and_the_next_step(client, make_user):
    csr = make_user("csr-opening", role=roles.CSR)
    member = factories.MemberFactory()
    premise = factories.PremiseFactory()
    client.force_login(csr)

    # No identity document recorded: the program holds the opening.
    response = client.post(
        reverse("admin:accounts_account_add"), {"member": member.pk, "premise": premise.pk}, follow=True
    )

    account = Account.objects.get(member=member)
    assert account.on_hold and account.status == Account.Status.PENDING
    html = response.content.decode()
    said = " ".join(str(message) for message in get_messages(response.wsgi_request))
    assert "added successfully" not in html and "added successfully" not in said
    assert f"Account {account.account_number} was created but NOT opened" in html
    assert "It scored" in html and "Why:" in html
    assert "Next step" in html and "release the hold" in html
    assert 'id="opening-held"' in html  # the banner on the account's page stays while it is held
    assert "#" not in account.status_reason  # no internal assessment number in the reason


def test_a_clean_opening_still_says_it_was_added(client, make_user):
    csr = make_user("csr-clean", role=roles.CSR)
    member = factories.MemberFactory()
    client.force_login(csr)
    response = client.post(
        reverse("admin:accounts_account_add"),
        {
            "member": member.pk,
            "premise": factories.PremiseFactory().pk,
            "identity_document_reviewed": "on",
            "documents_seen": ["drivers_licence"],
        },
        follow=True,
    )
    account = Account.objects.get(member=member)
    assert account.status == Account.Status.OPEN and not account.red_flag_warning
    assert "added successfully" in response.content.decode()
    assert 'id="opening-held"' not in response.content.decode()
