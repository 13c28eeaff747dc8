from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from accounts.usage.models import IngestBatch, MeterDay
from members import roles
from members.models import AuditEvent
from tests.factories import MemberFactory, OpenAccountFactory
from tests.usage.conftest import OPENED, csv_bytes, day_lines
from tests.usage.espi import espi_feed

DAY = datetime.date(2026, 10, 14)
INGEST = "/api/usage/ingest/"


def _upload(data: bytes, name: str = "reads.csv"):
    return {"file": SimpleUploadedFile(name, data, content_type="text/csv")}


@pytest.fixture
def integration(make_user):
    """The MDMS integration: a non-staff service user holding only usage.ingest_readings."""
    user = make_user("mdms-integration", is_staff=False)
    user.user_permissions.add(Permission.objects.get(codename="ingest_readings", content_type__app_label="usage"))
    return user


@pytest.fixture
def owner(make_user, account):
    user = make_user("member-owner", is_staff=False)
    account.member.user = user
    account.member.save(update_fields=["user"])
    return user


# --- ingest -----------------------------------------------------------------------------------


def test_the_integration_user_posts_a_csv_file_and_gets_the_batch(client, integration, meter):
    client.force_login(integration)
    response = client.post(INGEST, _upload(csv_bytes(day_lines(meter.meter_number, DAY))))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "loaded" and body["readings_received"] == 96 and body["bad_row_count"] == 0
    assert MeterDay.objects.filter(meter_id=meter.pk).count() == 1
    assert IngestBatch.objects.get(pk=body["id"]).actor == integration
    assert client.get(f"/api/usage/batches/{body['id']}/").json()["id"] == body["id"]


def test_billing_may_post_an_espi_file(staff_client, meter):
    from accounts.usage import timegrid

    readings = [(int(timegrid.slot_start_utc(DAY, 15, s).timestamp()), 900, 5, None) for s in range(96)]
    response = staff_client(roles.BILLING).post(INGEST, _upload(espi_feed(meter.meter_number, readings), "gb.xml"))
    assert response.status_code == 201 and response.json()["file_format"] == "espi"


def test_a_malformed_file_posted_is_a_400_naming_the_problem(client, integration, meter):
    client.force_login(integration)
    response = client.post(INGEST, _upload(b"not,a,usage,file\n"))
    assert response.status_code == 400 and "wrong header" in response.json()["rejection_reason"]
    assert not MeterDay.objects.exists()


def test_bad_rows_come_back_with_line_and_reason(client, integration, meter):
    client.force_login(integration)
    lines = day_lines(meter.meter_number, DAY)[:2] + ["NOPE,2026-10-14T00:30:00-05:00,900,5,actual,delivered"]
    body = client.post(INGEST, _upload(csv_bytes(lines))).json()
    assert body["bad_rows"] == [{"line": 4, "reason": "unknown meter 'NOPE'"}]


def test_an_anonymous_caller_cannot_ingest(client, meter):
    response = client.post(INGEST, _upload(csv_bytes(day_lines(meter.meter_number, DAY))))
    assert response.status_code in (401, 403)
    assert not IngestBatch.objects.exists()


@pytest.mark.parametrize(
    "role", [roles.CSR, roles.RED_FLAG_ANALYST, roles.PRIVACY_OFFICER, roles.AUDITOR, roles.PROGRAM_ADMINISTRATOR]
)
def test_roles_without_the_permission_cannot_ingest(staff_client, meter, role):
    response = staff_client(role).post(INGEST, _upload(csv_bytes(day_lines(meter.meter_number, DAY))))
    assert response.status_code == 403 and not IngestBatch.objects.exists()


def test_a_member_cannot_ingest(client, owner, meter):
    client.force_login(owner)
    assert client.post(INGEST, _upload(csv_bytes(day_lines(meter.meter_number, DAY)))).status_code == 403


