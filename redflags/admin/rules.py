"""Rules and their versions: the Program Administrator drafts (add), dry-runs, activates and retires.

A version that has been live never changes; the actions call ``services.rules``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from redflags.admin.base import ReadOnlyAdmin, RecordOnlyAdmin
from redflags.models import Rule, RuleVersion
from redflags.services import rules


class RuleVersionInline(admin.TabularInline):
    model = RuleVersion
    fields = ("number", "status", "weight", "minimum_outcome", "parameters", "activated_at", "retired_at", "dry_run")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Rule)
class RuleAdmin(ReadOnlyAdmin):
    list_display = ("code", "category", "title", "active")
    list_filter = ("category",)
    fields = ("code", "category", "title", "wording", "detects_on")
    readonly_fields = fields
    inlines = [RuleVersionInline]

    @admin.display(description="active version")
    def active(self, obj):
        version = obj.active_version
        return f"v{version.number} (weight {version.weight}, ≥ {version.minimum_outcome})" if version else "none"


class RuleVersionForm(forms.ModelForm):
    class Meta:
        model = RuleVersion
        fields = ("rule", "weight", "minimum_outcome", "parameters", "notes")


@admin.register(RuleVersion)
class RuleVersionAdmin(RecordOnlyAdmin):
    form = RuleVersionForm
    list_display = (
        "rule",
        "number",
        "status",
        "weight",
        "minimum_outcome",
        "activated_at",
        "retired_at",
        "dry_run_summary",
    )
    list_filter = ("status", "rule__category")
    list_select_related = ("rule",)
    actions = ["dry_run", "activate", "retire"]

    @admin.display(description="last dry run")
    def dry_run_summary(self, obj):
        if not obj.dry_run:
            return ""
        run = obj.dry_run
        return (
            f"{run['accounts_flagged_with_draft']} accounts would be queued "
            f"(now {run['accounts_flagged_now']}) over {run['days']} days"
        )

    def save_model(self, request, obj, form, change):
        version = self._call(
            request,
            rules.rule_version_draft,
            actor=request.user,
            rule=obj.rule,
            weight=obj.weight,
            minimum_outcome=obj.minimum_outcome,
            parameters=obj.parameters,
            notes=obj.notes,
        )
        if version is not None:
            obj.pk = version.pk
            obj.number = version.number

    def has_manage_permission(self, request) -> bool:
        return request.user.has_perm("redflags.manage_rules")

    @admin.action(description="Dry run against past events (365 days)", permissions=["manage"])
    def dry_run(self, request, queryset):
        for version in queryset:
            summary = self._call(request, rules.rule_version_dry_run, actor=request.user, version=version)
            if summary:
                messages.info(
                    request,
                    f"{version}: {summary['accounts_flagged_with_draft']} accounts would have been queued "
                    f"(now {summary['accounts_flagged_now']}), {summary['events']} past events.",
                )

    @admin.action(description="Activate (retires the current version)", permissions=["manage"])
    def activate(self, request, queryset):
        for version in queryset:
            if self._call(request, rules.rule_version_activate, actor=request.user, version=version):
                messages.success(request, f"{version.rule.code} v{version.number} is now active.")

    @admin.action(description="Retire", permissions=["manage"])
    def retire(self, request, queryset):
        for version in queryset:
            if self._call(
                request,
                rules.rule_version_retire,
                actor=request.user,
                version=version,
                reason="retired in the admin",
            ):
                messages.success(request, f"{version.rule.code} v{version.number} retired.")
