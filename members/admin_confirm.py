"""A confirmation step for admin actions that matter (close an account, mark members former, approve a
legal basis for a disclosure):
the action first shows what will happen to which records and asks for the reason, and runs only when the
confirmed form comes back with one. No script: the step is a page, so it works the same everywhere."""

from __future__ import annotations

from django.contrib.admin import helpers
from django.template.response import TemplateResponse
from django.urls import reverse


def confirmed_reason(request) -> str | None:
    """The reason given on the confirmation page, or ``None`` while the action is not confirmed yet."""
    if request.POST.get("confirmed") != "yes":
        return None
    reason = " ".join(request.POST.get("action_reason", "").split())
    return reason or None


def ask_to_confirm(
    modeladmin,
    request,
    queryset,
    *,
    title: str,
    consequence: str,
    confirm_label: str,
    heading: str = "This cannot be undone",
    describe=str,
):
    """The confirmation page; ``heading`` says how final the action is (only an irreversible one says it
        cannot be undone: marking a member former, say, is undone by their rejoining); ``describe`` turns each
    record into the line the page lists (what the person confirming needs to see of it)."""
    opts = modeladmin.model._meta
    return TemplateResponse(
        request,
        "admin/confirm_action.html",
        {
            **modeladmin.admin_site.each_context(request),
            "title": title,
            "heading": heading,
            "consequence": consequence,
            "confirm_label": confirm_label,
            "items": [describe(item) for item in queryset],
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action": request.POST.get("action", ""),
            "missing_reason": request.POST.get("confirmed") == "yes",
            "cancel_url": reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"),
            "opts": opts,
        },
    )
