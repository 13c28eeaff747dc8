"""Issue 15.3: feedback that tells the truth in the Red Flags admin. The response list starts blank,
irreversible responses ask for confirmation and a reason, every decision says what it did, and an
invalid threshold shows its error alone (never beside "changed successfully")."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages

from accounts import services as account_services
from accounts.models import Account
from members.models import AuditEvent
from redflags.models import ProgramSettings, Response, ReviewItem
from tests.factories import VERIFIED_CHECKLIST, MemberFactory, OpenAccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(csr):
    first = MemberFactory()
    account = account_services.account_open(
        actor=csr, member=MemberFactory(ssn=first.ssn), checklist=VERIFIED_CHECKLIST
    )
    return ReviewItem.objects.get(account=account)


@pytest.fixture
def warned(analyst):
    from redflags import services

    account = OpenAccountFactory()
    services.identity_theft_notice_record(
        reporter="customer", summary="says someone used her name", actor=analyst, account=account
    )
    return ReviewItem.objects.get(account=account)


def _respond_url(item) -> str:
    return f"/admin/redflags/reviewitem/{item.pk}/respond/"


def test_the_response_list_starts_blank_and_a_blank_choice_is_refused(client, analyst, held):
    client.force_login(analyst)
    html = client.get(_respond_url(held)).content.decode()
    assert '<option value="" selected>— choose a response —</option>' in html
    assert 'value="monitor" selected' not in html

    response = client.post(_respond_url(held), {"notes": "looked at it"})
    assert response.status_code == 200 and "This field is required" in response.content.decode()
    assert not Response.objects.exists()


def test_do_not_open_asks_for_confirmation_and_then_says_what_happened(client, analyst, held):
    client.force_login(analyst)
    body = {"kind": "do_not_open", "notes": "the applicant could not show identification"}

    first = client.post(_respond_url(held), body)
    assert first.status_code == 200
    assert "This cannot be undone" in first.content.decode()
    assert not Response.objects.exists()
    assert Account.objects.get(pk=held.account_id).status == Account.Status.PENDING

    done = client.post(_respond_url(held), {**body, "confirmed": "yes"})
    assert done.status_code == 302
    account = Account.objects.get(pk=held.account_id)
    assert account.status == Account.Status.DENIED
    said = [str(message) for message in get_messages(done.wsgi_request)]
    assert any(f"Account {account.account_number} is now denied" in text and "resolved" in text for text in said)


def test_closing_an_account_needs_a_reason(client, analyst, warned):
    client.force_login(analyst)
    response = client.post(_respond_url(warned), {"kind": "close_account", "notes": "  ", "confirmed": "yes"})
    assert response.status_code == 200
    assert "Say why the account is closed." in response.content.decode()
    assert Account.objects.get(pk=warned.account_id).status == Account.Status.OPEN
    assert not Response.objects.exists()


def test_the_service_refuses_a_close_without_a_reason(analyst, warned):
    from django.core.exceptions import ValidationError

    from redflags import services

    with pytest.raises(ValidationError, match="reason"):
        services.review_respond(item=warned, actor=analyst, kind="close_account", notes="")
    assert Account.objects.get(pk=warned.account_id).status == Account.Status.OPEN


def test_an_invalid_threshold_shows_only_its_error(client, program_admin):
    url = "/admin/redflags/programsettings/1/change/"
    client.force_login(program_admin)
    before = ProgramSettings.objects.values().get(pk=1)
    response = client.post(
        url,
        {
            "program_version": "2008.1",
            "warn_threshold": 90,
            "hold_threshold": 60,
            "caller_failures_to_flag": 3,
            "reason": "trying",
        },
        follow=True,
    )
    html = response.content.decode()
    assert "at most the hold threshold" in html
    assert "changed successfully" not in html and "saved" not in html.lower().split("errornote")[0][-200:]
    assert ProgramSettings.objects.values().get(pk=1) == before
    assert not AuditEvent.objects.filter(action="redflags.settings_changed").exists()


def test_a_threshold_change_needs_a_reason_and_says_what_it_set(client, program_admin):
    url = "/admin/redflags/programsettings/1/change/"
    client.force_login(program_admin)
    form = {"program_version": "2008.1", "warn_threshold": 45, "hold_threshold": 80, "caller_failures_to_flag": 3}
    refused = client.post(url, form)
    assert refused.status_code == 200 and ProgramSettings.objects.get(pk=1).warn_threshold == 40

    done = client.post(url, {**form, "reason": "board decision 2026-11"}, follow=True)
    html = done.content.decode()
    assert "warning from a score of 45, hold from 80" in html
    assert "changed successfully" not in html
    event = AuditEvent.objects.get(action="redflags.settings_changed")
    assert event.reason == "board decision 2026-11"


def test_resolving_a_case_starts_blank_asks_for_confirmation_and_says_what_happened(client, csr, analyst):
    from redflags import services
    from redflags.cases.models import Case

    member = OpenAccountFactory().member
    services.cra_alert_record(member=member, kind="fraud_alert", agency="Equifax", actor=csr)
    case = Case.objects.get(member=member)
    item = ReviewItem.objects.get(member=member)
    services.review_respond(item=item, actor=analyst, kind="no_response", justification="bureau error")
    url = f"/admin/redflags_cases/case/{case.pk}/work/"
    client.force_login(analyst)

    html = client.get(url).content.decode()
    assert '<option value="" selected>— choose the finding —</option>' in html

    unconfirmed = client.post(url, {"form": "resolve", "label": "false_positive", "resolution": "bureau error"})
    assert unconfirmed.status_code == 200
    assert "resolving cannot be undone" in unconfirmed.content.decode()
    assert Case.objects.get(pk=case.pk).status != Case.Status.RESOLVED

    done = client.post(
        url, {"form": "resolve", "label": "false_positive", "resolution": "bureau error", "confirm": "on"}, follow=True
    )
    assert Case.objects.get(pk=case.pk).status == Case.Status.RESOLVED
    assert "Case resolved: False positive" in done.content.decode()
