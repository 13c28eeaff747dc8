"""Issue 14 item 4, staff side: a member who disputes a declined request by phone, letter or in person has
their statement of disagreement filed for them by Member Services, with the same effects as the member's
own portal form (kept with the record, encrypted; the request disputed; an audit row; a notice to the
member), and only by a role that may."""

from __future__ import annotations

import pytest

from members import roles
from members.models import AuditEvent, DisagreementStatement
from members.notices.models import Notice
from portal.models import CorrectionRequest
from portal.services import correction_request_dispute, correction_request_resolve, correction_request_submit
from tests.factories import AccountFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = CorrectionRequest.Status
WORDS = "My birth year is 1961, not 1916; the clerk swapped the digits."


@pytest.fixture
def alice():
    member = MemberFactory(legal_name="Alice Example", email="alice@example.test", user=UserFactory(username="alice"))
    AccountFactory(member=member)
    return member


@pytest.fixture
def declined(alice, make_user):
    request = correction_request_submit(actor=alice.user, member=alice, topic="date_of_birth", requested_correction="x")
    correction_request_resolve(
        actor=make_user("csr-answer", role=roles.CSR), request=request, status="declined", note="Records agree."
    )
    return request


def _url(request) -> str:
    return f"/admin/portal/correctionrequest/{request.pk}/statement/"


def _post(client, request, **overrides):
    data = {"channel": "phone", "statement": WORDS, "confirmed": "on", **overrides}
    return client.post(_url(request), data)


def test_member_services_files_the_statement_a_member_gave_by_phone(client, alice, declined, make_user):
    csr = make_user("csr", role=roles.CSR)
    client.force_login(csr)
    change = client.get(f"/admin/portal/correctionrequest/{declined.pk}/change/").content.decode()
    assert _url(declined) in change  # the declined request's page links to the screen
    page = client.get(_url(declined))
    assert page.status_code == 200 and "How the member gave it" in page.content.decode()
    response = _post(client, declined)
    assert response.status_code == 302
    declined.refresh_from_db()
    statement = DisagreementStatement.objects.get(member=alice)
    assert declined.status == Status.DISPUTED and declined.statement == statement
    assert statement.statement == WORDS and statement.filed_by == csr and "given by phone" in statement.about
    audit = AuditEvent.objects.get(action="member.correction_disputed", object_id=str(declined.pk))
    assert audit.actor_id == csr.pk and audit.detail["on_behalf"] is True and audit.detail["channel"] == "phone"
    assert AuditEvent.objects.filter(action="member.disagreement_filed", object_id=str(alice.pk)).exists()
    assert WORDS not in str(audit.detail)  # the words are encrypted with the record, never in the audit row
    notice = Notice.objects.filter(member=alice).latest("pk")
    assert "you gave us by phone" in notice.body and WORDS not in notice.body


def test_the_member_sees_the_statement_on_their_own_request_page(client, alice, declined, make_user):
    client.force_login(make_user("csr", role=roles.CSR))
    _post(client, declined, channel="letter")
    client.force_login(alice.user)
    page = client.get(f"/portal/requests/{declined.pk}/").content.decode()
    assert "1961" in page


def test_the_form_needs_the_channel_the_words_and_the_confirmation(client, declined, make_user):
    client.force_login(make_user("csr", role=roles.CSR))
    for missing in ({"channel": ""}, {"statement": " "}, {"confirmed": ""}):
        response = _post(client, declined, **missing)
        assert response.status_code == 200, missing
    declined.refresh_from_db()
    assert declined.status == Status.DECLINED and not DisagreementStatement.objects.exists()


def test_only_a_declined_request_takes_a_statement(client, alice, make_user):
    open_request = correction_request_submit(
        actor=alice.user, member=alice, topic="date_of_birth", requested_correction="x"
    )
    client.force_login(make_user("csr", role=roles.CSR))
    assert client.get(_url(open_request)).status_code == 302
    assert _post(client, open_request).status_code == 302
    open_request.refresh_from_db()
    assert open_request.status == Status.RECEIVED and not DisagreementStatement.objects.exists()


def test_a_second_statement_on_a_disputed_request_is_refused(client, declined, make_user):
    client.force_login(make_user("csr", role=roles.CSR))
    _post(client, declined)
    assert _post(client, declined, statement="Another one").status_code == 302
    assert DisagreementStatement.objects.count() == 1


@pytest.mark.parametrize("role", [roles.BILLING, roles.AUDITOR, roles.RED_FLAG_ANALYST, roles.PROGRAM_ADMINISTRATOR])
def test_a_role_without_the_permission_is_refused(client, declined, make_user, role):
    client.force_login(make_user("someone", role=role))
    assert client.get(_url(declined)).status_code == 403
    assert _post(client, declined).status_code == 403
    declined.refresh_from_db()
    assert declined.status == Status.DECLINED and not DisagreementStatement.objects.exists()


def test_the_privacy_officer_may_file_one(client, declined, make_user):
    client.force_login(make_user("po", role=roles.PRIVACY_OFFICER))
    assert _post(client, declined, channel="in_person").status_code == 302
    declined.refresh_from_db()
    assert declined.status == Status.DISPUTED


def test_anonymous_and_members_are_sent_to_sign_in(client, alice, declined, make_user):
    assert _post(client, declined)["Location"].startswith("/admin/login/")
    client.force_login(alice.user)  # the member themself: their way is the portal form, not the admin
    assert _post(client, declined)["Location"].startswith("/admin/login/")
    other = MemberFactory(user=UserFactory(username="bob"))
    client.force_login(other.user)
    assert _post(client, declined)["Location"].startswith("/admin/login/")
    declined.refresh_from_db()
    assert declined.status == Status.DECLINED and not DisagreementStatement.objects.exists()


def test_the_service_refuses_staff_without_the_permission_and_another_member(declined, make_user):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        correction_request_dispute(
            actor=make_user("billing", role=roles.BILLING), request=declined, statement=WORDS, channel="phone"
        )
    with pytest.raises(PermissionDenied):
        correction_request_dispute(actor=UserFactory(username="mallory"), request=declined, statement=WORDS)
    declined.refresh_from_db()
    assert declined.status == Status.DECLINED