def test_batch_details_are_not_for_members(client, owner, integration, meter):
    client.force_login(integration)
    batch_id = client.post(INGEST, _upload(csv_bytes(day_lines(meter.meter_number, DAY)))).json()["id"]
    client.force_login(owner)
    assert client.get(f"/api/usage/batches/{batch_id}/").status_code == 403


# --- reads ------------------------------------------------------------------------------------


@pytest.fixture
def loaded(meter, ingest):
    return ingest(csv_bytes(day_lines(meter.meter_number, DAY)))


def test_the_member_reads_their_own_account_by_period(client, owner, account, loaded):
    client.force_login(owner)
    body = client.get(f"/api/usage/accounts/{account.pk}/", {"period": "day", "day": "2026-10-14"}).json()
    assert body["granularity"] == "interval" and len(body["points"]) == 96 and body["points"][0]["wh"] == 100
    month = client.get(f"/api/usage/accounts/{account.pk}/", {"period": "month", "day": "2026-10-01"}).json()
    assert month["points"] == [
        {"day": "2026-10-14", "channel": "delivered", "wh": sum(range(100, 196)), "estimated": False, "missing": False}
    ]
    assert not AuditEvent.objects.filter(action="usage.viewed").exists()


def test_the_member_downloads_intervals_as_streamed_csv(client, owner, account, loaded):
    client.force_login(owner)
    response = client.get(
        f"/api/usage/accounts/{account.pk}/intervals.csv", {"first_day": "2026-10-14", "last_day": "2026-10-14"}
    )
    assert response.status_code == 200 and response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "start_utc,duration_s,value_wh,quality,channel"
    assert lines[1] == "2026-10-14T05:00:00Z,900,100,actual,delivered" and len(lines) == 97


def test_a_member_cannot_read_another_members_account(client, account, loaded, make_user):
    stranger = make_user("member-stranger", is_staff=False)
    MemberFactory(user=stranger)
    OpenAccountFactory(member=stranger.member, opened_at=OPENED)
    client.force_login(stranger)
    assert client.get(f"/api/usage/accounts/{account.pk}/", {"period": "month"}).status_code == 404
    assert (
        client.get(
            f"/api/usage/accounts/{account.pk}/intervals.csv", {"first_day": "2026-10-14", "last_day": "2026-10-14"}
        ).status_code
        == 404
    )


def test_an_anonymous_caller_cannot_read_usage(client, account, loaded):
    assert client.get(f"/api/usage/accounts/{account.pk}/").status_code in (401, 403)
    assert client.get(f"/api/usage/accounts/{account.pk}/intervals.csv").status_code in (401, 403)


@pytest.mark.parametrize("role", [roles.RED_FLAG_ANALYST, roles.AUDITOR, roles.PRIVACY_OFFICER])
def test_staff_roles_without_the_permission_cannot_read_usage(staff_client, account, loaded, role):
    assert staff_client(role).get(f"/api/usage/accounts/{account.pk}/", {"period": "month"}).status_code == 403


@pytest.mark.parametrize("role", [roles.CSR, roles.BILLING])
def test_member_services_and_billing_read_usage_and_the_read_is_audited(staff_client, account, loaded, role):
    response = staff_client(role).get(f"/api/usage/accounts/{account.pk}/", {"period": "day", "day": "2026-10-14"})
    assert response.status_code == 200 and len(response.json()["points"]) == 96
    event = AuditEvent.objects.get(action="usage.viewed")
    assert event.object_id == str(account.pk) and event.detail["period"] == "day"


def test_a_bad_period_or_range_is_a_400(client, owner, account):
    client.force_login(owner)
    assert client.get(f"/api/usage/accounts/{account.pk}/", {"period": "decade"}).status_code == 400
    assert (
        client.get(
            f"/api/usage/accounts/{account.pk}/",
            {"period": "range", "first_day": "2026-10-14", "last_day": "2026-01-01"},
        ).status_code
        == 400
    )


