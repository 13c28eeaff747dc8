"""ESPI push notification (issue 17): new usage for a member's authorized account is announced to the
third party's notify URI as a BatchList of the subscription's URI (valid against the ESPI schema), through
the outbox (a row written after the load commits, delivered after that commit, retried, then given up),
audited; third parties without a notify URI, or whose authorization ended, are not told."""

from __future__ import annotations

import datetime
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from lxml import etree

from accounts.usage.espi import espi_schema
from accounts.usage.services import usage_ingest_file
from connect import services
from connect.models import Authorization, Notification
from connect.notifications import MAX_ATTEMPTS, notification_send, notifications_sweep
from members.models import AuditEvent
from tests.connect.conftest import Client, apply
from tests.connect.test_refusals import _tokens
from tests.usage.conftest import csv_bytes, day_lines

pytestmark = pytest.mark.django_db


class _Receiver(BaseHTTPRequestHandler):
    status = 204
    bodies: list[bytes] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", 0))
        type(self).bodies.append(self.rfile.read(length))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args):
        return


@pytest.fixture
def receiver():
    handler = type("Receiver", (_Receiver,), {"bodies": [], "status": 204})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}/espi/notify"
    server.shutdown()
    server.server_close()


@pytest.fixture
def notified(client, settings, privacy_officer, member_with_usage, receiver):
    settings.CONNECT_ALLOW_LOOPBACK_HTTP = True
    handler, uri = receiver
    third_party, secret = services.third_party_approve(
        actor=privacy_officer,
        third_party=apply(name="Pushy Solar", notify_uri=uri),
        agreement_reference="CMD-PUSH",
        agreement_expires_on=timezone.localdate() + datetime.timedelta(days=365),
    )
    app = Client(third_party, third_party.application.client_id, secret)
    member, accounts = member_with_usage
    _tokens(client, app, member, [accounts[0].account_number])
    return handler, app, member, accounts, Authorization.objects.get(member=member)


def _load_today(meter_number: str, django_capture_on_commit_callbacks):
    lines = day_lines(meter_number, timezone.localdate() - datetime.timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        batch = usage_ingest_file(data=csv_bytes(lines), source="test", filename="push.csv")
    assert batch.status == "loaded"


def test_new_usage_is_announced_as_a_valid_batch_list(notified, django_capture_on_commit_callbacks):
    handler, app, _, accounts, authorization = notified
    meter = accounts[0].premise.meters.get()
    _load_today(meter.meter_number, django_capture_on_commit_callbacks)
    notification = Notification.objects.get()
    assert notification.third_party_id == app.third_party.pk and notification.state == "sent"
    assert notification.attempts == 1 and notification.sent_at is not None
    assert len(handler.bodies) == 1
    document = etree.fromstring(handler.bodies[0])
    assert espi_schema().validate(document), espi_schema().error_log
    uris = [element.text for element in document]
    assert len(uris) == 1 and uris[0].endswith(f"/espi/1_1/resource/Batch/Subscription/{authorization.pk}")
    assert b"IntervalReading" not in handler.bodies[0]  # URIs only: the data is pulled through the gate
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"connect.notifications_queued", "connect.notification_sent"} <= actions


def test_an_account_the_member_did_not_authorize_is_not_announced(notified, django_capture_on_commit_callbacks):
    handler, _, _, accounts, _ = notified
    other_meter = accounts[1].premise.meters.get()
    _load_today(other_meter.meter_number, django_capture_on_commit_callbacks)
    assert not Notification.objects.exists() and handler.bodies == []


def test_a_failing_endpoint_is_retried_then_given_up(notified, django_capture_on_commit_callbacks, monkeypatch):
    handler, _, _, accounts, _ = notified
    handler.status = 503
    # The task's back-off belongs to Celery; here each attempt is made by hand, as the retries would.
    monkeypatch.setattr("connect.notifications._enqueue", lambda notification_id: None)
    _load_today(accounts[0].premise.meters.get().meter_number, django_capture_on_commit_callbacks)
    notification = Notification.objects.get()
    outcomes = [notification_send(notification_id=notification.pk) for _ in range(MAX_ATTEMPTS)]
    assert outcomes == ["retry"] * (MAX_ATTEMPTS - 1) + ["failed"]
    assert notification_send(notification_id=notification.pk) == "skipped"  # given up: never sent again
    notification.refresh_from_db()
    assert notification.state == "failed" and notification.attempts == MAX_ATTEMPTS
    assert len(handler.bodies) == MAX_ATTEMPTS and notification.last_error == "HTTP 503"
    assert AuditEvent.objects.filter(action="connect.notification_failed").count() == 1
    assert AuditEvent.objects.filter(action="connect.notification_queued").count() == MAX_ATTEMPTS - 1


def test_the_sweep_sends_what_was_left_queued(notified, django_capture_on_commit_callbacks):
    handler, app, *_ = notified
    old = timezone.now() - datetime.timedelta(minutes=10)
    left = Notification.objects.create(third_party=app.third_party, resources=["https://x/1"], created_at=old)
    stuck = Notification.objects.create(
        third_party=app.third_party, resources=["https://x/2"], created_at=old, state="sending", claimed_at=old
    )
    assert notifications_sweep() == {"recovered": 1, "enqueued": 2}
    left.refresh_from_db()
    stuck.refresh_from_db()
    assert left.state == stuck.state == "sent" and len(handler.bodies) == 2


def test_no_notification_after_the_member_ends_access(notified, django_capture_on_commit_callbacks):
    handler, _, member, accounts, authorization = notified
    services.authorization_revoke(actor=member.user, authorization=authorization)
    _load_today(accounts[0].premise.meters.get().meter_number, django_capture_on_commit_callbacks)
    assert not Notification.objects.exists() and handler.bodies == []


def test_application_information_reports_the_notify_uri(client, notified, django_assert_max_num_queries):
    _, app, member, accounts, _ = notified
    tokens = _tokens(client, app, member, [accounts[0].account_number])  # authorizing again: a fresh token
    with django_assert_max_num_queries(4):  # the token's resolution, the rate limit's none, the registration
        response = client.get(
            f"/espi/1_1/resource/ApplicationInformation/{app.third_party.pk}",
            HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}",
        )
    assert response.status_code == 200
    assert (
        f"<espi:thirdPartyNotifyUri>{app.third_party.notify_uri}</espi:thirdPartyNotifyUri>"
        in response.content.decode()
    )
