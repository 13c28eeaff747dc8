"""Retention in the admin: schedules (changes that destroy more wait for a second Privacy Officer),
holds, pending changes with their preview, and the read-only record of purges with certificates."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from retention import services
from retention.certificates import certificate_csv, certificate_pdf
from retention.models import DestructionCertificate, Hold, PendingChange, PurgeRun, RetentionPolicy
from retention.tasks import run_approved_purge


def _errors(request, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RetentionPolicyForm(forms.ModelForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="Why the schedule changes (audited).")

    class Meta:
        model = RetentionPolicy
        fields = ["retain_days", "enabled", "basis"]

    def clean(self):
        data = super().clean()
        if "retain_days" in data and self.instance.pk:
            services.policies.check_period(self.instance.category, data["retain_days"])
        return data


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    form = RetentionPolicyForm
    list_display = ("category", "retain_days", "enabled", "updated_at", "updated_by", "approved_by")
    readonly_fields = ("category", "updated_at", "updated_by", "approved_by", "approved_at")
    actions = ["purge_now"]

    def has_add_permission(self, request) -> bool:
        return False  # one row per category, created by the defaults

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        # The service writes the row (or the request for approval) and its audit event together.
        result = services.retention_policy_update(
            policy=RetentionPolicy.objects.get(pk=obj.pk),
            retain_days=form.cleaned_data["retain_days"],
            enabled=form.cleaned_data["enabled"],
            basis=form.cleaned_data["basis"],
            actor=request.user,
            reason=form.cleaned_data["reason"],
        )
        if isinstance(result, PendingChange):
            messages.warning(
                request,
                f"This change destroys more: it waits for a second Privacy Officer (pending change #{result.pk}).",
            )

    def log_change(self, request, obj, message):
        pass  # the service wrote the audit row

    @admin.action(description="Ask to run the purge for the selected categories now (needs a second approver)")
    def purge_now(self, request, queryset):
        for policy in queryset:
            change = services.retention_purge_request(
                actor=request.user, category=policy.category, reason="purge by hand from the admin"
            )
            messages.info(request, f"Purge of {policy.category} waits for approval (pending change #{change.pk}).")

    def has_purge_now_permission(self, request) -> bool:
        return request.user.has_perm("retention.run_purge")


class HoldForm(forms.ModelForm):
    class Meta:
        model = Hold
        fields = ["scope", "member", "account", "category", "date_from", "date_to", "reason", "legal_reference"]

    def clean(self):
        data = super().clean()
        if not (data.get("reason") or "").strip():
            raise ValidationError({"reason": "Give the reason for the hold."})
        return data


@admin.register(Hold)
class HoldAdmin(admin.ModelAdmin):
    form = HoldForm
    list_display = ("__str__", "scope", "kind", "legal_reference", "placed_at", "placed_by", "released_at")
    list_filter = ("kind", "scope", ("released_at", admin.EmptyFieldListFilter))
    list_select_related = ("placed_by",)
    autocomplete_fields = ("member", "account")
    actions = ["request_release"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [f.name for f in Hold._meta.fields]

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        hold = services.retention_hold_place(
            actor=request.user,
            scope=data["scope"],
            reason=data["reason"],
            legal_reference=data.get("legal_reference", ""),
            member=data.get("member"),
            account=data.get("account"),
            category=data.get("category", ""),
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
        obj.pk = hold.pk

    def log_addition(self, request, obj, message):
        pass  # the service wrote the audit row

    @admin.action(description="Ask to release the selected holds (needs a second Privacy Officer)")
    def request_release(self, request, queryset):
        for hold in queryset:
            try:
                change = services.retention_hold_request_release(
                    actor=request.user, hold=hold, reason="release requested from the admin"
                )
            except ValidationError as exc:
                _errors(request, exc)
                continue
            messages.info(request, f"Release of hold #{hold.pk} waits for approval (pending change #{change.pk}).")

    def has_request_release_permission(self, request) -> bool:
        return request.user.has_perm("retention.place_hold")


def _preview_html(preview: dict) -> str:
    rows = (preview or {}).get("categories", {})
    if not rows:
        return "nothing"
    return format_html(
        "<table><tr><th>category</th><th>records</th><th>oldest</th></tr>{}</table>",
        format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((name, row["count"], row["oldest"] or "-") for name, row in rows.items()),
        ),
    )  # fmt: skip


@admin.register(PendingChange)
class PendingChangeAdmin(ReadOnlyAdmin):
    list_display = (
        "pk",
        "kind",
        "category",
        "hold",
        "retain_days",
        "status",
        "requested_by",
        "requested_at",
        "decided_by",
    )
    list_filter = ("status", "kind")
    readonly_fields = [
        *(f.name for f in PendingChange._meta.fields if f.name != "preview"),
        "preview_now",
        "preview_asked",
    ]
    actions = ["approve", "reject"]

    @admin.display(description="would destroy now (count, oldest date)")
    def preview_now(self, obj: PendingChange) -> str:
        if obj.status != PendingChange.Status.PENDING:
            return "-"
        return _preview_html(services.retention_change_preview(change=obj))

    @admin.display(description="preview when asked / approved")
    def preview_asked(self, obj: PendingChange) -> str:
        return _preview_html(obj.preview)

    def _decide(self, request, queryset, decide) -> None:
        for change in queryset:
            try:
                decided = decide(change)
            except (ValidationError, PermissionDenied) as exc:
                _errors(request, exc if isinstance(exc, ValidationError) else ValidationError(str(exc)))
                continue
            messages.success(request, f"Change #{decided.pk}: {decided.get_status_display()}.")

    @admin.action(description="Approve (as the second Privacy Officer)", permissions=["approve"])
    def approve(self, request, queryset):
        def decide(change):
            approved = services.retention_change_approve(actor=request.user, change=change)
            if approved.kind == PendingChange.Kind.MANUAL_PURGE:
                transaction.on_commit(lambda: run_approved_purge.delay(approved.pk))
            return approved

        self._decide(request, queryset, decide)

    @admin.action(description="Reject", permissions=["approve"])
    def reject(self, request, queryset):
        self._decide(
            request,
            queryset,
            lambda change: services.retention_change_reject(
                actor=request.user, change=change, note="rejected in the admin"
            ),
        )

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm("retention.approve_retention_change")


@admin.register(PurgeRun)
class PurgeRunAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "category",
        "status",
        "records_destroyed",
        "batches",
        "cutoff",
        "triggered_by",
        "approved_by",
        "certificate_link",
    )
    list_filter = ("category", "status")
    list_select_related = ("triggered_by", "approved_by", "certificate")
    readonly_fields = [f.name for f in PurgeRun._meta.fields]

    @admin.display(description="certificate")
    def certificate_link(self, obj: PurgeRun) -> str:
        certificate = getattr(obj, "certificate", None)
        if certificate is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:retention_destructioncertificate_change", args=[certificate.pk]),
            certificate.number,
        )


@admin.register(DestructionCertificate)
class DestructionCertificateAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "category",
        "cutoff",
        "records_destroyed",
        "approved_by_label",
        "finished_at",
        "downloads",
    )
    list_filter = ("category",)
    readonly_fields = [*(f.name for f in DestructionCertificate._meta.fields), "downloads"]

    @admin.display(description="download")
    def downloads(self, obj: DestructionCertificate) -> str:
        return format_html(
            '<a href="{}">PDF</a> · <a href="{}">CSV</a>',
            reverse("admin:retention_certificate_download", args=[obj.pk, "pdf"]),
            reverse("admin:retention_certificate_download", args=[obj.pk, "csv"]),
        )

    def get_urls(self):
        view = self.admin_site.admin_view(self.download_view)
        return [
            path("<int:pk>/download.<str:fmt>", view, name="retention_certificate_download"),
            *super().get_urls(),
        ]

    def download_view(self, request, pk: int, fmt: str):
        if not self.has_view_permission(request):
            raise PermissionDenied
        certificate = get_object_or_404(DestructionCertificate, pk=pk)
        if fmt == "pdf":
            response = HttpResponse(certificate_pdf(certificate), content_type="application/pdf")
        elif fmt == "csv":
            response = HttpResponse(certificate_csv(certificate), content_type="text/csv")
        else:
            raise PermissionDenied
        response["Content-Disposition"] = f'attachment; filename="{certificate.number}.{fmt}"'
        return response
