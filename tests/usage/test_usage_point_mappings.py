"""Issue 19 item 2: the co-op's UsagePoint -> meter mapping, kept in the admin and the API by the usage
admin (Billing) only; every change audited; what an upload then matches."""

from __future__ import annotations

import pytest

from accounts.usage.models import MeterDay, UsagePointMapping
from members import roles
from members.models import AuditEvent
from tests.factories import MemberFactory, MeterFactory
from tests.usage.test_green_button_corpus import CORPUS

LIST = "/api/usage/point-mappings/"


@pytest.fixture
def billing(client, make_user):
    client.force_login(make_user("billing-usage-admin", role=roles.BILLING))
    return client


def test_the_usage_admin_creates_lists_changes_and_deletes_a_mapping_each_audited(billing, meter):
    other = MeterFactory()
    created = billing.post(
        LIST, {"kind": "title", "value": " Front Electric Meter ", "meter": meter.pk}, "application/json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["value"], body["meter_number"]) == ("Front Electric Meter", meter.meter_number)
    url = f"{LIST}{body['id']}/"
    assert [row["id"] for row in billing.get(LIST).json()] == [body["id"]]
    changed = billing.put(
        url, {"kind": "title", "value": "Front Electric Meter", "meter": other.pk}, "application/json"
    )
    assert changed.status_code == 200 and changed.json()["meter"] == other.pk
    assert billing.delete(url).status_code == 204
    assert not UsagePointMapping.objects.exists()
    actions = list(AuditEvent.objects.filter(action__startswith="usage.point_mapping").values_list("action", flat=True))
    assert sorted(actions) == [
        "usage.point_mapping_changed",
        "usage.point_mapping_created",
        "usage.point_mapping_deleted",
    ]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "colour", "value": "x"}, "kind"),
        ({"kind": "sdp", "value": "   "}, "value"),
        ({"kind": "sdp", "value": "SDP-1", "meter": 999_999}, "meter"),
    ],
)
def test_bad_mapping_input_is_a_400_naming_the_field_and_changes_nothing(billing, meter, payload, field):
    response = billing.post(LIST, {"meter": meter.pk, **payload}, "application/json")
    assert response.status_code == 400 and field in response.json()
    assert (
        not UsagePointMapping.objects.exists()
        and not AuditEvent.objects.filter(action__startswith="usage.point").exists()
    )


def test_one_identifier_names_one_meter_whatever_its_case(billing, meter):
    billing.post(LIST, {"kind": "sdp", "value": "SDP-7781", "meter": meter.pk}, "application/json")
    again = billing.post(LIST, {"kind": "sdp", "value": "sdp-7781", "meter": MeterFactory().pk}, "application/json")
    assert again.status_code == 400 and "value" in again.json()
    assert UsagePointMapping.objects.count() == 1


def test_anonymous_members_and_roles_without_the_permission_are_refused(client, make_user, meter):
    mapping = UsagePointMapping.objects.create(kind="title", value="Front", meter=meter)
    payload = {"kind": "title", "value": "X", "meter": meter.pk}
    assert client.get(LIST).status_code in (401, 403)
    assert client.post(LIST, payload, "application/json").status_code in (401, 403)
    member = make_user("a-member", is_staff=False)
    MemberFactory(user=member)
    for user in [
        member,
        *(make_user(f"role-{n}", role=role) for n, role in enumerate(roles.ALL_ROLES) if role != roles.BILLING),
    ]:
        client.force_login(user)
        assert client.get(LIST).status_code == 403, user
        assert client.get(f"{LIST}{mapping.pk}/").status_code == 403
        assert client.post(LIST, payload, "application/json").status_code == 403
        assert client.delete(f"{LIST}{mapping.pk}/").status_code == 403
        assert client.get("/admin/usage/usagepointmapping/").status_code in (302, 403)
    assert UsagePointMapping.objects.count() == 1


def test_the_usage_admin_edits_mappings_in_the_admin_and_sees_a_batchs_warnings(billing, meter, ingest):
    add = billing.post(
        "/admin/usage/usagepointmapping/add/",
        {"kind": "usage_point_id", "value": "5446AF3F", "meter": meter.pk, "note": ""},
    )
    assert add.status_code == 302, add.content[:2000]
    assert AuditEvent.objects.filter(action="usage.point_mapping_created").exists()
    batch = ingest((CORPUS / "gba_test_usage_data_01.xml").read_bytes(), filename="gb.xml")
    assert MeterDay.objects.filter(meter_id=meter.pk).exists() and batch.readings_not_loaded == 0
    page = billing.get(f"/admin/usage/ingestbatch/{batch.pk}/change/").content.decode()
    assert "processing instruction &lt;?xml-stylesheet?&gt; ignored" in page and "<td>52</td>" in page


def test_an_alliance_sample_posted_to_the_api_loads_and_the_body_carries_its_warnings(billing, meter):
    from django.core.files.uploadedfile import SimpleUploadedFile

    UsagePointMapping.objects.create(kind="title", value="Front Electric Meter", meter=meter)
    data = (CORPUS / "gba_test_usage_data_2.xml").read_bytes()
    response = billing.post("/api/usage/ingest/", {"file": SimpleUploadedFile("gb.xml", data)})
    assert response.status_code == 201, response.content[:500]
    body = response.json()
    assert body["status"] == "loaded" and body["readings_received"] == 860 and body["readings_not_loaded"] == 0
    assert body["warning_count"] > 0 and any("type attribute" in row["reason"] for row in body["warnings"])
    assert all({"line", "reason", "count", "lines"} <= set(row) for row in body["warnings"])


def test_the_command_lists_an_unknown_usage_point_and_the_warnings(db, tmp_path, capsys):
    from django.core.management import call_command

    path = tmp_path / "gb.xml"
    path.write_bytes((CORPUS / "gba_test_usage_data_01.xml").read_bytes())
    call_command("ingest_usage", str(path))
    out = capsys.readouterr().out
    assert "not loaded, line 63: 96 readings of UsagePoint '5446AF3F' ('Front Electric Meter')" in out
    assert "warning, line 2 (1x): processing instruction <?xml-stylesheet?> ignored" in out
