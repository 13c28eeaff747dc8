"""The outbox: notices commit with the change that causes them, are claimed once, survive a lost
worker or a lost task, and never carry an identifier."""

from __future__ import annotations

import datetime
import io

import pytest
from django.apps import apps
from django.core import mail
from django.db import transaction
from django.utils import timezone
from pypdf import PdfReader

from members import roles
from members import services as member_services
from members.models import AuditEvent
from members.notices import delivery, tasks
from members.notices.models import Notice, NoticeAttempt
from members.notices.rendering import SensitiveNotice, render_notice
from members.notices.services import (
    NoticeOutsideTransaction,
    alert_preference_set,
    letter_batch_print,
    notice_enqueue,
)
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def member():
    return MemberFactory(legal_name="Nora Notice", email="nora@example.test")


def test_an_address_change_and_its_notices_commit_together(member, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        member_services.member_change_address(
            actor=None, member=member, line1="9 Elm St", city="Lansing", state="MI", postal_code="48933"
        )
    letter = Notice.objects.get(member=member, channel="letter")
    assert letter.kind == "contact_changed" and "Main St" in letter.to_address and "Springfield" in letter.to_address
    email = Notice.objects.get(member=member, channel="email")
    assert email.to_email == "nora@example.test" and email.state == "sent"
    assert [m.to for m in mail.outbox] == [["nora@example.test"]]
    assert mail.outbox[0].extra_headers["Message-ID"] == email.message_id
    assert AuditEvent.objects.filter(action="notice.queued", object_id=str(member.pk)).exists()


def test_a_rolled_back_change_leaves_no_notice_and_sends_nothing(member):
    with pytest.raises(RuntimeError), transaction.atomic():
        member_services.member_change_email(actor=None, member=member, email="attacker@example.test")
        raise RuntimeError("the surrounding request failed")
    assert not Notice.objects.exists() and mail.outbox == []


def test_an_email_change_is_told_to_the_old_and_the_new_address_and_by_letter(member):
    member_services.member_change_email(actor=None, member=member, email="new@example.test")
    notices = Notice.objects.filter(member=member)
    assert sorted(n.to_email for n in notices if n.channel == "email") == ["new@example.test", "nora@example.test"]
    assert notices.filter(channel="letter").count() == 1


@pytest.mark.django_db(transaction=True, available_apps=[config.name for config in apps.get_app_configs()])
def test_a_notice_outside_a_transaction_is_refused(member):
    with pytest.raises(NoticeOutsideTransaction):
        notice_enqueue(actor=None, kind="contact_changed", member=member, context={"what": "x"})


def _queued(member, on_commit=None) -> Notice:
    """A queued e-mail notice; with ``on_commit`` (the pytest-django fixture) its after-commit delivery runs."""
    with on_commit(execute=True) if on_commit else transaction.atomic():
        (notice,) = notice_enqueue(
            actor=None, kind="new_sign_in", member=member, context={"when": timezone.now()}, emails=["n@example.test"]
        )
    return notice


def test_a_claimed_notice_cannot_be_claimed_again(member, monkeypatch):
    monkeypatch.setattr(tasks.notice_deliver, "delay", lambda notice_id: None)  # deliver by hand below
    notice = _queued(member)
    claimed = delivery.notice_claim(notice_id=notice.pk)
    assert claimed is not None and claimed.state == "sending" and claimed.lease_until is not None
    assert delivery.notice_claim(notice_id=notice.pk) is None
    assert delivery.notice_send(notice_id=notice.pk) == "skipped" and mail.outbox == []


def test_a_second_delivery_of_a_sent_notice_sends_nothing(member, django_capture_on_commit_callbacks):
    notice = _queued(member, django_capture_on_commit_callbacks)  # delivered on commit (eager)
    assert Notice.objects.get(pk=notice.pk).state == "sent" and len(mail.outbox) == 1
    assert tasks.notice_deliver.delay(notice.pk).get() == "skipped"
    assert len(mail.outbox) == 1


def test_a_worker_lost_after_its_claim_is_recovered_and_the_notice_sent_once(member, monkeypatch, settings):
    monkeypatch.setattr(tasks.notice_deliver, "delay", lambda notice_id: None)
    notice = _queued(member)
    assert delivery.notice_claim(notice_id=notice.pk) is not None  # ... and the worker dies here
    assert delivery.notices_recover() == 0  # the lease still holds
    Notice.objects.filter(pk=notice.pk).update(lease_until=timezone.now() - datetime.timedelta(seconds=1))
    assert tasks.notices_sweep.delay().get() == {"recovered": 1, "sent": 1}
    assert tasks.notices_sweep.delay().get() == {"recovered": 0, "sent": 0}
    assert len(mail.outbox) == 1
    outcomes = list(NoticeAttempt.objects.filter(notice=notice).order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["claimed", "recovered", "claimed", "sent"]


def test_a_task_lost_because_the_broker_was_down_at_commit_is_sent_by_the_sweep(
    member, monkeypatch, django_capture_on_commit_callbacks
):
    def broker_down(notice_id):
        raise ConnectionError("Error 111 connecting to redis")

    monkeypatch.setattr(tasks.notice_deliver, "delay", broker_down)
    notice = _queued(member, django_capture_on_commit_callbacks)  # commits although the task was not enqueued
    assert Notice.objects.get(pk=notice.pk).state == "queued"
    assert tasks.notices_sweep.delay().get()["sent"] == 1
    assert Notice.objects.get(pk=notice.pk).state == "sent" and len(mail.outbox) == 1


def test_an_smtp_failure_is_retried_and_fails_for_good_after_the_last_attempt(member, monkeypatch, settings):
    settings.NOTICE_MAX_ATTEMPTS = 2
    monkeypatch.setattr(tasks.notice_deliver, "delay", lambda notice_id: None)
    notice = _queued(member)
    monkeypatch.setattr(delivery.EmailMessage, "send", lambda self: (_ for _ in ()).throw(OSError("refused")))
    assert delivery.notice_send(notice_id=notice.pk) == "retry"
    assert Notice.objects.get(pk=notice.pk).state == "queued"
    assert delivery.notice_send(notice_id=notice.pk) == "failed"
    failed = Notice.objects.get(pk=notice.pk)
    assert failed.state == "failed" and "refused" in failed.last_error


def test_members_choose_optional_alerts_but_not_security_notices(member):
    alert_preference_set(actor=None, member=member, kind="new_sign_in", enabled=False)
    with transaction.atomic():
        assert notice_enqueue(actor=None, kind="new_sign_in", member=member, context={"when": timezone.now()}) == []
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="always sent"):
        alert_preference_set(actor=None, member=member, kind="contact_changed", enabled=False)
    member_services.member_change_phone(actor=None, member=member, phone="+12175550199")
    assert Notice.objects.filter(member=member, kind="contact_changed").exists()


def test_queued_letters_print_once_as_a_pdf_for_the_mail_room(member):
    member_services.member_change_address(
        actor=None, member=member, line1="9 Elm St", city="Lansing", state="MI", postal_code="48933"
    )
    batch = letter_batch_print(actor=None)
    assert batch is not None and batch.letter_count == 1 and bytes(batch.pdf).startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(bytes(batch.pdf))).pages)
    assert "Nora Notice" in text and "Springfield" in text
    assert Notice.objects.get(channel="letter").state == "sent"
    assert letter_batch_print(actor=None) is None


