"""The staff member list (admin changelist): constant queries, masked rows, a sensible count, the
same markup as Django's own rendering, search and filters, access control and the access audit.

Failure messages name member ids, never identifier values.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members import admin_changelist, registry_admin, roles
from members.admin_changelist import MemberPaginator
from members.models import AuditEvent, Member
from members.selectors import member_count_estimate, member_list
from tests import factories

pytestmark = pytest.mark.django_db

MEMBERS = reverse("admin:members_member_changelist")


def _queries(client, url=MEMBERS, **params) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params)
    assert response.status_code == 200
    return len(captured.captured_queries), response


def _html(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())


def _leaks(html: str, members) -> list[int]:
    """Ids of members whose full SSN/TIN, date of birth or licence number appears in ``html``."""
    leaked = []
    for member in Member.objects.filter(pk__in=[m.pk for m in members]):
        values = [
            member.ssn,
            member.tin,
            member.drivers_licence_number,
            member.date_of_birth.isoformat() if member.date_of_birth else None,
            member.date_of_birth.strftime("%m/%d/%Y") if member.date_of_birth else None,
        ]
        if any(value and value in html for value in values):
            leaked.append(member.pk)
    return leaked


def test_the_list_costs_the_same_queries_for_5_and_50_members(client, csr):
    factories.MemberFactory.create_batch(4)
    factories.BusinessMemberFactory(ssn=None, tin="991234567", tax_id_index="", ssn_last4="4567")
    client.force_login(csr)
    client.get(MEMBERS)  # the first request after login may touch the session

    few, response = _queries(client)
    assert len(response.context["cl"].result_list) == 5
    factories.MemberFactory.create_batch(40)
    factories.BusinessMemberFactory.create_batch(5)
    many, response = _queries(client)
    assert len(response.context["cl"].result_list) == 50

    assert few == many
    # session, user, role check (twice), two permission loads, the table estimate, the count (exact for a
    # small table), the page, the audit row (its chain head, then the row) in its (save)point pair
    assert many <= 13


def test_rows_are_masked_and_no_full_identifier_reaches_the_page(client, csr):
    person = factories.MemberFactory()
    business = factories.BusinessMemberFactory(ssn=None, tin="991234567", tax_id_index="", ssn_last4="4567")
    unknown = factories.MemberFactory(ssn=None, tax_id_index="", ssn_last4="")
    client.force_login(csr)

    response = client.get(MEMBERS)
    html = response.content.decode()
    assert f"***-**-{person.ssn_last4}" in html
    assert "**-***4567" in html
    assert _leaks(html, [person, business, unknown]) == []
    row = re.search(rf'<th class="field-member_number"><a href="[^"]*">{unknown.member_number}</a></th>.*?</tr>', html)
    assert row is not None
    assert '<td class="field-masked_tax_id">-</td>' in row.group(0)  # nothing on file: the empty-value dash


def test_the_page_records_which_members_it_showed(client, csr):
    shown = factories.MemberFactory.create_batch(3)
    client.force_login(csr)
    client.get(MEMBERS, {"q": shown[1].member_number})
    event = AuditEvent.objects.get(action="access.list_members", actor=csr)
    assert event.detail["member_ids"] == [shown[1].pk]
    assert event.detail["searched"] is True


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"status__exact": "active", "o": "-3.2"},
        {"kind__exact": "business"},
        {"q": "test"},
        {"p": "2"},
    ],
)
def test_the_rows_are_the_markup_django_renders(client, csr, monkeypatch, params):
    factories.MemberFactory.create_batch(3)
    factories.MemberFactory(legal_name="O'Brien & <Sons>", name_search="O'BRIEN & <SONS>", email="", email_index="")
    factories.BusinessMemberFactory(
        ssn=None, tin="991234567", tax_id_index="", ssn_last4="4567", mailing_city="", address_index=""
    )
    factories.MemberFactory(status=Member.Status.FORMER, ssn=None, tax_id_index="", ssn_last4="")
    monkeypatch.setattr(registry_admin.MemberAdmin, "list_per_page", 4)
    client.force_login(csr)

    fast = client.get(MEMBERS, params)
    assert fast.context["member_result_list"] is not None
    monkeypatch.setattr(registry_admin, "result_list_context", lambda changelist: None)
    django_rendered = client.get(MEMBERS, params)

    assert fast.status_code == django_rendered.status_code == 200
    assert _html(fast) == _html(django_rendered)
    assert 'class="action-select"' in _html(fast) or not fast.context["cl"].result_list


def test_change_links_keep_the_filters(client, csr):
    member = factories.MemberFactory(status=Member.Status.FORMER)
    client.force_login(csr)
    html = client.get(MEMBERS, {"status__exact": "former"}).content.decode()
    change = reverse("admin:members_member_change", args=[member.pk])
    assert f'href="{change}?_changelist_filters=status__exact%3Dformer"' in html


def test_a_popup_falls_back_to_djangos_own_rendering(client, csr):
    member = factories.MemberFactory()
    client.force_login(csr)
    response = client.get(MEMBERS, {"_popup": "1"})
    assert response.status_code == 200
    assert response.context["member_result_list"] is None
    html = response.content.decode()
    assert f'data-popup-opener="{member.pk}"' in html
    assert _leaks(html, [member]) == []


def test_a_small_registry_is_counted_exactly(client, csr):
    factories.MemberFactory.create_batch(3)
    client.force_login(csr)
    response = client.get(MEMBERS)
    changelist = response.context["cl"]
    assert changelist.result_count == 3
    assert not changelist.paginator.count_is_estimate
    assert re.search(r"\n3 members\n", response.content.decode())


def test_a_large_registry_shows_an_estimate_but_filters_and_searches_count_exactly(client, csr, monkeypatch):
    members = factories.MemberFactory.create_batch(3)
    factories.MemberFactory(status=Member.Status.FORMER)
    monkeypatch.setattr(admin_changelist, "member_count_estimate", lambda: 250_000)
    client.force_login(csr)

    html = client.get(MEMBERS).content.decode()
    assert "about 250000 members" in html
    assert "All about 250000 selected" in html
    assert "Select all (about 250000) members" in html
    assert ">2500</a>" in html  # the last page link

    filtered = client.get(MEMBERS, {"status__exact": "former"})
    assert filtered.context["cl"].result_count == 1
    assert not filtered.context["cl"].paginator.count_is_estimate
    searched = client.get(MEMBERS, {"q": members[0].member_number})
    assert searched.context["cl"].result_count == 1
    assert "about" not in searched.content.decode().split('class="paginator"')[1]


def test_the_paginator_estimates_only_the_whole_large_table(monkeypatch):
    factories.MemberFactory.create_batch(3)
    estimate = {"value": 250_000}
    monkeypatch.setattr(admin_changelist, "member_count_estimate", lambda: estimate["value"])

    whole = MemberPaginator(member_list().order_by("member_number"), 100)
    assert (whole.count, whole.count_is_estimate) == (250_000, True)
    assert whole.validate_number(2_600) == 2_600  # past an estimate's last page: an empty page, not an error
    filtered = MemberPaginator(member_list().filter(status=Member.Status.ACTIVE), 100)
    assert (filtered.count, filtered.count_is_estimate) == (3, False)

    estimate["value"] = 19_999  # under the threshold: counting is cheap, so count
    assert MemberPaginator(member_list(), 100).count == 3
    estimate["value"] = None  # the database has no statistics yet
    assert MemberPaginator(member_list(), 100).count == 3


def test_the_estimate_comes_from_the_database_statistics():
    estimate = member_count_estimate()
    assert estimate is None or (isinstance(estimate, int) and estimate >= 0)


@pytest.mark.parametrize("typed", [str.lower, str.upper, lambda number: f"  {number.lower()} "])
def test_search_by_member_number_ignores_case_and_uses_the_unique_index(client, csr, typed):
    wanted, _other = factories.MemberFactory(), factories.MemberFactory()
    client.force_login(csr)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(MEMBERS, {"q": typed(wanted.member_number)})
    assert [m.pk for m in response.context["cl"].result_list] == [wanted.pk]
    searches = [q["sql"] for q in captured.captured_queries if 'FROM "members_member"' in q["sql"]]
    assert searches and not any('UPPER("members_member"."member_number"' in sql for sql in searches)


def test_search_by_name_prefix_still_works(client, csr):
    wanted = factories.MemberFactory(legal_name="Harriet Quimby", name_search="HARRIET QUIMBY")
    factories.MemberFactory()
    client.force_login(csr)
    response = client.get(MEMBERS, {"q": "harriet qu"})
    assert [m.pk for m in response.context["cl"].result_list] == [wanted.pk]


def test_filters_by_status_and_kind(client, csr):
    active = factories.MemberFactory()
    former = factories.MemberFactory(status=Member.Status.FORMER)
    business = factories.BusinessMemberFactory()
    client.force_login(csr)
    assert [m.pk for m in client.get(MEMBERS, {"status__exact": "former"}).context["cl"].result_list] == [former.pk]
    by_kind = client.get(MEMBERS, {"kind__exact": "person"}).context["cl"].result_list
    assert sorted(m.pk for m in by_kind) == sorted([active.pk, former.pk])
    assert business.pk not in [m.pk for m in by_kind]


def test_anonymous_is_sent_to_the_login_page(client):
    response = client.get(MEMBERS)
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_a_role_without_the_view_permission_is_refused(client, make_user):
    user = make_user("programadmin-pia", role=roles.PROGRAM_ADMINISTRATOR)
    client.force_login(user)
    assert client.get(MEMBERS).status_code == 200
    view_member = Permission.objects.get(content_type__app_label="members", codename="view_member")
    Group.objects.get(name=roles.PROGRAM_ADMINISTRATOR).permissions.remove(view_member)
    client.force_login(make_user("programadmin-pat", role=roles.PROGRAM_ADMINISTRATOR))
    assert client.get(MEMBERS).status_code == 403


def test_a_read_only_role_gets_no_export_and_no_status_actions(client, make_user):
    factories.MemberFactory()
    client.force_login(make_user("auditor-avery", role=roles.AUDITOR))
    action_form = client.get(MEMBERS).context["action_form"]
    choices = [name for name, _label in action_form.fields["action"].choices] if action_form else []
    assert "export_masked_csv" not in choices  # member data leaves only through the disclosure gate
    assert "make_former" not in choices and "make_active" not in choices


def test_the_status_action_goes_through_the_service(client, csr):
    member = factories.MemberFactory()
    client.force_login(csr)
    response = client.post(
        MEMBERS,
        {"action": "make_former", "_selected_action": [member.pk], "confirmed": "yes", "action_reason": "Moved away"},
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status == Member.Status.FORMER
    assert AuditEvent.objects.filter(action="member.status_changed", object_id=str(member.pk), actor=csr).exists()


def test_the_rows_load_only_the_columns_the_list_shows(client, csr):
    factories.MemberFactory.create_batch(3)
    client.force_login(csr)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(MEMBERS)
    assert response.status_code == 200 and len(response.context["cl"].result_list) == 3
    rows = [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith("SELECT") and "ORDER BY" in q["sql"] and 'FROM "members_member"' in q["sql"]
    ]
    assert rows, "the list's own query was not seen"
    for column in ("mailing_line1", "employer_name", "name_search", "phone_index"):
        assert all(f'"members_member"."{column}"' not in sql for sql in rows), column
