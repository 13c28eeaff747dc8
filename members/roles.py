"""Staff roles as Django groups, least privilege first.

Each role lists the permissions (``app_label.codename``) it needs and nothing more. Apps add the
permissions of their own models here as they arrive; ``sync_roles`` is idempotent and removes any
permission a role no longer lists, so this file is the single truth of who may do what.
"""

from __future__ import annotations

import functools

from django.apps import apps as global_apps

CSR = "Member Services (CSR)"
BILLING = "Billing"
RED_FLAG_ANALYST = "Red Flag Analyst"
PROGRAM_ADMINISTRATOR = "Program Administrator"
PRIVACY_OFFICER = "Privacy Officer"
AUDITOR = "Auditor"

ALL_ROLES = (CSR, BILLING, RED_FLAG_ANALYST, PROGRAM_ADMINISTRATOR, PRIVACY_OFFICER, AUDITOR)


def has_staff_role(user) -> bool:
    """An active staff login holding at least one MemberGuard role (a portal login never does)."""
    return bool(user.is_active and user.is_staff and user.groups.filter(name__in=ALL_ROLES).exists())


def staff_may(user, permission: str) -> bool:
    """``has_staff_role(user) and user.has_perm(permission)`` in one query (a staff page's guard).

    ``has_perm`` loads every permission the user holds, by two queries, to answer for one; a staff page
    asks once per request. The question is one fixed statement (``_role_and_grant``): built with the ORM it
    cost about 2.8 ms of Python per request, a fifth of the CSR's lookup (members/find.py). The answer is
    the same for every user and permission (tests/registry/test_staff_may.py compares the two for each
    role).
    """
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    role, holds = _role_and_grant(user, permission)
    return role and (holds or user.is_superuser)


def may(user, permission: str) -> bool:
    """``user.has_perm(permission)`` in one fixed statement: an active login that is a superuser, or holds the
    permission directly or through a group (``ModelBackend``'s rule). ``has_perm`` loads every permission
    the login holds, by two queries composed with the ORM, to answer for one: a third of a member's usage
    API request (accounts/usage/api.py). Compared with ``has_perm`` in tests/registry/test_staff_may.py."""
    if not (user.is_authenticated and user.is_active):
        return False
    if user.is_superuser:
        return True
    return _role_and_grant(user, permission)[1]


def _role_and_grant(user, permission: str) -> tuple[bool, bool]:
    """Whether the login holds a MemberGuard role, and whether ``permission`` is granted to it directly or
    through one of its groups: one fixed statement (``_role_and_grant_sql``)."""
    from django.db import connection  # the auth models are not ready when this module loads

    app_label, _, codename = permission.partition(".")
    with connection.cursor() as cursor:
        cursor.execute(_role_and_grant_sql(), [user.pk, list(ALL_ROLES), app_label, codename, user.pk, user.pk])
        role, holds = cursor.fetchone()
    return bool(role), bool(holds)


@functools.cache
def _role_and_grant_sql() -> str:
    """Whether the user holds a role, and whether the permission is granted to them directly or through one
    of their groups (as ``ModelBackend`` reads it); the tables' names come from the models."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group, Permission

    user_model = get_user_model()
    memberships = user_model.groups.through._meta.db_table
    direct = user_model.user_permissions.through._meta.db_table
    granted = Group.permissions.through._meta.db_table
    permissions = Permission._meta.db_table
    types = Permission._meta.get_field("content_type").related_model._meta.db_table
    groups = Group._meta.db_table
    return (
        f"SELECT EXISTS (SELECT 1 FROM {memberships} m JOIN {groups} g ON g.id = m.group_id"  # noqa: S608
        f" WHERE m.user_id = %s AND g.name = ANY(%s)),"
        f" EXISTS (SELECT 1 FROM {permissions} p JOIN {types} t ON t.id = p.content_type_id"
        f" WHERE t.app_label = %s AND p.codename = %s AND ("
        f"EXISTS (SELECT 1 FROM {direct} d WHERE d.permission_id = p.id AND d.user_id = %s)"
        f" OR EXISTS (SELECT 1 FROM {granted} gp JOIN {memberships} m ON m.group_id = gp.group_id"
        f" WHERE gp.permission_id = p.id AND m.user_id = %s)))"
    )


# Permissions per role. Codenames for models that do not exist yet are ignored by sync_roles and
# attached once their app migrates.
ROLE_PERMISSIONS: dict[str, set[str]] = {
    CSR: set(),
    BILLING: set(),
    RED_FLAG_ANALYST: set(),
    PROGRAM_ADMINISTRATOR: {"members.view_auditevent"},
    PRIVACY_OFFICER: {"members.view_auditevent"},
    AUDITOR: {"members.view_auditevent"},
}


def grant(role: str, *permissions: str) -> None:
    """Used by other apps' ``roles`` sections at import time to add their permissions to a role."""
    ROLE_PERMISSIONS[role].update(permissions)


def sync_roles(apps=None) -> None:
    if apps is None:
        apps = global_apps
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # One query for every permission (a query per permission per role, run once per app's post_migrate,
    # cost ~20 s each time a transactional test's flush re-emitted the signal).
    by_name = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.values_list("pk", "content_type__app_label", "codename")
    }
    for role in ALL_ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        wanted = {by_name[dotted] for dotted in ROLE_PERMISSIONS[role] if dotted in by_name}
        if set(group.permissions.values_list("pk", flat=True)) != wanted:
            group.permissions.set(wanted)


def sync_after_migrate(sender, **kwargs) -> None:
    """Once per migrate, after the last app's permissions exist (post_migrate is sent once per app)."""
    with_models = [config for config in global_apps.get_app_configs() if config.models_module is not None]
    if with_models and sender is not with_models[-1]:
        return
    sync_roles()
