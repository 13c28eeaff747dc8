"""Staff roles as Django groups, least privilege first.

Each role lists the permissions (``app_label.codename``) it needs and nothing more. Apps add the
permissions of their own models here as they arrive; ``sync_roles`` is idempotent and removes any
permission a role no longer lists, so this file is the single truth of who may do what.
"""

from __future__ import annotations

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
    asks once per request, and those queries and the set built from them were a tenth of the CSR's
    lookup (members/find.py). The answer is the same for every user and permission
    (tests/registry/test_staff_may.py compares the two for each role).
    """
    if not (user.is_authenticated and user.is_active and user.is_staff):
        return False
    # The auth models are not ready when this module loads.
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db.models import Exists, OuterRef, Q

    app_label, _, codename = permission.partition(".")
    model = get_user_model()  # not type(user): a request's user is a lazy wrapper
    in_role = model.groups.through.objects.filter(user_id=OuterRef("pk"), group__name__in=ALL_ROLES)
    granted = Permission.objects.filter(content_type__app_label=app_label, codename=codename).filter(
        Q(user=OuterRef("pk")) | Q(group__user=OuterRef("pk"))
    )
    answer = model.objects.filter(pk=user.pk).values_list(Exists(in_role), Exists(granted)).first()
    if answer is None:
        return False
    role, holds = answer
    return bool(role and (holds or user.is_superuser))


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
