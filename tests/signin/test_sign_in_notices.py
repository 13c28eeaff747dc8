"""A member hears when their password or two-step sign-in changes."""

from __future__ import annotations

import pytest
from allauth.mfa.signals import authenticator_added
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

from members.notices.models import Notice
from tests.conftest import PASSWORD
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_password_change_is_told_to_the_member(client):
    member = MemberFactory(email="pat@example.test", user=UserFactory(username="pat"))
    client.force_login(member.user)
    response = client.post(
        "/auth/password/change/",
        {"oldpassword": PASSWORD, "password1": "another-long-pass-77", "password2": "another-long-pass-77"},
    )
    assert response.status_code == 302
    (notice,) = Notice.objects.filter(member=member, kind="sign_in_changed")
    assert notice.to_email == "pat@example.test" and "your password was changed" in notice.body


def test_a_new_authenticator_is_told_to_the_member(rf):
    member = MemberFactory(user=UserFactory(username="quinn"))
    authenticator = TOTP.activate(member.user, generate_totp_secret()).instance
    authenticator_added.send(
        sender=type(authenticator), request=rf.get("/"), user=member.user, authenticator=authenticator
    )
    assert Notice.objects.filter(member=member, kind="sign_in_changed", body__contains="was added").exists()


def test_staff_sign_in_changes_send_no_member_notice(client, make_user):
    user = make_user("staffer")
    client.force_login(user)
    client.post(
        "/auth/password/change/",
        {"oldpassword": PASSWORD, "password1": "another-long-pass-77", "password2": "another-long-pass-77"},
    )
    assert not Notice.objects.exists()
