"""Holds on the member's admin page: an inline added to the registry's member admin from here, because
``members`` may not import ``retention`` (layers). Read-only: holds are placed and released through the
Hold admin (services, four eyes), never by saving the member form."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from members.models import Member
from retention.models import Hold


class MemberHoldInline(admin.TabularInline):
    model = Hold
    fk_name = "member"
    extra = 0
    can_delete = False
    verbose_name_plural = "Retention holds (records kept past their period, and why)"
    fields = ("link", "kind", "reason", "legal_reference", "placed_at", "placed_by", "released_at")
    readonly_fields = fields

    @admin.display(description="hold")
    def link(self, obj: Hold) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("admin:retention_hold_change", args=[obj.pk]), obj.pk)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


_member_admin = admin.site._registry.get(Member)
if _member_admin is not None and MemberHoldInline not in _member_admin.inlines:
    _member_admin.inlines = [*_member_admin.inlines, MemberHoldInline]
