"""Issue 12, items 3 and 8: destroying more needs a second Privacy Officer; bad input changes nothing."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from accounts.models import ReturnedMail
from members import roles
from members.models import AuditEvent, Member
from retention.models import Category, Hold, PendingChange, PurgeRun, RetentionPolicy
from retention.services import (
    retention_change_approve,
    retention_change_reject,
    retention_change_run,
    retention_hold_place,
    retention_hold_request_release,
    retention_policy_ensure_defaults,
    retention_policy_update,
    retention_purge_category,
    retention_purge_request,
    retention_run_due,
)
from tests.factories import MemberFactory, ReturnedMailFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _policies():
    retention_policy_ensure_defaults()


@pytest.fixture
def first(make_user):
    return make_user("privacy-1", role=roles.PRIVACY_OFFICER)


@pytest.fixture
def second(make_user):
    return make_user("privacy-2", role=roles.PRIVACY_OFFICER)


def _policy(category=Category.RETURNED_MAIL) -> RetentionPolicy:
    return RetentionPolicy.objects.get(category=category)


def test_a_shorter_period_waits_with_a_preview_and_applies_only_when_a_second_officer_approves(first, second):
    ReturnedMailFactory(returned_on=timezone.localdate() - dt.timedelta(days=500))
    ReturnedMailFactory(returned_on=timezone.localdate() - dt.timedelta(days=800))
    change = retention_policy_update(
        policy=_policy(), retain_days=400, enabled=True, basis="Policy 105", actor=first, reason="counsel"
    )
    assert isinstance(change, PendingChange) and _policy().retain_days == 3 * 365
    preview = change.preview["categories"][Category.RETURNED_MAIL]
    assert preview["count"] == 2 and preview["oldest"] == (timezone.localdate() - dt.timedelta(days=800)).isoformat()
    # The nightly run keeps to the approved period while the change waits.
    retention_run_due()
    assert ReturnedMail.objects.count() == 2

    retention_change_approve(actor=second, change=change)

    policy = _policy()
    assert (policy.retain_days, policy.approved_by) == (400, second)
    run = retention_purge_category(category=Category.RETURNED_MAIL)
    assert run.records_destroyed == 2 and run.approved_by == second
    assert run.certificate.approved_by_label == "privacy-2"


def test_self_approval_is_refused_and_changes_nothing(first):
    change = retention_policy_update(
        policy=_policy(), retain_days=400, enabled=True, basis="x", actor=first, reason="counsel"
    )
    with pytest.raises(ValidationError, match="second Privacy Officer"):
        retention_change_approve(actor=first, change=change)
    change.refresh_from_db()
    assert change.status == PendingChange.Status.PENDING and _policy().retain_days == 3 * 365
    assert not AuditEvent.objects.filter(action="retention.change_approved").exists()


def test_only_a_privacy_officer_approves(first, make_user):
    change = retention_policy_update(
        policy=_policy(), retain_days=400, enabled=True, basis="x", actor=first, reason="r"
    )
    with pytest.raises(PermissionDenied):
        retention_change_approve(actor=make_user("aud-2", role=roles.AUDITOR), change=change)


def test_a_period_below_the_legal_minimum_is_refused_and_changes_nothing(first):
    with pytest.raises(ValidationError) as refused:
        retention_policy_update(
            policy=_policy(Category.BILLS), retain_days=30, enabled=True, basis="x", actor=first, reason="save space"
        )
    assert "legal minimum" in refused.value.message_dict["retain_days"][0]
    assert _policy(Category.BILLS).retain_days == 7 * 365 and not PendingChange.objects.exists()


def test_releasing_a_hold_needs_a_second_officer_and_previews_what_it_lets_go(first, second):
    member = MemberFactory(status=Member.Status.FORMER, left_on=dt.date(2015, 1, 1))
    hold = retention_hold_place(actor=first, scope=Hold.Scope.MEMBER, member=member, reason="Litigation")
    change = retention_hold_request_release(actor=first, hold=hold, reason="case closed")
    assert change.preview["categories"][Category.FORMER_MEMBER_IDENTIFIERS] == {"count": 1, "oldest": "2015-01-01"}
    hold.refresh_from_db()
    assert hold.is_active
    with pytest.raises(ValidationError):
        retention_change_approve(actor=first, change=change)

    retention_change_approve(actor=second, change=change)

    hold.refresh_from_db()
    assert not hold.is_active and hold.release_approved_by == second and hold.released_by == first
    assert retention_purge_category(category=Category.FORMER_MEMBER_IDENTIFIERS).records_destroyed == 1


def test_a_purge_by_hand_runs_only_once_approved_and_names_the_approver(first, second):
    ReturnedMailFactory(returned_on=dt.date(2015, 1, 1))
    change = retention_purge_request(actor=first, category=Category.RETURNED_MAIL, reason="cleanup")
    assert change.preview["categories"][Category.RETURNED_MAIL]["count"] == 1
    with pytest.raises(ValidationError, match="approved"):
        retention_change_run(change=change)
    assert ReturnedMail.objects.count() == 1

    change = retention_change_approve(actor=second, change=change)
    run = retention_change_run(change=change)

    assert run.records_destroyed == 1 and run.approved_by == second and run.change == change
    assert run.triggered_by == first


def test_a_rejected_change_is_not_applied(first, second):
    change = retention_policy_update(
        policy=_policy(), retain_days=400, enabled=True, basis="x", actor=first, reason="r"
    )
    retention_change_reject(actor=second, change=change, note="keep three years")
    assert _policy().retain_days == 3 * 365
    with pytest.raises(ValidationError, match="already"):
        retention_change_approve(actor=second, change=change)


# Committed rows: the lock is held by another connection. available_apps: the flush TRUNCATEs with CASCADE.
@pytest.mark.django_db(transaction=True, available_apps=[config.name for config in apps.get_app_configs()])
def test_an_overlapping_run_is_refused_with_a_clear_message_and_destroys_nothing():
    retention_policy_ensure_defaults()
    ReturnedMailFactory(returned_on=dt.date(2015, 1, 1))
    from retention.services.purge import _exclusive

    holding, release = threading.Event(), threading.Event()

    def hold_the_lock():
        with _exclusive(Category.RETURNED_MAIL):
            holding.set()
            release.wait(30)
        connection.close()

    other = threading.Thread(target=hold_the_lock)
    other.start()
    try:
        assert holding.wait(30)
        with pytest.raises(ValidationError, match="already running"):
            retention_purge_category(category=Category.RETURNED_MAIL)
    finally:
        release.set()
        other.join()
    assert ReturnedMail.objects.count() == 1
    assert not PurgeRun.objects.filter(category=Category.RETURNED_MAIL).exists()


class TestAdmin:
    def test_the_second_officer_sees_the_preview_and_approves_in_the_admin(self, client, first, second):
        ReturnedMailFactory(returned_on=dt.date(2015, 1, 1))
        change = retention_policy_update(
            policy=_policy(), retain_days=400, enabled=True, basis="x", actor=first, reason="r"
        )
        client.force_login(second)
        page = client.get(f"/admin/retention/pendingchange/{change.pk}/change/")
        assert page.status_code == 200 and b"2015-01-01" in page.content
        response = client.post(
            "/admin/retention/pendingchange/", {"action": "approve", "_selected_action": [change.pk]}
        )
        assert response.status_code == 302
        assert _policy().retain_days == 400

    def test_the_requester_cannot_approve_in_the_admin(self, client, first):
        change = retention_policy_update(
            policy=_policy(), retain_days=400, enabled=True, basis="x", actor=first, reason="r"
        )
        client.force_login(first)
        client.post("/admin/retention/pendingchange/", {"action": "approve", "_selected_action": [change.pk]})
        change.refresh_from_db()
        assert change.status == PendingChange.Status.PENDING and _policy().retain_days == 3 * 365

    def test_an_auditor_cannot_approve(self, client, first, auditor):
        change = retention_policy_update(
            policy=_policy(), retain_days=400, enabled=True, basis="x", actor=first, reason="r"
        )
        client.force_login(auditor)
        assert client.get("/admin/retention/pendingchange/").status_code == 200
        client.post("/admin/retention/pendingchange/", {"action": "approve", "_selected_action": [change.pk]})
        change.refresh_from_db()
        assert change.status == PendingChange.Status.PENDING

    def test_a_period_below_the_minimum_in_the_admin_shows_the_message(self, client, first):
        client.force_login(first)
        policy = _policy(Category.BILLS)
        response = client.post(
            f"/admin/retention/retentionpolicy/{policy.pk}/change/",
            {"retain_days": 30, "enabled": "on", "basis": "x", "reason": "space"},
        )
        assert response.status_code == 200 and b"legal minimum" in response.content
        assert _policy(Category.BILLS).retain_days == 7 * 365