def test_a_notice_that_would_carry_a_full_number_is_refused(member):
    with pytest.raises(SensitiveNotice):
        render_notice(kind="bank_account_changed", member=member, context={"action": "added", "last4": "123456789"})


def _every_notice_for(member) -> list[Notice]:
    """Trigger each registry notice for a member whose identifiers and numbers are known."""
    from tests.factories import AccountFactory

    account = AccountFactory(member=member)
    member_services.member_change_address(
        actor=None, member=member, line1="1 Oak St", city="Flint", state="MI", postal_code="48502"
    )
    member_services.member_change_phone(actor=None, member=member, phone="+12175550123")
    member_services.member_change_email(actor=None, member=member, email="other@example.test")
    bank = member_services.financial_account_add(
        actor=None, member=member, routing_number="011000015", account_number="987654321012"
    )
    member_services.financial_account_remove(actor=None, financial_account=bank)
    with transaction.atomic():
        for kind, context in (
            ("online_access_enrolled", {"account": "****" + account.account_number[-4:], "username": "nora"}),
            ("sign_in_changed", {"what": "two-step sign-in was turned on"}),
            ("red_flag_contact", {"reason": "a change of address"}),
            ("data_released", {"recipient": "Energy Auditors Inc.", "categories": "usage", "basis": "your consent"}),
            ("correction_resolved", {"topic": "name", "outcome": "corrected", "note": "Fixed."}),
            ("consent_changed", {"action": "allowed", "recipient": "Energy Auditors Inc."}),
            ("new_sign_in", {}),
        ):
            notice_enqueue(actor=None, kind=kind, member=member, context={"when": timezone.now(), **context})
    return list(Notice.objects.filter(member=member)), account


