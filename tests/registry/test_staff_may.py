"""``members.roles.staff_may``: one query for a staff page's guard, the same answer as
``has_staff_role(user) and user.has_perm(permission)`` for every kind of login and permission."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from members import roles
from members.roles import has_staff_role, may, staff_may

pytestmark = pytest.mark.django_db

PERMISSIONS = sorted(
    {permission for held in roles.ROLE_PERMISSIONS.values() for permission in held}
    | {"members.view_member", "members.search_identifiers", "redflags.verify_caller", "no_such.permission"}
)


def _logins(make_user) -> list:
    logins = [make_user(f"role-{index}", role=role) for index, role in enumerate(roles.ALL_ROLES)]
    logins.append(make_user("staff-no-role", is_staff=True))  # the staff flag alone: no role
    inactive = make_user("inactive-csr", role=roles.CSR)
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    logins.append(inactive)
    not_staff = make_user("portal-with-role", role=roles.CSR, is_staff=False)  # a role but no staff flag
    logins.append(not_staff)
    superuser = make_user("super-no-role", is_staff=True, is_superuser=True)
    logins.append(superuser)
    super_csr = make_user("super-csr", role=roles.CSR, is_superuser=True)
    logins.append(super_csr)
    direct = make_user("direct-grant", role=roles.AUDITOR)  # a permission granted to the login itself
    direct.user_permissions.add(Permission.objects.get(content_type__app_label="redflags", codename="verify_caller"))
    logins.append(direct)
    other_group = make_user("other-group", is_staff=True)  # a group that is not a MemberGuard role
    group, _ = Group.objects.get_or_create(name="Not a role")
    group.permissions.add(Permission.objects.get(content_type__app_label="members", codename="view_member"))
    other_group.groups.add(group)
    logins.append(other_group)
    return logins


def test_staff_may_answers_as_has_staff_role_and_has_perm_for_every_login_and_permission(make_user):
    for login in _logins(make_user):
        fresh = type(login).objects.get(pk=login.pk)  # no permission cache carried over
        for permission in PERMISSIONS:
            expected = has_staff_role(fresh) and fresh.has_perm(permission)
            assert staff_may(type(login).objects.get(pk=login.pk), permission) == expected, (login.username, permission)


def test_an_anonymous_visitor_may_nothing():
    from django.contrib.auth.models import AnonymousUser

    assert staff_may(AnonymousUser(), "members.view_member") is False


def test_the_guard_asks_one_query(make_user, django_assert_num_queries):
    csr = make_user("csr-one-query", role=roles.CSR)
    fresh = type(csr).objects.get(pk=csr.pk)
    with django_assert_num_queries(1):
        assert staff_may(fresh, "members.view_member") is True


def test_may_answers_as_has_perm_for_every_login_and_permission(make_user):
    for login in _logins(make_user):
        for permission in PERMISSIONS:
            expected = type(login).objects.get(pk=login.pk).has_perm(permission)
            assert may(type(login).objects.get(pk=login.pk), permission) == expected, (login.username, permission)


def test_may_asks_at_most_one_query(make_user, django_assert_max_num_queries):
    csr = make_user("csr-may-one-query", role=roles.CSR)
    fresh = type(csr).objects.get(pk=csr.pk)
    with django_assert_max_num_queries(1):
        assert may(fresh, "members.view_member") is True
