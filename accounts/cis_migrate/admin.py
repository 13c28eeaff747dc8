"""The migration runs in the staff admin: read-only reconciliations, signed off by an admin action.

Rows are written only by ``manage.py cis_migrate`` (append-only); the sign-off goes through
``services.migration_run_sign_off`` (the migration lead, not the operator, and only a balanced run).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from accounts.cis_migrate import services
from accounts.models import MigrationRun


@admin.register(MigrationRun)
class MigrationRunAdmin(admin.ModelAdmin):
    list_display = ("id", "finished_at", "source", "outcome", "balanced", "problems", "run_by", "signed_off_by")
    list_filter = ("outcome", "balanced")
    list_select_related = ("run_by", "sign_off__signed_by")
    readonly_fields = [field.name for field in MigrationRun._meta.fields] + ["signed_off_by"]
    actions = ["sign_off"]

    @admin.display(description="signed off by")
    def signed_off_by(self, run: MigrationRun) -> str:
        sign_off = getattr(run, "sign_off", None)
        return f"{sign_off.signed_by} at {sign_off.signed_at:%Y-%m-%d %H:%M}" if sign_off else "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not request.user.has_perm(services.SIGN_OFF_PERMISSION):
            actions.pop("sign_off", None)
        return actions

    @admin.action(description="Sign off the reconciliation of the selected runs")
    def sign_off(self, request, queryset):
        for run in queryset:
            try:
                services.migration_run_sign_off(run=run, actor=request.user)
            except ValidationError as exc:
                self.message_user(request, f"Run {run.pk}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"Run {run.pk} signed off.", messages.SUCCESS)
