from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Account
from members import roles
from members.models import AuditEvent, Member
from tests import factories

pytestmark = pytest.mark.django_db

MEMBERS = reverse("admin:members_member_changelist")


def _login(client, user):
    client.force_login(user)
    return client


def test_the_member_list_is_masked_without_n_plus_one_and_the_view_is_logged(
    client, csr, django_assert_max_num_queries
):
    members = factories.MemberFactory.create_batch(30)
    for member in members[:10]:
        factories.FinancialAccountFactory(member=member)
    _login(client, csr)

    # 13: the audit row of the view costs its chain head (one round trip) beside the row itself
    with django_assert_max_num_queries(13):
        response = client.get(MEMBERS)

    html = response.content.decode()
    assert response.status_code == 200
    assert f"***-**-{members[0].ssn_last4}" in html
    assert members[0].ssn not in html
    event = AuditEvent.objects.get(action="access.list_members", actor=csr)
    assert set(event.detail["member_ids"]) == {m.pk for m in members}


def test_staff_without_a_role_and_anonymous_users_see_no_members(client, outsider):
    assert client.get(MEMBERS).status_code == 302
    _login(client, outsider)
    assert client.get(MEMBERS).status_code == 302


def test_a_role_without_registry_permissions_is_refused(client, make_user):
    privacyless = make_user("programadmin-pat", role=roles.PROGRAM_ADMINISTRATOR)
    _login(client, privacyless)
    assert client.get(reverse("admin:members_financialaccount_changelist")).status_code == 403


@pytest.mark.parametrize(
    "term_of",
    [
        lambda m: m.ssn_last4,
        lambda m: m.phone,
        lambda m: m.email.upper(),
        lambda m: m.member_number,
        lambda m: m.legal_name.lower(),
        lambda m: f"{m.ssn[:3]}-{m.ssn[3:5]}-{m.ssn[5:]}",
        lambda m: f"{m.drivers_licence_state}:{m.drivers_licence_number}",
    ],
)
def test_a_csr_finds_a_member_by_each_searchable_field(client, csr, term_of):
    wanted, _other = factories.MemberFactory(), factories.MemberFactory()
    _login(client, csr)
    # The search box posts its term (an SSN or licence never goes in a URL) and the list follows a token.
    response = client.post(reverse("admin:members_member_search"), {"q": term_of(wanted)}, follow=True)
    assert [m.pk for m in response.context["cl"].result_list] == [wanted.pk]


def test_billing_may_not_search_by_full_ssn(client, billing_clerk):
    member = factories.MemberFactory()
    _login(client, billing_clerk)
    response = client.post(reverse("admin:members_member_search"), {"q": member.ssn}, follow=True)
    assert list(response.context["cl"].result_list) == []


