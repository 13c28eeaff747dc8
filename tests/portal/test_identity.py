"""Step-up, the account-takeover story, self-enrollment and the notices members get from the portal."""

from __future__ import annotations

import re
import time
from decimal import Decimal

import pytest
from django.core import mail

from members.models import AuditEvent
from members.notices.models import Notice
from portal.models import CorrectionRequest, Enrollment
from portal.services import correction_request_resolve
from redflags.models import RiskAssessment
from tests.conftest import PASSWORD
from tests.factories import AccountFactory, BillFactory, MemberFactory, OpenAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    member = MemberFactory(legal_name="Alice Example", email="alice@example.test", user=UserFactory(username="alice"))
    AccountFactory(member=member)
    return member


def _age_session(client, minutes: int) -> None:
    """The session's last password/MFA check was ``minutes`` ago (a cookie stolen later, say)."""
    session = client.session
    for record in session["account_authentication_methods"]:
        record["at"] = time.time() - minutes * 60
    session.save()


def _contact(member, **changes) -> dict:
    data = {
        "mailing_line1": member.mailing_line1,
        "mailing_line2": member.mailing_line2,
        "mailing_city": member.mailing_city,
        "mailing_state": member.mailing_state,
        "mailing_postal_code": member.mailing_postal_code,
        "phone": member.phone,
        "email": member.email,
    }
    return {**data, **changes}


def test_a_stale_session_must_step_up_before_changing_contact_details(client, alice, settings):
    client.force_login(alice.user)
    _age_session(client, settings.STEP_UP_MINUTES + 1)
    assert client.get("/portal/contact/").status_code == 200  # looking needs no step-up
    response = client.post("/portal/contact/", _contact(alice, email="mallory@example.test"))
    assert response.status_code == 302 and response["Location"].startswith("/auth/reauthenticate/")
    alice.refresh_from_db()
    assert alice.email == "alice@example.test" and not Notice.objects.exists()


@pytest.mark.parametrize("url", ["/portal/privacy/", "/portal/privacy/consents/1/revoke/"])
def test_consent_changes_need_a_step_up_too(client, alice, settings, url):
    client.force_login(alice.user)
    _age_session(client, settings.STEP_UP_MINUTES + 1)
    response = client.post(url, {})
    assert response.status_code == 302 and response["Location"].startswith("/auth/reauthenticate/")


def test_mfa_settings_need_a_step_up(client, alice, settings):
    client.force_login(alice.user)
    _age_session(client, settings.STEP_UP_MINUTES + 1)
    response = client.get("/auth/2fa/totp/activate/")
    assert response.status_code == 302 and response["Location"].startswith("/auth/reauthenticate/")


def test_the_account_takeover_story_is_challenged_told_and_scored(
    client, alice, settings, django_capture_on_commit_callbacks
):
    """A portal session changes the mailing address and then the e-mail to an attacker's (issue 13)."""
    old_address_line = alice.mailing_line1
    client.force_login(alice.user)
    _age_session(client, 60)
    # 1. The stolen session alone is challenged; nothing changes.
    first = client.post("/portal/contact/", _contact(alice, mailing_line1="1 Attacker Way"))
    assert first["Location"].startswith("/auth/reauthenticate/")
    alice.refresh_from_db()
    assert alice.mailing_line1 == old_address_line
    # 2. Someone who also has the password passes the check; the parked change then runs ...
    with django_capture_on_commit_callbacks(execute=True):
        resumed = client.post(first["Location"], {"password": PASSWORD})
    assert resumed.status_code == 302
    alice.refresh_from_db()
    assert alice.mailing_line1 == "1 Attacker Way"
    # ... and the e-mail next.
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/portal/contact/", _contact(alice, email="mallory@example.test"))
    alice.refresh_from_db()
    assert alice.email == "mallory@example.test"
    # 3. The real member hears of both at the old e-mail, and by letter at the old address.
    to_old_email = [m for m in mail.outbox if m.to == ["alice@example.test"]]
    assert len(to_old_email) == 2 and all("If you did not make this change" in m.body for m in to_old_email)
    letters = Notice.objects.filter(member=alice, channel="letter", kind="contact_changed")
    assert any(old_address_line in letter.to_address for letter in letters)
    # 4. The Red Flags program scored both changes.
    scored = set(RiskAssessment.objects.filter(member=alice).values_list("event_name", flat=True))
    assert {"member.address_changed", "member.email_changed"} <= scored


# --- Self-enrollment ---------------------------------------------------------------------------------


@pytest.fixture
def carol():
    member = MemberFactory(legal_name="Carol Enroll", email="carol-on-file@example.test", ssn="123451234")
    account = OpenAccountFactory(member=member)
    BillFactory(account=account, amount_due=Decimal("84.17"))
    return member, account


def _enroll(client, account, **proofs):
    data = {
        "account_number": account.account_number,
        "username": "carol-online",
        "email": "carol-new@example.test",
        "password": "a-long-new-password-91",
        **proofs,
    }
    return client.post("/portal/enroll/", data)


