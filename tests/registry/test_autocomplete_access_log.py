"""Issue 15 (follow-up): a staff picker's member lookup shows members to staff exactly as the search does,
so it leaves the same access-log row (``access.list_members``, channel ``admin_autocomplete``): who looked,
the ids shown and the term, masked. Lookups refused to a caller leave no row and show nobody."""

from __future__ import annotations

import pytest
from django.urls import reverse

from members import roles
from members.models import AuditEvent
from tests import factories

pytestmark = pytest.mark.django_db

AUTOCOMPLETE = reverse("admin:autocomplete")
MEMBER_PICKER = {"app_label": "accounts", "model_name": "account", "field_name": "member"}


def _lookups():
    return AuditEvent.objects.filter(action="access.list_members", detail__channel="admin_autocomplete")


def test_a_member_lookup_in_a_picker_is_in_the_access_log(client, make_user):
    ada = factories.MemberFactory(legal_name="Ada Whitfield")
    factories.MemberFactory(legal_name="Someone Else")
    csr = make_user("csr-picker", role=roles.CSR)
    client.force_login(csr)
    response = client.get(AUTOCOMPLETE, {"term": "whitfield", **MEMBER_PICKER})
    assert response.status_code == 200
    assert [result["id"] for result in response.json()["results"]] == [str(ada.pk)]
    row = _lookups().get(actor=csr)
    assert row.detail["member_ids"] == [ada.pk]
    assert row.detail["searched"] is True and row.detail["search"] == "whitfield"


def test_a_lookup_by_number_keeps_only_the_last_four_digits_in_the_log(client, make_user):
    factories.MemberFactory(member_number="M0123456", legal_name="Ada Whitfield")
    client.force_login(make_user("csr-picker-number", role=roles.CSR))
    response = client.get(AUTOCOMPLETE, {"term": "0123456", **MEMBER_PICKER})
    assert response.status_code == 200 and len(response.json()["results"]) == 1
    logged = _lookups().get().detail["search"]
    assert "0123456" not in logged and logged.endswith("3456")


def test_a_lookup_of_a_model_that_shows_no_member_writes_no_member_access_row(client, make_user):
    factories.OpenAccountFactory(account_number="A0000777")
    client.force_login(make_user("csr-picker-account", role=roles.CSR))
    response = client.get(
        AUTOCOMPLETE, {"term": "A0000777", "app_label": "accounts", "model_name": "payment", "field_name": "account"}
    )
    assert response.status_code == 200 and len(response.json()["results"]) == 1
    assert not _lookups().exists()


@pytest.mark.parametrize("who", ["anonymous", "member", "staff-without-role"])
def test_a_refused_lookup_shows_nobody_and_logs_nothing(client, make_user, who):
    factories.MemberFactory(legal_name="Ada Whitfield")
    if who == "member":
        client.force_login(make_user("member-picker", is_staff=False))
    elif who == "staff-without-role":
        client.force_login(make_user("staff-picker", is_staff=True))
    response = client.get(AUTOCOMPLETE, {"term": "whitfield", **MEMBER_PICKER})
    assert response.status_code in (302, 403)
    assert b"Whitfield" not in response.content
    assert not _lookups().exists()