def test_opening_a_member_record_is_logged_and_shows_masked_values_only(client, csr):
    member = factories.MemberFactory()
    _login(client, csr)
    response = client.get(reverse("admin:members_member_change", args=[member.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert member.ssn not in html and member.drivers_licence_number not in html
    assert f"***-**-{member.ssn_last4}" in html
    assert AuditEvent.objects.filter(action="access.view_member", object_id=str(member.pk), actor=csr).exists()


def test_an_analyst_reveals_with_a_reason_and_a_csr_cannot(client, csr, analyst):
    member = factories.MemberFactory()
    url = reverse("admin:members_member_reveal", args=[member.pk])
    _login(client, csr)
    client.post(url, {"field_name": "ssn", "reason": "Caller could not verify"})
    assert not AuditEvent.objects.filter(action="access.reveal").exists()

    _login(client, analyst)
    response = client.post(url, {"field_name": "ssn", "reason": "Identity verification for held opening"})
    assert response.status_code == 302
    page = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert member.ssn in page
    assert AuditEvent.objects.filter(action="access.reveal", actor=analyst, object_id=str(member.pk)).exists()


def test_adding_a_member_in_the_admin_goes_through_the_service_and_bad_input_saves_nothing(client, csr):
    _login(client, csr)
    form = {
        "kind": "person",
        "legal_name": "Robin Hale",
        "mailing_line1": "9 Elm St",
        "mailing_line2": "",
        "mailing_city": "Decatur",
        "mailing_state": "IL",
        "mailing_postal_code": "62521",
        "phone": "217-555-0111",
        "email": "robin@example.test",
        "drivers_licence_state": "",
        "employer_name": "",
        "ssn": "900-12-3456",
        "tin": "",
        "date_of_birth": "1975-05-05",
        "drivers_licence_number": "",
        "passport_number": "",
        "alien_registration_number": "",
    }
    response = client.post(reverse("admin:members_member_add"), form)
    assert response.status_code == 200
    assert "ssn" in response.context["adminform"].form.errors
    assert not Member.objects.exists()

    form["ssn"] = "123-45-6789"
    response = client.post(reverse("admin:members_member_add"), form)
    assert response.status_code == 302
    member = Member.objects.get()
    assert member.ssn_last4 == "6789"
    assert AuditEvent.objects.filter(action="member.created", actor=csr).exists()


def test_the_account_list_has_no_n_plus_one_and_close_calls_the_service(client, csr, django_assert_max_num_queries):
    accounts = factories.OpenAccountFactory.create_batch(20)
    _login(client, csr)
    with django_assert_max_num_queries(10):
        assert client.get(reverse("admin:accounts_account_changelist")).status_code == 200
    body = {"action": "close_accounts", "_selected_action": [accounts[0].pk]}
    asked = client.post(reverse("admin:accounts_account_changelist"), body)
    assert asked.status_code == 200 and b"This cannot be undone" in asked.content  # issue 15.3: confirm first
    assert Account.objects.get(pk=accounts[0].pk).status == "open"
    no_reason = client.post(reverse("admin:accounts_account_changelist"), {**body, "confirmed": "yes"})
    assert b"Give the reason" in no_reason.content and Account.objects.get(pk=accounts[0].pk).status == "open"
    client.post(
        reverse("admin:accounts_account_changelist"),
        {**body, "confirmed": "yes", "action_reason": "member moved away, final bill paid"},
    )
    assert Account.objects.get(pk=accounts[0].pk).status == "closed"
    assert AuditEvent.objects.filter(action="account.closed", object_id=str(accounts[0].pk)).exists()


@pytest.mark.parametrize(
    "name",
    [
        "accounts_bill",
        "accounts_payment",
        "accounts_premise",
        "accounts_meter",
        "accounts_returnedmail",
        "accounts_statementnotice",
        "accounts_authorizedparty",
        "members_financialaccount",
        "members_capitalcreditallocation",
    ],
)
def test_other_list_pages_have_no_n_plus_one(client, billing_clerk, django_assert_max_num_queries, name):
    for _ in range(15):
        account = factories.OpenAccountFactory()
        factories.MeterFactory(premise=account.premise)
        factories.PaymentFactory(account=account)
        factories.BillFactory(account=account)
        factories.ReturnedMailFactory(member=account.member, account=account)
        factories.StatementNoticeFactory(member=account.member, account=account)
        factories.AuthorizedPartyFactory(account=account)
        factories.FinancialAccountFactory(member=account.member)
        factories.CapitalCreditAllocationFactory(member=account.member)
    _login(client, billing_clerk)
    with django_assert_max_num_queries(10):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 200


def test_gate_codes_are_shown_to_field_services_only(client, csr, field_worker):
    premise = factories.PremiseFactory(gate_code="4417#", meter_reading_notes="Dog in the yard", dog_warning=True)
    _login(client, csr)
    html = client.get(reverse("admin:accounts_premise_change", args=[premise.pk])).content.decode()
    assert "4417#" not in html and "Dog in the yard" not in html
    assert field_worker.has_perm("accounts.view_field_notes")
    assert not csr.has_perm("accounts.view_field_notes")


def test_the_member_admin_has_no_csv_download_beside_the_disclosure_gate(client, csr):
    """Issue 11 item 4: "Export selected as CSV (masked)" was a second path out of the co-op (and wrote names
    starting with = + - @ as live formulas); it is gone, and posting its name downloads nothing."""
    members = factories.MemberFactory.create_batch(2, legal_name='=HYPERLINK("http://evil.test","x")')
    _login(client, csr)
    choices = [name for name, _label in client.get(MEMBERS).context["action_form"].fields["action"].choices]
    assert "export_masked_csv" not in choices
    response = client.post(MEMBERS, {"action": "export_masked_csv", "_selected_action": [m.pk for m in members]})
    assert "text/csv" not in response.get("Content-Type", "")
    assert not AuditEvent.objects.filter(detail__channel="admin-csv").exists()


def test_the_access_log_of_a_member_includes_the_lists_that_showed_them(client, csr):
    from members.selectors import access_log

    shown, other = factories.MemberFactory(), factories.MemberFactory()
    _login(client, csr)
    client.get(MEMBERS, {"q": shown.member_number})
    client.get(reverse("admin:members_member_change", args=[shown.pk]))
    assert sorted(access_log(member=shown).values_list("action", flat=True)) == [
        "access.list_members",
        "access.view_member",
    ]
    assert list(access_log(member=other)) == []
