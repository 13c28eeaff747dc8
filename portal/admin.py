from __future__ import annotations

from django import forms
from django.contrib import admin

from portal.models import CorrectionRequest
from portal.services import correction_request_resolve


class ResolveForm(forms.ModelForm):
    class Meta:
        model = CorrectionRequest
        fields = ["status", "resolution_note"]

    def clean(self):
        data = super().clean()
        if (
            self.instance.pk
            and CorrectionRequest.objects.filter(pk=self.instance.pk)
            .exclude(status=CorrectionRequest.Status.OPEN)
            .exists()
        ):
            raise forms.ValidationError("This request is already resolved.")
        if data.get("status") == CorrectionRequest.Status.OPEN:
            self.add_error("status", "Resolve as corrected or declined.")
        if not (data.get("resolution_note") or "").strip():
            self.add_error("resolution_note", "Tell the member what was done and why.")
        return data


@admin.register(CorrectionRequest)
class CorrectionRequestAdmin(admin.ModelAdmin):
    """Staff work members' correction requests; the record itself is corrected through the member's
    own admin page (registry services), then the request is resolved here with a note."""

    form = ResolveForm
    list_display = ("submitted_at", "member", "topic", "status", "resolved_by")
    list_filter = ("status", "topic")
    list_select_related = ("member", "resolved_by")
    search_fields = ("member__member_number",)
    readonly_fields = (
        "member",
        "topic",
        "requested_correction",
        "explanation",
        "submitted_at",
        "submitted_by",
        "resolved_at",
        "resolved_by",
    )

    def has_add_permission(self, request) -> bool:
        return False  # members submit requests in the portal

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        # The form has validated what the service checks; the service writes the row and its audit event.
        original = CorrectionRequest.objects.get(pk=obj.pk)
        correction_request_resolve(
            actor=request.user,
            request=original,
            status=form.cleaned_data["status"],
            note=form.cleaned_data["resolution_note"],
        )
