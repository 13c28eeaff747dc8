"""Staff pages, the admin queue and the API: what each role may do, and denials for everyone else."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Account
from members.models import AuditEvent
from redflags import events, services
from redflags.models import (
    CallerVerificationAttempt,
    ConsumerReportAlert,
    KnownFraudEntry,
    ReviewItem,
    RiskAssessment,
    Rule,
    RuleVersion,
)
from tests.factories import VERIFIED_CHECKLIST, MemberFactory, OpenAccountFactory

pytestmark = pytest.mark.django_db

CALLER = "/redflags/caller-verification/"
REPORT = "/redflags/annual-review/"
REPORT_CSV = "/redflags/annual-review.csv"
REPORT_PDF = "/redflags/annual-review.pdf"
CRA_API = "/api/redflags/cra-alerts/"
NOTICE_API = "/api/redflags/identity-theft-notices/"


# --- caller verification ---------------------------------------------------------------------


@pytest.fixture
def caller_member():
    return MemberFactory(
        ssn="123454321", date_of_birth=datetime.date(1961, 3, 14), mailing_line1="12 Birch Lane", phone="+12175550142"
    )


def _stated(member, **overrides):
    data = {
        "member_number": member.member_number,
        "ssn_last4": "4321",
        "date_of_birth": "1961-03-14",
        "address_line1": "12 birch ln",
        "address_city": "Springfield",
        "address_state": "IL",
        "address_postal_code": "62701",
        "phone": "(217) 555-0142",
    }
    data.update(overrides)
    return data


def test_caller_verification_answers_match_per_item_and_never_shows_stored_values(client, csr, caller_member):
    client.force_login(csr)
    response = client.post(CALLER, _stated(caller_member, date_of_birth="1961-03-15"))
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count(">match<") == 3 and body.count(">no match<") == 1
    for stored in ("123454321", "1961-03-14", "Birch", "555-0142", "5550142"):
        assert stored not in body
    attempt = CallerVerificationAttempt.objects.get()
    assert (
        attempt.results == {"ssn_last4": True, "date_of_birth": False, "address": True, "phone": True}
        and not attempt.passed
    )
    event = AuditEvent.objects.get(action="redflags.caller_verification")
    assert event.actor == csr and event.detail["results"]["date_of_birth"] == "no match"
    assert response["Cache-Control"] == "no-store"


def test_caller_verification_form_is_not_refilled_with_what_was_typed(client, csr, caller_member):
    client.force_login(csr)
    body = client.post(CALLER, _stated(caller_member, ssn_last4="9876")).content.decode()
    assert "9876" not in body


def test_repeated_failed_caller_verifications_raise_b8(client, csr, caller_member):
    client.force_login(csr)
    for _ in range(3):
        client.post(CALLER, _stated(caller_member, ssn_last4="0000"))
    assessment = RiskAssessment.objects.get(event_name=events.CALLER_VERIFICATION_FAILED)
    assert [item["code"] for item in assessment.fired] == ["B8_INCONSISTENT_WITH_FILE"]
    assert "3 failed caller verifications" in assessment.evidence_text
    assert ReviewItem.objects.filter(member=caller_member).exists()


def test_two_failures_or_passing_attempts_raise_nothing(client, csr, caller_member):
    client.force_login(csr)
    client.post(CALLER, _stated(caller_member, ssn_last4="0000"))
    client.post(CALLER, _stated(caller_member, ssn_last4="0000"))
    client.post(CALLER, _stated(caller_member))
    assert not RiskAssessment.objects.filter(event_name=events.CALLER_VERIFICATION_FAILED).exists()


def test_caller_verification_with_nothing_stated_is_refused_and_logs_nothing(client, csr, caller_member):
    client.force_login(csr)
    response = client.post(CALLER, {"member_number": caller_member.member_number})
    assert response.status_code == 200 and b"at least two items" in response.content
    assert not CallerVerificationAttempt.objects.exists()


def test_caller_verification_unknown_member(client, csr):
    client.force_login(csr)
    assert (
        b"No member has this number" in client.post(CALLER, {"member_number": "M9999999", "ssn_last4": "1234"}).content
    )


class TestCallerVerificationDenials:
    def test_anonymous_is_sent_to_login(self, client):
        response = client.get(CALLER)
        assert response.status_code == 302 and "/login/" in response["Location"]

    def test_billing_is_refused(self, client, billing, caller_member):
        client.force_login(billing)
        assert client.get(CALLER).status_code == 403
        assert client.post(CALLER, _stated(caller_member)).status_code == 403
        assert not CallerVerificationAttempt.objects.exists()

    def test_a_member_is_refused(self, client, portal_member):
        client.force_login(portal_member)
        assert client.get(CALLER).status_code == 403


# --- annual review -----------------------------------------------------------------------------


@pytest.fixture
def busy_year(csr, analyst, program_admin):
    first = MemberFactory()
    account = account_services.account_open(
        actor=csr, member=MemberFactory(ssn=first.ssn), checklist=VERIFIED_CHECKLIST
    )
    item = ReviewItem.objects.get(account=account)
    services.review_respond(item=item, actor=analyst, kind="do_not_open", notes="could not verify")
    other = OpenAccountFactory()
    services.identity_theft_notice_record(
        reporter="law_enforcement", summary="detective call", actor=csr, account=other
    )
    other_item = ReviewItem.objects.get(account=other)
    services.review_respond(
        item=other_item,
        actor=analyst,
        kind="notify_law_enforcement",
        agency="Sangamon County Sheriff",
        case_number="SC-0042",
    )
    services.review_respond(item=other_item, actor=analyst, kind="close_account", notes="confirmed")
    services.security_incident_record(
        kind="system_breach", description="phishing", actor=analyst, accounts=[OpenAccountFactory()]
    )
    draft = services.rule_version_draft(
        actor=program_admin,
        rule=Rule.objects.get(code="C4_MAIL_RETURNED_REPEATEDLY"),
        weight=30,
        parameters={"count": 3, "window_days": 90},
    )
    services.rule_version_dry_run(actor=program_admin, version=draft)
    services.rule_version_activate(actor=program_admin, version=draft)
    services.program_change_recommend(
        actor=program_admin, title="Score CRA alerts", recommendation="Add the FTC's fifth category"
    )
    services.annual_review_save(
        actor=program_admin,
        year=timezone.localdate().year,
        recommended_changes="Add CRA alerts to the written program.",
        changes_warranted=True,
    )
    return account


def test_the_annual_review_page_shows_every_section(client, program_admin, busy_year):
    client.force_login(program_admin)
    response = client.get(REPORT)
    assert response.status_code == 200
    body = response.content.decode()
    for text in (
        "B5_SSN_SHARED",
        "D1_IDENTITY_THEFT_NOTICE",
        "C7_SYSTEM_BREACH",
        "Do not open the account",
        "Close the account",
        "Median hours",
        "Openings denied",
        "Sangamon County Sheriff",
        "C4_MAIL_RETURNED_REPEATEDLY",
        "activated",
        "Score CRA alerts",
        "Add CRA alerts to the written program",
        "Training acknowledgements",
    ):
        assert text in body, text


def test_the_annual_review_csv(client, program_admin, busy_year):
    client.force_login(program_admin)
    response = client.get(REPORT_CSV)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert "flags by type,B5_SSN_SHARED SSN the same as another customer's,1" in text
    assert "accounts,closed by the program,1" in text and "accounts,openings denied by the program,1" in text


def test_the_annual_review_pdf(client, program_admin, busy_year):
    client.force_login(program_admin)
    response = client.get(REPORT_PDF)
    assert response.status_code == 200 and response.content.startswith(b"%PDF")


@pytest.mark.parametrize("url", [REPORT, REPORT_CSV, REPORT_PDF])
class TestAnnualReviewDenials:
    def test_anonymous_is_sent_to_login(self, client, url):
        assert client.get(url).status_code == 302

    def test_an_analyst_is_refused(self, client, analyst, url):
        client.force_login(analyst)
        assert client.get(url).status_code == 403

    def test_a_csr_is_refused(self, client, csr, url):
        client.force_login(csr)
        assert client.get(url).status_code == 403

    def test_a_member_is_refused(self, client, portal_member, url):
        client.force_login(portal_member)
        assert client.get(url).status_code == 403


# --- the review queue in the admin -------------------------------------------------------------


@pytest.fixture
def queued(csr):
    first = MemberFactory()
    account = account_services.account_open(
        actor=csr, member=MemberFactory(ssn=first.ssn), checklist=VERIFIED_CHECKLIST
    )
    return ReviewItem.objects.get(account=account)


def test_an_analyst_sees_the_queue_with_rules_and_versions(client, analyst, queued, django_assert_max_num_queries):
    client.force_login(analyst)
    with django_assert_max_num_queries(20):
        response = client.get("/admin/redflags/reviewitem/")
    assert response.status_code == 200
    assert b"B5_SSN_SHARED v1" in response.content
    detail = client.get(f"/admin/redflags/reviewitem/{queued.pk}/change/")
    assert detail.status_code == 200 and b"SSN matches member" in detail.content


def test_an_analyst_releases_a_hold_from_the_admin_with_a_second_approver(client, analyst, queued, staff):
    from members import roles

    client.force_login(analyst)
    url = f"/admin/redflags/reviewitem/{queued.pk}/respond/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"kind": "release_hold", "notes": "verified the licence in person"})
    assert response.status_code == 302
    assert Account.objects.get(pk=queued.account_id).on_hold  # asked, not yet approved
    client.force_login(staff("ana2", roles.RED_FLAG_ANALYST))
    response = client.post(url, {"kind": "release_hold", "notes": "approved: the licence copy is on file"})
    assert response.status_code == 200 and b"This cannot be undone" in response.content  # confirm first
    assert Account.objects.get(pk=queued.account_id).on_hold
    response = client.post(
        url, {"kind": "release_hold", "notes": "approved: the licence copy is on file", "confirmed": "yes"}
    )
    assert response.status_code == 302
    assert Account.objects.get(pk=queued.account_id).status == "open"


def test_the_respond_page_shows_a_refusal_and_changes_nothing(client, analyst, queued):
    client.force_login(analyst)
    response = client.post(
        f"/admin/redflags/reviewitem/{queued.pk}/respond/", {"kind": "no_response", "justification": "fine"}
    )
    assert response.status_code == 200 and b"on hold" in response.content
    assert not queued.responses.exists()


def test_the_opener_cannot_clear_the_hold_from_the_admin(client, queued, staff):
    from django.contrib.auth.models import Group

    from members import roles

    opener = Account.objects.get(pk=queued.account_id).opened_by
    opener.groups.add(Group.objects.get(name=roles.RED_FLAG_ANALYST))
    client.force_login(opener)
    response = client.post(
        f"/admin/redflags/reviewitem/{queued.pk}/respond/", {"kind": "release_hold", "notes": "I know this person"}
    )
    assert b"dual control" in response.content
    assert Account.objects.get(pk=queued.account_id).on_hold


class TestQueueDenials:
    def test_anonymous(self, client, queued):
        assert client.get("/admin/redflags/reviewitem/").status_code == 302
        assert client.post(f"/admin/redflags/reviewitem/{queued.pk}/respond/", {"kind": "track"}).status_code == 302

    def test_a_csr_cannot_open_the_queue_or_respond(self, client, csr, queued):
        client.force_login(csr)
        assert client.get("/admin/redflags/reviewitem/").status_code == 403
        assert client.post(f"/admin/redflags/reviewitem/{queued.pk}/respond/", {"kind": "track"}).status_code == 403
        assert not queued.responses.exists()

    def test_a_member_cannot_reach_the_admin(self, client, portal_member, queued):
        client.force_login(portal_member)
        assert client.get(f"/admin/redflags/reviewitem/{queued.pk}/respond/").status_code == 302

    def test_an_untrained_analyst_is_told_and_cannot_respond(self, client, staff, queued):
        from members import roles

        client.force_login(staff("newhire", roles.RED_FLAG_ANALYST, trained=False))
        page = client.get(f"/admin/redflags/reviewitem/{queued.pk}/respond/")
        assert b"no signed acknowledgement" in page.content
        client.post(f"/admin/redflags/reviewitem/{queued.pk}/respond/", {"kind": "track"})
        assert not queued.responses.exists()


# --- rules and program administration in the admin -------------------------------------------


def test_the_program_administrator_drafts_dry_runs_and_activates_in_the_admin(client, program_admin):
    client.force_login(program_admin)
    rule = Rule.objects.get(code="C5_STATEMENTS_NOT_RECEIVED")
    response = client.post(
        "/admin/redflags/ruleversion/add/",
        {"rule": rule.pk, "weight": 60, "minimum_outcome": "warn", "parameters": "{}", "notes": "stronger"},
    )
    assert response.status_code == 302
    draft = RuleVersion.objects.get(rule=rule, number=2)
    client.post("/admin/redflags/ruleversion/", {"action": "dry_run", "_selected_action": [draft.pk]})
    client.post("/admin/redflags/ruleversion/", {"action": "activate", "_selected_action": [draft.pk]})
    assert rule.active_version.pk == draft.pk
    assert AuditEvent.objects.filter(action="redflags.rule_activated", actor=program_admin).exists()


def test_an_analyst_cannot_draft_rules_in_the_admin(client, analyst):
    client.force_login(analyst)
    rule = Rule.objects.get(code="C5_STATEMENTS_NOT_RECEIVED")
    assert (
        client.post(
            "/admin/redflags/ruleversion/add/",
            {"rule": rule.pk, "weight": 1, "minimum_outcome": "record", "parameters": "{}"},
        ).status_code
        == 403
    )
    assert not RuleVersion.objects.filter(rule=rule, number=2).exists()


def test_the_program_administrator_records_training_in_the_admin(client, program_admin, staff):
    from members import roles

    newhire = staff("newhire2", roles.RED_FLAG_ANALYST, trained=False)
    client.force_login(program_admin)
    response = client.post(
        "/admin/redflags/trainingacknowledgement/add/", {"user": newhire.pk, "program_version": "2008.1"}
    )
    assert response.status_code == 302
    assert services.has_current_training(newhire)


def test_a_csr_records_a_fraud_list_entry_no_but_an_analyst_does_and_it_is_never_shown(client, analyst, csr):
    client.force_login(csr)
    assert client.get("/admin/redflags/knownfraudentry/add/").status_code == 403
    client.force_login(analyst)
    response = client.post(
        "/admin/redflags/knownfraudentry/add/",
        {"kind": "phone", "listing": "fraudulent_application", "source": "case 12", "typed_value": "(217) 555-0199"},
    )
    assert response.status_code == 302
    entry = KnownFraudEntry.objects.get()
    page = client.get(f"/admin/redflags/knownfraudentry/{entry.pk}/change/").content.decode()
    assert "555-0199" not in page and "5550199" not in page


# --- API ---------------------------------------------------------------------------------------


def test_a_cra_alert_received_through_the_api_is_scored(client, csr):
    member = MemberFactory()
    client.force_login(csr)
    response = client.post(
        CRA_API,
        {"member_number": member.member_number, "kind": "credit_freeze", "agency": "TransUnion"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["assessment"]["rules"] == ["CRA2_CREDIT_FREEZE@v1"]
    assert ConsumerReportAlert.objects.get().source == "api"


def test_the_api_refuses_bad_input_and_changes_nothing(client, csr):
    client.force_login(csr)
    response = client.post(
        CRA_API,
        {"member_number": "M0000000", "kind": "credit_freeze", "agency": "TransUnion"},
        content_type="application/json",
    )
    assert response.status_code == 400 and not ConsumerReportAlert.objects.exists()
    response = client.post(
        CRA_API,
        {"member_number": MemberFactory().member_number, "kind": "nonsense", "agency": "X"},
        content_type="application/json",
    )
    assert response.status_code == 400 and not ConsumerReportAlert.objects.exists()


def test_an_identity_theft_notice_through_the_api(client, analyst):
    account = OpenAccountFactory()
    client.force_login(analyst)
    response = client.post(
        NOTICE_API,
        {
            "member_number": account.member.member_number,
            "account_number": account.account_number,
            "reporter": "victim",
            "summary": "my name was used",
        },
        content_type="application/json",
    )
    assert response.status_code == 201 and response.json()["assessment"]["outcome"] == "hold"


@pytest.mark.parametrize("url", [CRA_API, NOTICE_API])
class TestApiDenials:
    def body(self):
        return {
            "member_number": MemberFactory().member_number,
            "kind": "fraud_alert",
            "agency": "Equifax",
            "reporter": "victim",
            "summary": "x",
        }

    def test_anonymous(self, client, url):
        assert client.post(url, self.body(), content_type="application/json").status_code in (401, 403)

    def test_billing(self, client, billing, url):
        client.force_login(billing)
        assert client.post(url, self.body(), content_type="application/json").status_code == 403

    def test_a_member(self, client, portal_member, url):
        client.force_login(portal_member)
        assert client.post(url, self.body(), content_type="application/json").status_code == 403
        assert not RiskAssessment.objects.exists()


def test_thresholds_are_set_by_the_program_administrator_in_the_admin_and_no_one_else(client, program_admin, analyst):
    from redflags.models import ProgramSettings

    url = "/admin/redflags/programsettings/1/change/"
    form = {
        "program_version": "2008.1",
        "warn_threshold": 35,
        "hold_threshold": 75,
        "caller_failures_to_flag": 3,
        "reason": "board decision of March",
    }
    client.force_login(analyst)
    assert client.post(url, form).status_code == 403
    assert ProgramSettings.objects.get(pk=1).warn_threshold == 40
    client.force_login(program_admin)
    assert client.post(url, form).status_code == 302
    assert (ProgramSettings.objects.get(pk=1).warn_threshold, ProgramSettings.objects.get(pk=1).hold_threshold) == (
        35,
        75,
    )
    assert AuditEvent.objects.filter(action="redflags.settings_changed", actor=program_admin).exists()


def test_the_program_administrator_records_the_annual_review_in_the_admin(client, program_admin, csr):
    from redflags.models import AnnualReview

    client.force_login(csr)
    assert client.get("/admin/redflags/annualreview/add/").status_code == 403
    client.force_login(program_admin)
    response = client.post(
        "/admin/redflags/annualreview/add/",
        {"year": 2026, "experiences": "two cases", "recommended_changes": "add CRA alerts", "changes_warranted": "on"},
    )
    assert response.status_code == 302
    review = AnnualReview.objects.get(year=2026)
    assert review.prepared_by == program_admin and "flags_total" in review.report