# --- management command -----------------------------------------------------------------------


def test_the_command_loads_a_file_and_lists_bad_rows(meter, tmp_path, capsys):
    path = tmp_path / "reads.csv"
    path.write_bytes(
        csv_bytes(day_lines(meter.meter_number, DAY) + ["NOPE,2026-10-14T00:30:00-05:00,900,5,actual,delivered"])
    )
    call_command("ingest_usage", str(path))
    out = capsys.readouterr().out
    assert "97 readings" in out and "1 bad rows" in out and "line 98: unknown meter" in out
    assert IngestBatch.objects.get().source == "command"


def test_the_command_fails_loudly_on_a_malformed_file(meter, tmp_path):
    path = tmp_path / "reads.csv"
    path.write_bytes(b"nonsense\n")
    with pytest.raises(CommandError, match="rejected"):
        call_command("ingest_usage", str(path))
    assert not MeterDay.objects.exists()


def test_billing_sees_received_files_in_the_admin_and_a_csr_does_not(
    staff_client, loaded, django_assert_max_num_queries
):
    client = staff_client(roles.BILLING)
    with django_assert_max_num_queries(12):
        response = client.get("/admin/usage/ingestbatch/")
    assert response.status_code == 200 and b"test.csv" in response.content
    assert client.get(f"/admin/usage/ingestbatch/{loaded.pk}/change/").status_code == 200
    client.logout()
    assert staff_client(roles.CSR).get("/admin/usage/ingestbatch/").status_code == 403


# --- Green Button (ESPI) download ---------------------------------------------------------------


def test_the_member_downloads_green_button_xml_that_validates_against_the_espi_schema(client, owner, account, loaded):
    from lxml import etree

    from accounts.usage.espi import espi_validate

    client.force_login(owner)
    response = client.get(
        f"/api/usage/accounts/{account.pk}/greenbutton.xml", {"first_day": "2026-10-14", "last_day": "2026-10-14"}
    )
    assert response.status_code == 200 and response.streaming and response["Content-Type"] == "application/atom+xml"
    assert "attachment" in response["Content-Disposition"]
    document = b"".join(response.streaming_content)
    assert espi_validate(document) == []
    ns = {"espi": "http://naesb.org/espi"}
    readings = etree.fromstring(document).findall(".//espi:IntervalReading", ns)
    assert len(readings) == 96
    assert [int(r.find("espi:value", ns).text) for r in readings[:3]] == [100, 101, 102]
    assert int(readings[0].find("espi:timePeriod/espi:start", ns).text) == int(
        datetime.datetime(2026, 10, 14, 5, tzinfo=datetime.UTC).timestamp()
    )
    assert not AuditEvent.objects.filter(
        action="usage.viewed"
    ).exists()  # a member's own data: access, not a staff read


def test_green_button_is_refused_to_another_member_anonymous_and_roles_without_usage(
    client, account, loaded, make_user, staff_client
):
    url = f"/api/usage/accounts/{account.pk}/greenbutton.xml"
    params = {"first_day": "2026-10-14", "last_day": "2026-10-14"}
    assert client.get(url, params).status_code in (401, 403)
    stranger = make_user("member-stranger-gb", is_staff=False)
    MemberFactory(user=stranger)
    client.force_login(stranger)
    assert client.get(url, params).status_code == 404
    assert staff_client(roles.AUDITOR).get(url, params).status_code == 403


def test_green_button_needs_a_bounded_period(client, owner, account, loaded):
    client.force_login(owner)
    url = f"/api/usage/accounts/{account.pk}/greenbutton.xml"
    assert client.get(url).status_code == 400
    assert client.get(url, {"first_day": "2026-10-14", "last_day": "2025-01-01"}).status_code == 400
    assert client.get(url, {"first_day": "2024-01-01", "last_day": "2026-10-14"}).status_code == 400
