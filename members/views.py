from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve

from members import staff_tools
from members.models import Member
from members.roles import has_staff_role


@login_required
def home(request):
    """Staff with a role go to the admin; members to their portal; anyone else is told why not."""
    if has_staff_role(request.user):
        return redirect("admin:index")
    if Member.objects.filter(user_id=request.user.pk).exists():
        return redirect("portal:home")
    return render(request, "members/home.html")


def permission_denied(request, exception=None):
    """The 403 page: what was refused, and which roles may open the page, in the admin's look for admin
    pages. The roles come from the page's permission (an admin model page: its model's view permission;
    a registered staff tool: its own), never from guesswork; anonymous visitors never reach it (the pages
    send them to sign in first)."""
    permission = _permission_of(request)
    roles = staff_tools.roles_with(permission) if permission else []
    message = str(exception) if exception and str(exception) else ""
    template = "admin/403.html" if request.path.startswith("/admin/") else "403.html"
    context = {"message": message, "roles": roles, "path": request.path}
    if template.startswith("admin/"):
        context.update(admin.site.each_context(request))
    return render(request, template, context, status=403)


def _permission_of(request) -> str | None:
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return None
    if match.namespace == "admin" and match.url_name and "_" in match.url_name:
        model_admin = _admin_for(match.url_name)
        if model_admin is not None:
            opts = model_admin.model._meta
            return f"{opts.app_label}.view_{opts.model_name}"
    return staff_tools.permission_for(match.view_name)


def _admin_for(url_name: str):
    for model, model_admin in admin.site._registry.items():
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        if url_name.startswith(prefix):
            return model_admin
    return None
