"""The staff admin: reachable only by active staff who hold one of the MemberGuard roles.

Django's default lets any ``is_staff`` user in; a co-op employee who was made staff but never given a
role (or whose role was removed) must see nothing. Superusers are not exempt: break-glass access is
a role assignment, which is audited like any other.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from members import admin_nav
from members.admin_autocomplete import AccessLoggedAutocompleteJsonView
from members.roles import has_staff_role
from members.staff_tools import tools_for


class MemberGuardAdminSite(admin.AdminSite):
    site_header = "MemberGuard staff"
    site_title = "MemberGuard"
    index_title = "Member records, Red Flags, disclosures"

    def has_permission(self, request) -> bool:
        # Asked twice per page (the view's guard and each_context): one query per request, not two.
        user = request.user
        checked = getattr(request, "_memberguard_staff_role", None)
        if checked is None or checked[0] is not user:
            checked = (user, has_staff_role(user))
            request._memberguard_staff_role = checked
        return checked[1]

    def get_app_list(self, request, app_label=None):
        # Built once per permission set, not on every page (members/admin_nav.py).
        return admin_nav.cached_app_list(self, request, app_label, super().get_app_list)

    def index(self, request, extra_context=None):
        # The staff pages outside the model lists (members/staff_tools.py), those this user may open.
        return super().index(request, {"staff_tools": tools_for(request.user), **(extra_context or {})})

    def autocomplete_view(self, request):
        # The pickers' lookups leave an access-log row where they show members (members/admin_autocomplete.py).
        return AccessLoggedAutocompleteJsonView.as_view(admin_site=self)(request)

    def login(self, request, extra_context=None):
        """Staff sign in through allauth like everyone else (throttle, MFA); the admin's own form is gone."""
        target = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = reverse("admin:index")
        return HttpResponseRedirect(f"{reverse('account_login')}?{urlencode({REDIRECT_FIELD_NAME: target})}")


class MemberGuardAdminConfig(AdminConfig):
    default_site = "members.admin_site.MemberGuardAdminSite"
