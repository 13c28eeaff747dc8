from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import DatabaseError, transaction

from members import roles
from members.audit import AuditOutsideTransaction, audit_record
from members.models import AuditEvent, User

pytestmark = pytest.mark.django_db


def _event() -> AuditEvent:
    with transaction.atomic():
        return audit_record(
            actor=None, actor_label="test", action="test.action", object_type="thing", object_id=1, fields=["b", "a"]
        )


def test_an_audit_row_records_who_what_and_which_fields():
    event = _event()
    assert (event.action, event.object_type, event.object_id, event.fields) == ("test.action", "thing", "1", ["a", "b"])
    assert event.actor_label == "test"


def test_the_database_refuses_to_update_an_audit_row():
    event = _event()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="rewritten")
    assert AuditEvent.objects.get(pk=event.pk).action == "test.action"


def test_the_database_refuses_to_delete_an_audit_row():
    event = _event()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_audit_refuses_to_write_outside_a_transaction(django_db_blocker):
    # pytest-django wraps each test in a transaction, so leave it to see the guard fire.
    from django.db import connection

    in_block = connection.in_atomic_block
    connection.in_atomic_block = False
    try:
        with pytest.raises(AuditOutsideTransaction):
            audit_record(actor=None, action="test.outside")
    finally:
        connection.in_atomic_block = in_block


def test_audit_refuses_a_detail_that_carries_an_ssn():
    with pytest.raises(ValueError, match="identifier"), transaction.atomic():
        audit_record(actor=None, action="test.leak", detail={"note": "caller gave 123-45-6789"})
    assert not AuditEvent.objects.filter(action="test.leak").exists()


def test_every_role_exists_as_a_group():
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ALL_ROLES)


def test_the_auditor_role_can_view_the_audit_trail_but_not_change_it(make_user):
    user = make_user("aud", role=roles.AUDITOR)
    assert user.has_perm("members.view_auditevent")
    assert not user.has_perm("members.change_auditevent")
    assert not user.has_perm("members.delete_auditevent")


def test_a_csr_cannot_read_the_audit_trail(make_user):
    assert not make_user("csr", role=roles.CSR).has_perm("members.view_auditevent")


class TestAdminAccess:
    def test_anonymous_is_sent_to_login(self, client):
        response = client.get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]

    def test_staff_without_a_role_is_refused(self, client, make_user):
        client.force_login(make_user("norole", is_staff=True))
        assert client.get("/admin/").status_code == 302

    def test_a_role_without_staff_status_is_refused(self, client, make_user):
        client.force_login(make_user("notstaff", role=roles.CSR, is_staff=False))
        assert client.get("/admin/").status_code == 302

    def test_a_superuser_without_a_role_is_refused(self, client):
        client.force_login(User.objects.create_superuser("root", password="x-long-password-1"))
        assert client.get("/admin/").status_code == 302

    def test_staff_with_a_role_gets_in(self, client, make_user):
        client.force_login(make_user("csr", role=roles.CSR))
        assert client.get("/admin/").status_code == 200

    def test_the_auditor_sees_the_audit_list_read_only(self, client, auditor):
        _event()
        client.force_login(auditor)
        response = client.get("/admin/members/auditevent/")
        assert response.status_code == 200 and b"test.action" in response.content
        event = AuditEvent.objects.first()
        assert client.post(f"/admin/members/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
        assert AuditEvent.objects.filter(pk=event.pk).exists()

    def test_a_csr_cannot_open_the_audit_list(self, client, make_user):
        client.force_login(make_user("csr", role=roles.CSR))
        assert client.get("/admin/members/auditevent/").status_code == 403


class TestHome:
    def test_anonymous_is_asked_to_sign_in(self, client):
        response = client.get("/")
        assert response.status_code == 302 and "/auth/login/" in response["Location"]

    def test_staff_go_to_the_admin(self, client, make_user):
        client.force_login(make_user("csr", role=roles.CSR))
        assert client.get("/")["Location"] == "/admin/"

    def test_a_member_sees_the_portal(self, client, make_user):
        client.force_login(make_user("member-1"))
        response = client.get("/")
        assert response.status_code == 200 and b"member portal" in response.content


def test_seed_demo_is_idempotent(settings):
    settings.DEBUG = True
    call_command("seed_demo")
    users, events = User.objects.count(), AuditEvent.objects.count()
    call_command("seed_demo")
    assert (User.objects.count(), AuditEvent.objects.count()) == (users, events)
    assert User.objects.get(username="auditor").groups.filter(name=roles.AUDITOR).exists()


def test_seed_demo_refuses_to_run_in_production(settings):
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo")