def test_a_member_enrolls_with_two_proofs_verifies_the_email_and_signs_in(
    client, carol, django_capture_on_commit_callbacks
):
    member, account = carol
    with django_capture_on_commit_callbacks(execute=True):
        response = _enroll(client, account, ssn_last4="1234", last_bill_amount="$84.17")
    assert response.status_code == 200 and b"Check your e-mail" in response.content
    enrollment = Enrollment.objects.get(member=member)
    assert sorted(enrollment.proofs) == ["last_bill_amount", "ssn_last4"] and not enrollment.user.is_active
    # Told at the e-mail and the mailing address on file, and scored as a Red Flags event.
    notices = Notice.objects.filter(member=member, kind="online_access_enrolled")
    assert {(n.channel, n.to_email) for n in notices} == {("email", "carol-on-file@example.test"), ("letter", "")}
    assert RiskAssessment.objects.filter(member=member, event_name="member.online_access_enrolled").exists()
    # Cannot sign in before verifying.
    client.post("/auth/login/", {"login": "carol-online", "password": "a-long-new-password-91"})
    assert "_auth_user_id" not in client.session
    verification = next(m for m in mail.outbox if m.to == ["carol-new@example.test"])
    link = re.search(r"https?://[^/\s]+(/auth/confirm-email/[^\s]+/)", verification.body).group(1)
    client.post(link)
    client.post("/auth/login/", {"login": "carol-online", "password": "a-long-new-password-91"})
    assert client.get("/portal/").status_code == 200
    nothing_typed = [str(event.detail) for event in AuditEvent.objects.all()]
    assert not any("1234" in detail or "84.17" in detail for detail in nothing_typed)


def test_one_proof_is_not_enough_and_the_answer_does_not_say_which_part_was_wrong(client, carol):
    member, account = carol
    wrong = _enroll(client, account, ssn_last4="1234").content.decode()
    unknown = client.post(
        "/portal/enroll/",
        {
            "account_number": "NO-SUCH",
            "ssn_last4": "1234",
            "service_zip": "62701",
            "username": "x",
            "email": "x@example.test",
            "password": "a-long-new-password-91",
        },
    ).content.decode()
    assert "could not match those details" in wrong and "could not match those details" in unknown
    assert not Enrollment.objects.exists()
    assert AuditEvent.objects.filter(action="member.online_access_refused").count() == 2


def test_enrollment_is_rate_limited_per_account(client, carol, settings):
    member, account = carol
    for _ in range(5):
        _enroll(client, account, ssn_last4="0000", last_bill_amount="1.00")
    body = _enroll(client, account, ssn_last4="1234", last_bill_amount="84.17").content.decode()
    assert "Too many attempts" in body and not Enrollment.objects.exists()


def test_an_already_enrolled_member_cannot_be_enrolled_again(client, alice):
    account = alice.accounts.get()
    account.status = "open"
    account.save(update_fields=["status"])
    BillFactory(account=account, amount_due=Decimal("10.00"))
    response = _enroll(client, account, service_zip=account.premise.service_postal_code, last_bill_amount="10.00")
    assert "could not match those details" in response.content.decode()


def test_a_signed_in_member_is_sent_home_from_enrollment(client, alice):
    client.force_login(alice.user)
    assert client.get("/portal/enroll/")["Location"] == "/portal/"


# --- Notices from the portal's own records ------------------------------------------------------------


def test_the_member_is_told_the_outcome_of_a_correction_request(alice, make_user, django_capture_on_commit_callbacks):
    from members import roles

    request = CorrectionRequest.objects.create(
        member=alice, topic="legal_name", requested_correction="Alice Q. Example", submitted_by=alice.user
    )
    csr = make_user("csr-c", role=roles.CSR)
    from members import services as member_services

    member_services.member_change_name(actor=csr, member=alice, legal_name="Alice Q. Example")
    change = AuditEvent.objects.filter(action="member.name_changed").latest("seq")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        correction_request_resolve(
            actor=csr, request=request, status="corrected", note="Updated the name.", settled_by=change
        )
    (message,) = mail.outbox
    assert message.to == ["alice@example.test"] and "Updated the name." in message.body


def test_members_choose_optional_alerts_in_the_portal(client, alice):
    client.force_login(alice.user)
    page = client.get("/portal/alerts/").content.decode()
    assert "New sign-in to your account" in page and "Contact information changed" in page
    client.post("/portal/alerts/", {"alert_consent_changed": "on"})
    from members.notices.models import AlertPreference

    assert AlertPreference.objects.get(member=alice, kind="new_sign_in").enabled is False
    assert AlertPreference.objects.get(member=alice, kind="consent_changed").enabled is True


def test_the_alerts_page_is_for_signed_in_members(client):
    assert "/auth/login/" in client.get("/portal/alerts/")["Location"]


def test_a_member_who_just_signed_in_changes_contact_details_without_a_second_prompt(client, alice):
    client.post("/auth/login/", {"login": "alice", "password": PASSWORD})
    response = client.post("/portal/contact/", _contact(alice, phone="+12175550142"))
    assert response.status_code == 302 and response["Location"] == "/portal/"
    alice.refresh_from_db()
    assert alice.phone == "+12175550142"


def test_an_open_red_flag_warning_stops_online_enrollment_without_saying_why(client, carol, make_user):
    """Cases' binding warnings (members.guards, action portal_enrollment) reach self-enrollment: the member
    is asked to call, nothing is created, and nothing about the review is shown."""
    from members import roles
    from members.models import User
    from redflags import services as redflag_services

    csr = make_user("csr-casey", role=roles.CSR)
    member, account = carol
    redflag_services.cra_alert_record(member=member, account=account, kind="fraud_alert", agency="Equifax", actor=csr)
    body = _enroll(client, account, ssn_last4="1234", last_bill_amount="$84.17").content.decode()
    assert "cannot be made online at the moment; please call member services" in body
    assert "Red Flag" not in body and "fraud" not in body.lower()
    assert not Enrollment.objects.exists()
    member.refresh_from_db()
    assert member.user_id is None
    assert not User.objects.filter(username="carol-online").exists()