def test_no_notice_ever_carries_an_ssn_a_birth_date_or_a_full_account_or_bank_number(member):
    notices, account = _every_notice_for(member)
    batch = letter_batch_print(actor=None)
    pdf_text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(bytes(batch.pdf))).pages)
    assert {n.kind for n in notices} >= {"contact_changed", "bank_account_changed", "online_access_enrolled"}
    dob = member.date_of_birth
    forbidden = [
        member.ssn,
        f"{member.ssn[:3]}-{member.ssn[3:5]}-{member.ssn[5:]}",
        dob.isoformat(),
        dob.strftime("%m/%d/%Y"),
        dob.strftime("%B %-d, %Y"),
        member.drivers_licence_number,
        account.account_number,
        "987654321012",
        "011000015",
    ]
    rendered = [n.subject + n.body for n in notices] + [m.message().as_string() for m in mail.outbox] + [pdf_text]
    for text in rendered:
        for value in forbidden:
            assert value not in text


@pytest.mark.parametrize("role", [roles.AUDITOR, roles.CSR])
def test_staff_and_auditors_read_the_delivery_log_but_cannot_change_it(
    staff_client, member, role, django_capture_on_commit_callbacks
):
    notice = _queued(member, django_capture_on_commit_callbacks)
    client = staff_client(role)
    assert client.get("/admin/notices/notice/").status_code == 200
    page = client.get(f"/admin/notices/notice/{notice.pk}/change/")
    assert page.status_code == 200 and "claimed" in page.content.decode()
    assert client.post(f"/admin/notices/notice/{notice.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Notice.objects.filter(pk=notice.pk).exists()


def test_the_delivery_log_is_closed_to_anonymous_members_and_roles_without_it(client, staff_client, member):
    assert client.get("/admin/notices/notice/")["Location"].startswith(("/admin/login/", "/accounts/login/"))
    client.force_login(UserFactory(username="just-a-member"))
    assert client.get("/admin/notices/notice/").status_code == 302
    assert staff_client(roles.BILLING).get("/admin/notices/notice/").status_code == 403


def test_printing_letters_from_the_admin_needs_the_permission(staff_client, member):
    member_services.member_change_address(
        actor=None, member=member, line1="9 Elm St", city="Lansing", state="MI", postal_code="48933"
    )
    assert staff_client(roles.AUDITOR).post("/admin/notices/letterbatch/print/").status_code == 403
    client = staff_client(roles.CSR)
    assert client.post("/admin/notices/letterbatch/print/").status_code == 303
    batch_id = Notice.objects.get(channel="letter").batch_id
    response = client.get(f"/admin/notices/letterbatch/{batch_id}/pdf/")
    assert response.status_code == 200 and response.content.startswith(b"%PDF")
