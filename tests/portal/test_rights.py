"""A member's rights in the portal (issue 14 items 3-4; seed 000 B.2 and G, seed 001 timely access):
a full copy of their data, correction requests and complaints tracked to an answer, the statement of
disagreement kept with the record, and membership-list requests."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time

import pytest
from django.utils import timezone

from disclosures.models import DisclosureLogEntry, MembershipListRequest
from disclosures.services import DisclosureRefused, member_copy_export
from members import roles
from members import services as member_services
from members.models import AuditEvent, DisagreementStatement
from members.notices.models import Notice
from portal.models import CorrectionRequest
from portal.services import (
    correction_request_dispute,
    correction_request_resolve,
    correction_request_review_start,
    correction_request_submit,
)
from tests.factories import (
    AccountFactory,
    BillFactory,
    CapitalCreditAllocationFactory,
    FinancialAccountFactory,
    MemberFactory,
    PaymentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

Status = CorrectionRequest.Status


@pytest.fixture
def alice():
    member = MemberFactory(legal_name="Alice Example", email="alice@example.test", user=UserFactory(username="alice"))
    account = AccountFactory(member=member)
    BillFactory(account=account)
    PaymentFactory(account=account)
    CapitalCreditAllocationFactory(member=member, year=2024)
    FinancialAccountFactory(member=member)
    return member


@pytest.fixture
def bob():
    member = MemberFactory(legal_name="Bob Outsider", email="bob@example.test", user=UserFactory(username="bob"))
    AccountFactory(member=member)
    return member


def _age_session(client, minutes: int) -> None:
    session = client.session
    for record in session["account_authentication_methods"]:
        record["at"] = time.time() - minutes * 60
    session.save()


# --- A full copy of my data ----------------------------------------------------------------------------


def test_a_member_downloads_a_full_copy_that_is_logged_as_a_release_to_them(client, alice):
    client.force_login(alice.user)
    assert client.get("/portal/my-information/").status_code == 200
    response = client.post("/portal/my-information/", {"format": "json"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith('attachment; filename="my-information-')
    assert response["Cache-Control"] == "no-store"
    document = json.loads(response.content)
    sections = document["sections"]
    assert set(sections) >= {
        "identity", "bank_accounts", "accounts", "bills", "payments", "usage", "capital_credits",
        "consents", "releases", "requests", "online_access", "record_views",
    }  # fmt: skip
    identity = {row["field"]: row["value"] for row in sections["identity"]["records"]}
    full_ssn_shown = identity["SSN"] == alice.ssn and identity["Date of birth"] == "1970-06-01"
    assert full_ssn_shown, "the member sees their own identifiers in full"
    bank = sections["bank_accounts"]["records"][0]
    assert bank["account_number"] == alice.financial_accounts.get().account_number
    assert sections["bills"]["records"][0]["statement"] == alice.accounts.get().bills.get().statement_number
    assert sections["capital_credits"]["records"][0]["year"] == 2024

    entry = DisclosureLogEntry.objects.get(basis_kind="member_copy")
    assert entry.outcome == DisclosureLogEntry.Outcome.RELEASED and entry.member_ids == [alice.pk]
    assert entry.recipient is None and entry.format == "json" and entry.actor == alice.user
    assert entry.file_sha256 == hashlib.sha256(response.content).hexdigest()
    reveal = AuditEvent.objects.get(action="access.member_copy", object_id=str(alice.pk))
    assert "ssn" in reveal.fields and reveal.detail["disclosure_seq"] == entry.seq
    notice = Notice.objects.get(member=alice, kind="data_copy_downloaded")
    assert "downloaded" in notice.body and alice.ssn not in notice.body


def test_the_copy_as_a_pdf_is_a_real_document_and_is_logged_too(client, alice):
    client.force_login(alice.user)
    response = client.post("/portal/my-information/", {"format": "pdf"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF") and len(response.content) > 2000
    entry = DisclosureLogEntry.objects.get(basis_kind="member_copy")
    assert entry.format == "pdf" and entry.file_sha256 == hashlib.sha256(response.content).hexdigest()


def test_the_copy_needs_a_fresh_password_check(client, alice, settings):
    client.force_login(alice.user)
    _age_session(client, settings.STEP_UP_MINUTES + 1)
    assert client.get("/portal/my-information/").status_code == 200  # reading what it holds needs none
    response = client.post("/portal/my-information/", {"format": "json"})
    assert response.status_code == 302 and response["Location"].startswith("/auth/reauthenticate/")
    assert not DisclosureLogEntry.objects.exists()
    assert not AuditEvent.objects.filter(action="access.member_copy").exists()


def test_anonymous_visitors_get_no_copy(client, alice):
    for method in ("get", "post"):
        response = getattr(client, method)("/portal/my-information/", {"format": "json"})
        assert response.status_code == 302 and "/auth/login/" in response["Location"]
    assert not DisclosureLogEntry.objects.exists()


def test_staff_without_a_member_record_get_no_copy(client, make_user, alice):
    client.force_login(make_user("csr", role=roles.CSR))
    assert client.post("/portal/my-information/", {"format": "json"}).status_code == 404
    assert not DisclosureLogEntry.objects.exists()


def test_another_member_downloads_only_their_own_copy(client, alice, bob):
    client.force_login(bob.user)
    document = json.loads(client.post("/portal/my-information/", {"format": "json"}).content)
    text = json.dumps(document)
    assert "Alice Example" not in text and alice.member_number not in text
    assert DisclosureLogEntry.objects.get().member_ids == [bob.pk]


def test_the_gate_refuses_a_copy_to_anyone_but_the_members_own_login_and_logs_it(alice, bob, make_user):
    for outsider in (bob.user, make_user("privacy", role=roles.PRIVACY_OFFICER), None):
        with pytest.raises(DisclosureRefused):
            member_copy_export(actor=outsider, member=alice, format="json")
    refusals = DisclosureLogEntry.objects.filter(outcome=DisclosureLogEntry.Outcome.REFUSED, basis_kind="member_copy")
    assert refusals.count() == 3 and all(entry.member_ids == [alice.pk] for entry in refusals)
    assert not DisclosureLogEntry.objects.filter(outcome=DisclosureLogEntry.Outcome.RELEASED).exists()


def test_an_unknown_format_is_refused_with_a_clear_message(client, alice):
    client.force_login(alice.user)
    response = client.post("/portal/my-information/", {"format": "xlsx"}, follow=True)
    assert "Choose a PDF document or a JSON data file." in response.content.decode()
    assert not DisclosureLogEntry.objects.exists()


def test_who_viewed_my_record_names_staff_by_role_never_by_name(client, alice, make_user):
    csr = make_user("carla.csr", role=roles.CSR)
    client.force_login(csr)
    assert client.get(f"/admin/members/member/{alice.pk}/change/").status_code == 200
    client.force_login(alice.user)
    document = json.loads(client.post("/portal/my-information/", {"format": "json"}).content)
    views = document["sections"]["record_views"]["records"]
    assert {"who": roles.CSR, "what": "opened your record"}.items() <= views[0].items()
    assert "carla" not in json.dumps(document)


def test_a_membership_list_release_reads_as_a_fellow_members_request(alice, make_user):
    from disclosures.services import (
        membership_list_export,
        membership_list_request_create,
        membership_list_request_decide,
    )

    requester = MemberFactory(user=UserFactory(username="req"))
    request = membership_list_request_create(actor=requester.user, requester=requester, purpose="board election")
    privacy = make_user("po", role=roles.PRIVACY_OFFICER)
    request = membership_list_request_decide(actor=privacy, request=request, approve=True, note="election petition")
    membership_list_export(actor=privacy, request=request).read_all()
    export = member_copy_export(actor=alice.user, member=alice, format="json")
    releases = json.loads(export.read_all())["sections"]["releases"]["records"]
    listed = [row for row in releases if "membership list" in row["recipient"]]
    assert listed and listed[0]["recipient"] == "a fellow member's request for the membership list"
    assert requester.member_number not in json.dumps(releases)


# --- Corrections and complaints -------------------------------------------------------------------------


def test_a_request_is_due_after_the_configured_days_and_the_member_is_told_it_arrived(alice, settings):
    settings.CORRECTION_DUE_DAYS = 10
    request = correction_request_submit(
        actor=alice.user, member=alice, topic="date_of_birth", requested_correction="June 2, 1970"
    )
    assert request.status == Status.RECEIVED
    assert request.due_on == timezone.localdate() + dt.timedelta(days=10)
    notice = Notice.objects.get(member=alice, kind="request_update")
    assert "received your request" in notice.body


def test_a_correction_names_the_registry_change_that_settled_it(client, alice, make_user):
    csr = make_user("csr", role=roles.CSR)
    request = correction_request_submit(
        actor=alice.user, member=alice, topic="legal_name", requested_correction="Alice B"
    )
    correction_request_review_start(actor=csr, request=request)
    with pytest.raises(Exception, match="Choose the change"):
        correction_request_resolve(actor=csr, request=request, status=Status.CORRECTED, note="Fixed.")
    member_services.member_change_name(actor=csr, member=alice, legal_name="Alice B")
    change = AuditEvent.objects.get(action="member.name_changed", object_id=str(alice.pk))
    request = correction_request_resolve(
        actor=csr, request=request, status=Status.CORRECTED, note="Fixed.", settled_by=change
    )
    assert request.status == Status.CORRECTED and request.settled_by == change
    resolved = AuditEvent.objects.get(action="member.correction_resolved")
    assert resolved.detail["settled_by_seq"] == change.seq
    assert set(Notice.objects.filter(member=alice).values_list("kind", flat=True)) >= {
        "request_update", "correction_resolved",
    }  # fmt: skip
    client.force_login(alice.user)
    page = client.get(f"/portal/requests/{request.pk}/").content.decode()
    assert "Legal name changed on" in page and "Corrected" in page


def test_another_members_change_cannot_settle_a_request(alice, bob, make_user):
    csr = make_user("csr", role=roles.CSR)
    request = correction_request_submit(
        actor=alice.user, member=alice, topic="legal_name", requested_correction="Alice B"
    )
    member_services.member_change_name(actor=csr, member=bob, legal_name="Bob B")
    bobs_change = AuditEvent.objects.get(action="member.name_changed", object_id=str(bob.pk))
    with pytest.raises(Exception, match="not a change to this member"):
        correction_request_resolve(
            actor=csr, request=request, status=Status.CORRECTED, note="Fixed.", settled_by=bobs_change
        )
    request.refresh_from_db()
    assert request.status == Status.RECEIVED and request.settled_by is None


def test_a_declined_request_is_disputed_and_the_statement_is_kept_with_the_record(client, alice, make_user):
    csr = make_user("csr", role=roles.CSR)
    request = correction_request_submit(
        actor=alice.user, member=alice, topic="billing", requested_correction="My March bill double-counted"
    )
    correction_request_resolve(actor=csr, request=request, status=Status.DECLINED, note="The meter read is correct.")
    declined = Notice.objects.get(member=alice, kind="correction_resolved")
    assert "The meter read is correct." in declined.body and "statement of your disagreement" in declined.body

    client.force_login(alice.user)
    page = client.get(f"/portal/requests/{request.pk}/").content.decode()
    assert "The meter read is correct." in page and "Do you disagree?" in page
    response = client.post(f"/portal/requests/{request.pk}/", {"statement": "The meter was replaced that month."})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == Status.DISPUTED
    statement = DisagreementStatement.objects.get(member=alice)
    assert request.statement == statement and statement.statement == "The meter was replaced that month."
    assert AuditEvent.objects.filter(action="member.disagreement_filed", object_id=str(alice.pk)).exists()
    assert Notice.objects.filter(member=alice, kind="request_update", body__contains="statement").exists()

    client.force_login(csr)
    member_page = client.get(f"/admin/members/member/{alice.pk}/change/").content.decode()
    assert "The meter was replaced that month." in member_page and "statements of disagreement" in member_page
    request_page = client.get(f"/admin/portal/correctionrequest/{request.pk}/change/").content.decode()
    assert "The meter was replaced that month." in request_page


def test_a_statement_needs_a_declined_request_and_text(client, alice, make_user):
    request = correction_request_submit(actor=alice.user, member=alice, topic="billing", requested_correction="x")
    client.force_login(alice.user)
    client.post(f"/portal/requests/{request.pk}/", {"statement": "I disagree"})
    request.refresh_from_db()
    assert request.status == Status.RECEIVED and not DisagreementStatement.objects.exists()
    correction_request_resolve(actor=make_user("csr", role=roles.CSR), request=request, status="declined", note="No.")
    response = client.post(f"/portal/requests/{request.pk}/", {"statement": "   "})
    assert response.status_code == 200 and not DisagreementStatement.objects.exists()


def test_another_member_cannot_see_or_dispute_my_request(client, alice, bob, make_user):
    request = correction_request_submit(actor=alice.user, member=alice, topic="billing", requested_correction="x")
    correction_request_resolve(actor=make_user("csr", role=roles.CSR), request=request, status="declined", note="No.")
    client.force_login(bob.user)
    assert client.get(f"/portal/requests/{request.pk}/").status_code == 404
    assert client.post(f"/portal/requests/{request.pk}/", {"statement": "mine now"}).status_code == 404
    with pytest.raises(Exception, match="Only the member"):
        correction_request_dispute(actor=bob.user, request=request, statement="mine now")
    assert not DisagreementStatement.objects.exists()
    assert "Bills, payments" not in client.get("/portal/requests/").content.decode()


def test_requests_pages_are_for_signed_in_members_only(client, alice, make_user):
    request = correction_request_submit(actor=alice.user, member=alice, topic="billing", requested_correction="x")
    urls = ["/portal/requests/", "/portal/requests/new/", f"/portal/requests/{request.pk}/", "/portal/membership-list/"]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and "/auth/login/" in response["Location"], url
    client.force_login(make_user("csr", role=roles.CSR))
    for url in urls:
        assert client.get(url).status_code == 404, url


def test_a_member_makes_a_complaint_resolved_without_a_registry_change(client, alice, make_user):
    client.force_login(alice.user)
    response = client.post(
        "/portal/requests/new/",
        {"kind": "complaint", "topic": "privacy", "requested_correction": "I got a marketing call", "explanation": ""},
    )
    request = CorrectionRequest.objects.get(member=alice)
    assert response.status_code == 302 and response["Location"] == f"/portal/requests/{request.pk}/"
    assert request.kind == CorrectionRequest.Kind.COMPLAINT and request.status == Status.RECEIVED
    correction_request_resolve(
        actor=make_user("csr", role=roles.CSR),
        request=request,
        status=Status.CORRECTED,
        note="We removed your number from the vendor's list.",
    )
    request.refresh_from_db()
    assert request.status == Status.CORRECTED and request.settled_by is None
    assert "resolved your complaint" in Notice.objects.get(member=alice, kind="correction_resolved").body


def test_a_bad_request_changes_nothing(client, alice):
    client.force_login(alice.user)
    response = client.post("/portal/requests/new/", {"kind": "complaint", "topic": "nope", "requested_correction": ""})
    assert response.status_code == 200 and not CorrectionRequest.objects.exists()
    assert not Notice.objects.exists()


class TestStaffSeeAgeing:
    def _aged(self, alice, days_ago: int) -> CorrectionRequest:
        request = correction_request_submit(actor=alice.user, member=alice, topic="billing", requested_correction="x")
        # Submitted at local noon ``days_ago`` calendar days ago: the age is counted in the co-op's calendar
        # days, and ``now - 40 x 24 h`` is 39 of them when a daylight-saving change lies between and the
        # local time is within an hour of midnight (this test failed at 23:25 CST on 30 November).
        submitted_on = timezone.localdate() - dt.timedelta(days=days_ago)
        CorrectionRequest.objects.filter(pk=request.pk).update(
            submitted_at=timezone.make_aware(dt.datetime.combine(submitted_on, dt.time(12))),
            due_on=timezone.localdate() - dt.timedelta(days=days_ago - 30),
        )
        return request

    def test_the_list_shows_age_and_filters_the_overdue(self, client, alice, make_user):
        late, fresh = self._aged(alice, 40), self._aged(alice, 2)
        client.force_login(make_user("csr", role=roles.CSR))
        page = client.get("/admin/portal/correctionrequest/").content.decode()
        assert "40 d, overdue by 10 d" in page and "2 d, 28 d left" in page
        overdue = client.get("/admin/portal/correctionrequest/?due=overdue").content.decode()
        assert f"/admin/portal/correctionrequest/{late.pk}/change/" in overdue
        assert f"/admin/portal/correctionrequest/{fresh.pk}/change/" not in overdue

    def test_staff_take_a_request_into_review_and_decline_it_in_the_admin(self, client, alice, make_user):
        request = self._aged(alice, 2)
        client.force_login(make_user("csr", role=roles.CSR))
        url = f"/admin/portal/correctionrequest/{request.pk}/change/"
        assert client.post(url, {"step": "in_review", "resolution_note": ""}).status_code == 302
        request.refresh_from_db()
        assert request.status == Status.IN_REVIEW
        response = client.post(url, {"step": "corrected", "resolution_note": "Fixed"})
        assert response.status_code == 200 and "Choose the change" in response.content.decode()
        assert client.post(url, {"step": "declined", "resolution_note": "Bill is right."}).status_code == 302
        request.refresh_from_db()
        assert request.status == Status.DECLINED and request.resolution_note == "Bill is right."

    def test_a_red_flag_analyst_sees_no_requests(self, client, alice, make_user):
        self._aged(alice, 2)
        client.force_login(make_user("rfa", role=roles.RED_FLAG_ANALYST))
        assert client.get("/admin/portal/correctionrequest/").status_code == 403


# --- Membership list (seed 000 G) -------------------------------------------------------------------------


def test_a_member_asks_for_the_membership_list_in_the_portal(client, alice):
    client.force_login(alice.user)
    response = client.post("/portal/membership-list/", {"purpose": "Petition for the board election"})
    assert response.status_code == 302
    request = MembershipListRequest.objects.get(requester=alice)
    assert request.status == MembershipListRequest.Status.PENDING and request.recorded_by == alice.user
    page = client.get("/portal/membership-list/").content.decode()
    assert "Pending Privacy Officer review" in page and "Petition for the board election" in page


def test_a_membership_list_request_needs_a_purpose_and_an_active_member(client, alice):
    client.force_login(alice.user)
    assert client.post("/portal/membership-list/", {"purpose": " "}).status_code == 200
    alice.status = "former"
    alice.save(update_fields=["status"])
    response = client.post("/portal/membership-list/", {"purpose": "Election"})
    assert response.status_code == 200 and "Only an active member" in response.content.decode()
    assert not MembershipListRequest.objects.exists()


def test_another_members_list_requests_are_not_shown(client, alice, bob):
    client.force_login(alice.user)
    client.post("/portal/membership-list/", {"purpose": "Alice's petition"})
    client.force_login(bob.user)
    assert "Alice&#x27;s petition" not in client.get("/portal/membership-list/").content.decode()


def test_no_identifier_ever_lands_in_a_notice_of_these_steps(alice, make_user):
    csr = make_user("csr", role=roles.CSR)
    request = correction_request_submit(actor=alice.user, member=alice, topic="identifiers", requested_correction="x")
    correction_request_resolve(actor=csr, request=request, status="declined", note="The licence on file is right.")
    correction_request_dispute(actor=alice.user, request=request, statement="It is not.")
    member_copy_export(actor=alice.user, member=alice, format="json").read_all()
    bodies = " ".join(Notice.objects.filter(member=alice).values_list("body", flat=True))
    clean = alice.ssn not in bodies and alice.drivers_licence_number not in bodies
    assert clean, "a notice carried an identifier"


def test_after_the_password_check_the_parked_download_runs(client, alice, settings):
    from tests.conftest import PASSWORD

    client.force_login(alice.user)
    _age_session(client, settings.STEP_UP_MINUTES + 1)
    challenge = client.post("/portal/my-information/", {"format": "json"})
    resumed = client.post(challenge["Location"], {"password": PASSWORD})
    assert resumed.status_code == 200 and resumed["Content-Type"] == "application/json"
    assert json.loads(resumed.content)["meta"]["member_number"] == alice.member_number
    assert DisclosureLogEntry.objects.get(basis_kind="member_copy").member_ids == [alice.pk]


class TestTheApprovedListReachesTheMemberWhoAsked:
    @pytest.fixture
    def approved(self, alice, make_user):
        from disclosures.services import membership_list_request_create, membership_list_request_decide

        request = membership_list_request_create(actor=alice.user, requester=alice, purpose="board election")
        privacy = make_user("po", role=roles.PRIVACY_OFFICER)
        return membership_list_request_decide(actor=privacy, request=request, approve=True, note="election")

    def test_the_requester_downloads_it_once_and_it_is_logged(self, client, alice, bob, approved):
        client.force_login(alice.user)
        assert "Download the list (once)" in client.get("/portal/membership-list/").content.decode()
        response = client.post(f"/portal/membership-list/{approved.pk}/download/")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        body = b"".join(response.streaming_content).decode()
        assert body.startswith("legal_name,mailing_line1") and "Bob Outsider" in body
        assert bob.ssn not in body and bob.email not in body
        entry = DisclosureLogEntry.objects.get(basis_kind="membership_list", outcome="released")
        assert bob.pk in entry.member_ids
        approved.refresh_from_db()
        assert approved.status == MembershipListRequest.Status.RELEASED
        again = client.post(f"/portal/membership-list/{approved.pk}/download/", follow=True)
        assert "not available" in again.content.decode()

    def test_another_member_cannot_download_it(self, client, bob, approved):
        client.force_login(bob.user)
        assert client.post(f"/portal/membership-list/{approved.pk}/download/").status_code == 404
        assert not DisclosureLogEntry.objects.filter(basis_kind="membership_list").exists()

    def test_a_pending_request_gives_no_list(self, client, alice):
        client.force_login(alice.user)
        client.post("/portal/membership-list/", {"purpose": "Election"})
        pending = MembershipListRequest.objects.get(requester=alice)
        response = client.post(f"/portal/membership-list/{pending.pk}/download/", follow=True)
        assert "not available" in response.content.decode()
        assert not DisclosureLogEntry.objects.filter(outcome="released").exists()

    def test_the_download_needs_a_fresh_password_check(self, client, alice, approved, settings):
        client.force_login(alice.user)
        _age_session(client, settings.STEP_UP_MINUTES + 1)
        response = client.post(f"/portal/membership-list/{approved.pk}/download/")
        assert response.status_code == 302 and response["Location"].startswith("/auth/reauthenticate/")
        assert not DisclosureLogEntry.objects.filter(outcome="released").exists()
