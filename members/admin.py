from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from members import registry_admin  # noqa: F401  (registers the registry's screens: members, bank accounts, credits)
from members.models import AuditEvent, User


@admin.register(User)
class MemberGuardUserAdmin(UserAdmin):
    list_display = ("username", "email", "is_staff", "is_active", "last_login")
    list_filter = ("is_staff", "is_active", "groups")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only for everyone: the database refuses edits anyway, the admin does not offer them."""

    list_display = ("at", "action", "actor_label", "object_type", "object_id")
    list_filter = ("action", "object_type")
    search_fields = ("object_id", "actor_label", "action")
    date_hierarchy = "at"
    list_select_related = ("actor",)
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
