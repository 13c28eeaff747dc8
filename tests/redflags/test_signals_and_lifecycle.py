"""Signals cover every watched write; thresholds and outcomes; responses; rule lifecycle; training."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import InternalError, transaction
from django.utils import timezone

from accounts import services as account_services
from accounts.models import Account
from members import services as member_services
from members.models import AuditEvent
from members.signals import EVENTS
from redflags import engine, services
from redflags.models import ObservedEvent, ProgramChange, Response, ReviewItem, RiskAssessment, Rule, RuleVersion
from redflags.services.review import RESPONSES
from tests.factories import (
    VERIFIED_CHECKLIST,
    BillFactory,
    MemberFactory,
    OpenAccountFactory,
    PaymentFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

# Registry events the program deliberately does not score, each with the reason.
NOT_WATCHED = {
    "member.created": "a member is scored when an account is opened for them (account_opening)",
    "member.status_changed": "membership status carries no identity signal",
    "member.financial_account_removed": "removing a bank account adds no identifying information",
    "member.identifier_revealed": "an authorized, audited reveal by staff",
    "account.opened": "scored synchronously by account_opening before the account opens",
    "account.party_removed": "removing a party adds no one",
    "account.closed": "the end of the relationship",
    "account.suspended": "a staff decision, often a Red Flags response",
    "account.reinstated": "a staff decision after review",
    "premise.created": "premises are not covered accounts",
    "premise.changed": "premises are not covered accounts",
    "meter.installed": "equipment",
}


def _watched_writes(actor):
    """Every registry service that changes watched data, called once: event -> callable."""
    member = MemberFactory()
    account = OpenAccountFactory(member=member)
    bill = BillFactory(account=account, statement_number="S-W-1")
    payment = PaymentFactory(account=account, bill=bill)
    today = timezone.localdate()
    return {
        "member.name_changed": lambda: member_services.member_change_name(
            actor=actor, member=member, legal_name="Renamed Person"
        ),
        "member.address_changed": lambda: member_services.member_change_address(
            actor=actor, member=member, line1="77 Oak Ave", city="Springfield", state="IL", postal_code="62704"
        ),
        "member.phone_changed": lambda: member_services.member_change_phone(
            actor=actor, member=member, phone="+12175550177"
        ),
        "member.email_changed": lambda: member_services.member_change_email(
            actor=actor, member=member, email="changed@example.test"
        ),
        "member.identifiers_changed": lambda: member_services.member_change_identifiers(
            actor=actor, member=member, ssn="123457777", reason="corrected"
        ),
        "member.financial_account_added": lambda: member_services.financial_account_add(
            actor=actor, member=member, routing_number="011000015", account_number="12345678"
        ),
        "account.party_added": lambda: account_services.authorized_party_add(
            actor=actor, account=account, name="Added Person"
        ),
        "account.bill_recorded": lambda: account_services.bill_record(
            actor=actor,
            account=account,
            statement_number="S-W-2",
            period_start=today - datetime.timedelta(days=30),
            period_end=today,
            issued_on=today,
            due_on=today + datetime.timedelta(days=20),
            amount_due=Decimal("50.00"),
        ),
        "account.payment_recorded": lambda: account_services.payment_record(
            actor=actor, account=account, amount=Decimal("10.00"), method="cash"
        ),
        "account.payment_returned": lambda: account_services.payment_return(
            actor=actor, payment=payment, reason="NSF returned"
        ),
        "account.mail_returned": lambda: account_services.returned_mail_record(
            actor=actor, member=member, account=account, returned_on=today
        ),
        "account.statement_not_received": lambda: account_services.statement_notice_record(
            actor=actor, member=member, account=account, reported_on=today
        ),
        # A member of its own: the writes above leave this member with an open "Red Flag Exists" warning,
        # which (rightly) stops online enrollment (members.guards, action portal_enrollment).
        "member.online_access_enrolled": _enroll_a_fresh_member,
    }


def _enroll_a_fresh_member():
    fresh = OpenAccountFactory()
    return member_services.member_enroll_online(
        member=fresh.member, user=UserFactory(), account_id=fresh.pk, account_number=fresh.account_number
    )


def test_every_registry_event_is_either_watched_or_deliberately_not():
    assert set(EVENTS) - engine.WATCHED_REGISTRY_EVENTS - set(NOT_WATCHED) == set()
    assert engine.WATCHED_REGISTRY_EVENTS <= set(EVENTS)


def test_every_registry_service_that_changes_watched_data_leads_to_an_assessment(
    csr, django_capture_on_commit_callbacks
):
    writes = _watched_writes(csr)
    assert set(writes) == engine.WATCHED_REGISTRY_EVENTS
    for event, write in writes.items():
        with django_capture_on_commit_callbacks(execute=True):
            write()
        assert RiskAssessment.objects.filter(event_name=event).exists(), f"{event} was not scored"


def test_a_change_is_scored_only_after_commit(csr, django_capture_on_commit_callbacks):
    member = MemberFactory()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        member_services.member_change_phone(actor=csr, member=member, phone="+12175550188")
    assert not RiskAssessment.objects.filter(event_name="member.phone_changed").exists()
    # One callback scores the change; the other delivers the member's notice (members/notices).
    assert len(callbacks) == 2
    callbacks[0]()
    assert RiskAssessment.objects.filter(event_name="member.phone_changed").exists()


def test_a_rolled_back_change_is_never_scored(csr, django_capture_on_commit_callbacks):
    member = MemberFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                member_services.member_change_phone(actor=csr, member=member, phone="+12175550189")
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
    assert callbacks == [] and not ObservedEvent.objects.filter(event="member.phone_changed").exists()


def test_the_change_task_is_safe_to_run_twice(csr):
    from members.signals import RegistryChange
    from redflags.tasks import assess_change

    payload = services.change_payload(RegistryChange(event="member.email_changed", member_id=MemberFactory().pk))
    assert assess_change(payload) is not None
    assert assess_change(payload) is None
    assert RiskAssessment.objects.filter(event_name="member.email_changed").count() == 1


def test_an_opening_is_scored_before_the_account_opens(csr):
    seen = {}
    from members.signals import account_opening

    def spy(sender, account, **kwargs):
        seen["status"] = account.status
        seen["assessed"] = RiskAssessment.objects.filter(account=account).exists()

    account_opening.connect(spy)
    try:
        account_services.account_open(actor=csr, member=MemberFactory(), checklist=VERIFIED_CHECKLIST)
    finally:
        account_opening.disconnect(spy)
    assert seen == {"status": "pending", "assessed": True}


# --- thresholds ------------------------------------------------------------------------------


def test_the_program_administrator_sets_thresholds_and_they_change_the_outcome(csr, program_admin):
    services.program_settings_update(
        actor=program_admin, warn_threshold=10, hold_threshold=90, reason="household review"
    )
    spouse = MemberFactory()
    account = account_services.account_open(
        actor=csr, member=MemberFactory(phone=spouse.phone), checklist=VERIFIED_CHECKLIST
    )
    assessment = RiskAssessment.objects.get(account=account)
    assert assessment.outcome == "warn" and assessment.warn_threshold == 10
    assert account.red_flag_warning and not account.on_hold and account.status == "open"
    assert AuditEvent.objects.filter(action="redflags.settings_changed", actor=program_admin).exists()


def test_thresholds_in_the_wrong_order_are_refused(program_admin):
    with pytest.raises(ValidationError):
        services.program_settings_update(actor=program_admin, warn_threshold=80, hold_threshold=50)


def test_an_analyst_cannot_set_thresholds(analyst):
    with pytest.raises(PermissionDenied):
        services.program_settings_update(actor=analyst, warn_threshold=1, hold_threshold=2)


def test_record_only_leaves_the_account_alone(csr):
    account = account_services.account_open(actor=csr, member=MemberFactory(), checklist=VERIFIED_CHECKLIST)
    assert RiskAssessment.objects.get(account=account).outcome == "record"
    assert not ReviewItem.objects.exists()


# --- responses -------------------------------------------------------------------------------


@pytest.fixture
def held_item(csr):
    first = MemberFactory()
    account = account_services.account_open(
        actor=csr, member=MemberFactory(ssn=first.ssn), checklist=VERIFIED_CHECKLIST
    )
    return ReviewItem.objects.get(account=account)


@pytest.fixture
def warned_item(analyst):
    account = OpenAccountFactory()
    services.identity_theft_notice_record(
        reporter="customer", summary="says someone used her name", actor=analyst, account=account
    )
    return ReviewItem.objects.get(account=account)


def test_release_hold_after_verification_opens_the_account(held_item, analyst, staff):
    from members import roles
    from redflags.cases.services import hold_release_request

    # A genuine second approver: another trained analyst asked for the release first.
    hold_release_request(actor=staff("ana2", roles.RED_FLAG_ANALYST), item=held_item, notes="saw the licence")
    response = services.review_respond(
        item=held_item, actor=analyst, kind="release_hold", notes="verified licence in person"
    )
    account = Account.objects.get(pk=held_item.account_id)
    assert account.status == "open" and not account.on_hold
    held_item.refresh_from_db()
    assert held_item.status == "resolved" and held_item.resolved_by == analyst
    assert response.rule_versions == ["B5_SSN_SHARED@v1"]
    assert AuditEvent.objects.filter(action="redflags.response.release_hold", actor=analyst).exists()
    assert AuditEvent.objects.filter(action="account.opened", actor=analyst).exists()  # through the registry


def test_dual_control_whoever_opened_the_account_cannot_clear_its_hold(staff, held_item):
    from members import roles

    opener = Account.objects.get(pk=held_item.account_id).opened_by
    opener.groups.add(
        *__import__("django.contrib.auth.models", fromlist=["Group"]).Group.objects.filter(name=roles.RED_FLAG_ANALYST)
    )
    opener = type(opener).objects.get(pk=opener.pk)
    with pytest.raises(PermissionDenied, match="dual control"):
        services.review_respond(item=held_item, actor=opener, kind="release_hold", notes="I know them")
    assert Account.objects.get(pk=held_item.account_id).on_hold
    assert not Response.objects.exists()


def test_do_not_open_denies_through_the_registry(held_item, analyst):
    services.review_respond(item=held_item, actor=analyst, kind="do_not_open", notes="applicant could not verify")
    assert Account.objects.get(pk=held_item.account_id).status == "denied"
    assert AuditEvent.objects.filter(action="account.denied").exists()


def test_a_held_opening_cannot_be_waved_through_with_no_response(held_item, analyst):
    with pytest.raises(ValidationError, match="on hold"):
        services.review_respond(item=held_item, actor=analyst, kind="no_response", justification="looks fine")


def test_close_account(warned_item, analyst):
    services.review_respond(item=warned_item, actor=analyst, kind="close_account", notes="victim confirmed fraud")
    assert Account.objects.get(pk=warned_item.account_id).status == "closed"


def test_notify_law_enforcement_needs_agency_and_case_number(warned_item, analyst):
    with pytest.raises(ValidationError):
        services.review_respond(item=warned_item, actor=analyst, kind="notify_law_enforcement", agency="Springfield PD")
    response = services.review_respond(
        item=warned_item, actor=analyst, kind="notify_law_enforcement", agency="Springfield PD", case_number="24-1187"
    )
    assert (response.agency, response.case_number) == ("Springfield PD", "24-1187")
    warned_item.refresh_from_db()
    assert warned_item.status == "open"  # still to be decided


def test_no_response_needs_a_justification(warned_item, analyst):
    with pytest.raises(ValidationError):
        services.review_respond(item=warned_item, actor=analyst, kind="no_response")
    services.review_respond(
        item=warned_item, actor=analyst, kind="no_response", justification="member confirmed she called us herself"
    )
    warned_item.refresh_from_db()
    assert warned_item.status == "resolved"


@pytest.mark.parametrize("kind", ["monitor", "track", "contact_customer"])
def test_the_other_responses_are_recorded_with_actor_time_and_notes(warned_item, analyst, kind):
    response = services.review_respond(
        item=warned_item, actor=analyst, kind=kind, notes="called the member at the number on file"
    )
    assert response.actor == analyst and response.at and response.notes
    assert AuditEvent.objects.filter(action=f"redflags.response.{kind}", object_id=str(response.pk)).exists()
    assert Account.objects.get(pk=warned_item.account_id).red_flag_warning


def test_staff_without_a_current_training_acknowledgement_cannot_act_on_flags(staff, warned_item):
    from members import roles

    untrained = staff("untrained", roles.RED_FLAG_ANALYST, trained=False)
    with pytest.raises(PermissionDenied, match="acknowledgement"):
        services.review_respond(item=warned_item, actor=untrained, kind="track")


def test_a_new_program_version_requires_a_new_acknowledgement(warned_item, analyst, program_admin):
    change = services.program_change_recommend(
        actor=program_admin, title="Add CRA alerts", recommendation="Score CRA alerts"
    )
    services.program_change_decide(
        actor=program_admin,
        change=change,
        decision="accepted",
        decided_on=timezone.localdate(),
        board_reference="Ord. 2026-11-01",
        new_program_version="2026.1",
    )
    assert ProgramChange.objects.get().decision == "accepted"
    with pytest.raises(PermissionDenied):
        services.review_respond(item=warned_item, actor=analyst, kind="track")
    services.training_acknowledge(user=analyst, trained_by=program_admin)
    services.review_respond(item=warned_item, actor=analyst, kind="track")


def test_a_board_decision_needs_a_reference(program_admin):
    change = services.program_change_recommend(actor=program_admin, title="x", recommendation="y")
    with pytest.raises(ValidationError):
        services.program_change_decide(
            actor=program_admin, change=change, decision="rejected", decided_on=timezone.localdate(), board_reference=""
        )


def test_a_csr_cannot_work_the_queue(warned_item, csr):
    with pytest.raises(PermissionDenied):
        services.review_respond(item=warned_item, actor=csr, kind="track")


def test_a_member_level_flag_cannot_close_an_account(analyst, csr):
    member = MemberFactory()
    services.cra_alert_record(member=member, kind="fraud_alert", agency="Equifax", actor=csr)
    item = ReviewItem.objects.get(member=member)
    with pytest.raises(ValidationError, match="needs an account"):
        services.review_respond(item=item, actor=analyst, kind="close_account")


def test_every_response_the_program_lists_has_its_preconditions_and_effect():
    assert set(RESPONSES) == set(Response.Kind.values)


@pytest.mark.parametrize(
    ("item_fixture", "kind", "fields", "refusal", "match"),
    [
        ("held_item", "monitor", {"notes": "watching"}, ValidationError, "on hold"),
        ("held_item", "close_account", {}, ValidationError, "open or suspended"),
        ("held_item", "release_hold", {"notes": "  "}, ValidationError, "how the identity was verified"),
        ("warned_item", "release_hold", {"notes": "saw the licence"}, ValidationError, "not on hold"),
        ("warned_item", "do_not_open", {}, ValidationError, "not yet open"),
        ("warned_item", "contact_customer", {"notes": "  "}, ValidationError, "contacted"),
        ("warned_item", "notify_law_enforcement", {"agency": "PD", "case_number": " "}, ValidationError, "case number"),
        ("warned_item", "no_response", {"justification": " "}, ValidationError, "why no response"),
        ("warned_item", "escalate", {}, ValidationError, "unknown response"),
    ],
)
def test_a_response_whose_preconditions_fail_changes_nothing(
    request, analyst, item_fixture, kind, fields, refusal, match
):
    item = request.getfixturevalue(item_fixture)
    account_before = Account.objects.values().get(pk=item.account_id)
    with pytest.raises(refusal, match=match):
        services.review_respond(item=item, actor=analyst, kind=kind, **fields)
    assert not Response.objects.exists()
    assert Account.objects.values().get(pk=item.account_id) == account_before
    item.refresh_from_db()
    assert item.status == "open"
    assert not AuditEvent.objects.filter(action__startswith="redflags.response").exists()


def test_a_resolved_item_takes_no_further_response(warned_item, analyst):
    services.review_respond(item=warned_item, actor=analyst, kind="monitor", notes="warning stays on")
    with pytest.raises(ValidationError, match="already resolved"):
        services.review_respond(item=warned_item, actor=analyst, kind="track")
    assert Response.objects.count() == 1


def test_nobody_signed_in_cannot_respond(warned_item):
    with pytest.raises(PermissionDenied, match="Red Flag Analyst"):
        services.review_respond(item=warned_item, actor=None, kind="track")
    assert not Response.objects.exists()


# --- rule lifecycle --------------------------------------------------------------------------


def test_a_live_rule_version_cannot_be_edited_even_in_sql():
    version = Rule.objects.get(code="B6_ADDRESS_OR_PHONE_SHARED").active_version
    with pytest.raises(InternalError), transaction.atomic():
        RuleVersion.objects.filter(pk=version.pk).update(weight=99)


def test_draft_dry_run_activate_and_retire(program_admin, csr):
    spouse = MemberFactory()
    account = account_services.account_open(
        actor=csr, member=MemberFactory(phone=spouse.phone), checklist=VERIFIED_CHECKLIST
    )
    assert not account.red_flag_warning
    rule = Rule.objects.get(code="B6_ADDRESS_OR_PHONE_SHARED")
    draft = services.rule_version_draft(actor=program_admin, rule=rule, weight=45, notes="queue shared phones")
    assert draft.number == 2 and draft.status == "draft"
    with pytest.raises(ValidationError, match="dry run"):
        services.rule_version_activate(actor=program_admin, version=draft)
    summary = services.rule_version_dry_run(actor=program_admin, version=draft)
    assert summary["accounts_flagged_with_draft"] == 1 and summary["accounts_flagged_now"] == 0
    services.rule_version_activate(actor=program_admin, version=draft)
    rule.refresh_from_db()
    assert rule.active_version.number == 2
    assert RuleVersion.objects.get(rule=rule, number=1).status == "retired"
    later = account_services.account_open(
        actor=csr, member=MemberFactory(phone=spouse.phone), checklist=VERIFIED_CHECKLIST
    )
    fired = RiskAssessment.objects.get(account=later).fired
    assert [(item["code"], item["version"]) for item in fired] == [("B6_ADDRESS_OR_PHONE_SHARED", 2)]
    # the earlier decision still references version 1
    assert RiskAssessment.objects.get(account=account).fired[0]["version"] == 1
    services.rule_version_retire(actor=program_admin, version=rule.active_version, reason="too noisy")
    third = account_services.account_open(
        actor=csr, member=MemberFactory(phone=spouse.phone), checklist=VERIFIED_CHECKLIST
    )
    assert RiskAssessment.objects.get(account=third).fired == []


def test_an_analyst_cannot_draft_rules(analyst):
    with pytest.raises(PermissionDenied):
        services.rule_version_draft(actor=analyst, rule=Rule.objects.first(), weight=1)


def test_payment_sweep_is_idempotent_per_day():
    account = OpenAccountFactory(opened_at=timezone.now() - datetime.timedelta(days=30))
    today = timezone.localdate()
    BillFactory(
        account=account,
        statement_number="S-SW-1",
        issued_on=today - datetime.timedelta(days=21),
        due_on=today - datetime.timedelta(days=1),
    )
    assert services.payment_sweep(today=today) == 1
    assert services.payment_sweep(today=today) == 0


def test_the_demo_step_queues_flagged_openings_trains_staff_and_is_idempotent():
    from members.demo import DEMO_STEPS, seed_staff
    from members.models import User
    from redflags.demo import DEMO_MARK, seed_redflags

    assert seed_redflags in DEMO_STEPS
    seed_staff()
    seed_redflags()
    held = Account.objects.filter(member__legal_name__endswith=DEMO_MARK, on_hold=True).count()
    assert held == 2 and ReviewItem.objects.count() == 2
    household = Account.objects.get(member__legal_name=f"Morgan Pike {DEMO_MARK}")
    assert household.status == "open" and not household.on_hold
    for username in ("analyst", "programadmin", "csr"):
        assert services.has_current_training(User.objects.get(username=username))
    counts = (ReviewItem.objects.count(), RiskAssessment.objects.count(), AuditEvent.objects.count())
    seed_redflags()
    assert (ReviewItem.objects.count(), RiskAssessment.objects.count(), AuditEvent.objects.count()) == counts


@pytest.mark.parametrize("template", ["red_flag_contact", "red_flag_new_account"])
def test_contact_the_customer_sends_the_chosen_notice_to_the_contacts_on_file(warned_item, analyst, template):
    """Program response (3): the analyst picks a notice; it goes to the e-mail and the mailing address on
    file, the response's audit row names the notices, and no notice says anything the member did not know."""
    from members.notices.models import Notice

    member = Account.objects.get(pk=warned_item.account_id).member
    response = services.review_respond(
        item=warned_item, actor=analyst, kind="contact_customer", contact_template=template
    )
    sent = Notice.objects.filter(member=member, kind=template)
    assert {notice.channel for notice in sent} == {"email", "letter"}
    assert {notice.to_email for notice in sent if notice.channel == "email"} == {member.email.lower()}
    row = AuditEvent.objects.get(action="redflags.response.contact_customer", object_id=str(response.pk))
    assert sorted(row.detail["notices"]) == sorted(notice.pk for notice in sent)
    for notice in sent:
        text = f"{notice.subject}\n{notice.body}"
        assert "Red Flag" not in text and member.ssn_last4 not in text and str(member.pk) not in notice.subject


def test_contact_the_customer_refuses_an_unknown_notice_and_sends_nothing(warned_item, analyst):
    from members.notices.models import Notice

    with pytest.raises(ValidationError):
        services.review_respond(item=warned_item, actor=analyst, kind="contact_customer", contact_template="made_up")
    assert not Notice.objects.exists()
