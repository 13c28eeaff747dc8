"""Retention schedules (Privacy Officer edits, with a reason) and the record of purges (read-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from retention.models import PurgeRun, RetentionPolicy
from retention.services import retention_policy_update
from retention.tasks import purge_category


class RetentionPolicyForm(forms.ModelForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why the schedule changes (audited).")

    class Meta:
        model = RetentionPolicy
        fields = ["retain_days", "enabled", "basis"]


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    form = RetentionPolicyForm
    list_display = ("category", "retain_days", "enabled", "updated_at", "updated_by")
    readonly_fields = ("category", "updated_at", "updated_by")
    actions = ["purge_now"]

    def has_add_permission(self, request) -> bool:
        return False  # one row per category, created by the defaults

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        # The service writes the row and its audit event together; the admin never saves directly.
        original = RetentionPolicy.objects.get(pk=obj.pk)
        retention_policy_update(
            policy=original,
            retain_days=form.cleaned_data["retain_days"],
            enabled=form.cleaned_data["enabled"],
            basis=form.cleaned_data["basis"],
            actor=request.user,
            reason=form.cleaned_data["reason"],
        )

    @admin.action(description="Run the purge for the selected categories now", permissions=["run_purge"])
    def purge_now(self, request, queryset):
        for policy in queryset:
            purge_category.delay(policy.category, request.user.pk)
        messages.info(request, f"{queryset.count()} purge(s) queued; see Purge runs for the result.")

    def has_run_purge_permission(self, request) -> bool:
        return request.user.has_perm("retention.run_purge")


@admin.register(PurgeRun)
class PurgeRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "category", "status", "records_destroyed", "batches", "cutoff", "triggered_by")
    list_filter = ("category", "status")
    list_select_related = ("triggered_by",)
    readonly_fields = [f.name for f in PurgeRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
