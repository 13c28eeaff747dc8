"""The staff pages outside the admin's model lists (caller verification, releases, the annual review, the
auditor pages), and which roles may open each page.

Apps above the registry register their pages here in ``AppConfig.ready`` (the registry cannot import
them: layers). The admin's index lists the tools the signed-in user may open, and the 403 page names the
roles that hold a page's permission, from ``members.roles.ROLE_PERMISSIONS``, the one truth of who may do
what.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.urls import NoReverseMatch, reverse

from members.roles import ALL_ROLES, ROLE_PERMISSIONS, staff_may


@dataclass(frozen=True)
class StaffTool:
    label: str
    url_name: str
    permission: str
    description: str = ""


TOOLS: list[StaffTool] = []


def register(*tools: StaffTool) -> None:
    for tool in tools:
        if tool not in TOOLS:
            TOOLS.append(tool)


def tools_for(user) -> list[dict[str, str]]:
    """The tools ``user`` may open, with their URLs, in registration order."""
    shown = []
    for tool in TOOLS:
        if not user.has_perm(tool.permission):
            continue
        try:
            url = reverse(tool.url_name)
        except NoReverseMatch:
            continue
        shown.append({"label": tool.label, "url": url, "description": tool.description})
    return shown


def roles_with(permission: str) -> list[str]:
    """The roles that hold ``permission`` (``app_label.codename``), in the roles' own order."""
    return [role for role in ALL_ROLES if permission in ROLE_PERMISSIONS.get(role, set())]


def permission_for(url_name: str) -> str | None:
    """The permission a registered page needs, by its URL name (``namespace:name``)."""
    return next((tool.permission for tool in TOOLS if tool.url_name == url_name), None)


def staff_permission_required(permission: str):
    """A staff page's guard: anonymous visitors go to sign in; a login without a staff role, or whose role
    lacks ``permission``, gets the 403 page (which names the roles that hold it)."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.is_authenticated:
                # Imported here: this module loads with the admin site, before the auth models are ready.
                from django.contrib.auth.views import redirect_to_login

                return redirect_to_login(request.get_full_path())
            if not staff_may(request.user, permission):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
