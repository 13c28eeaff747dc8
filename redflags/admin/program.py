"""Program administration: thresholds, training acknowledgements, program changes and the board's
decisions, the annual review. Each save calls ``services.program``.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html

from redflags import engine
from redflags.admin.base import RecordOnlyAdmin
from redflags.models import AnnualReview, ProgramChange, ProgramSettings, TrainingAcknowledgement
from redflags.services import program
from redflags.services.program import REVIEW_FIELDS


class ProgramSettingsForm(forms.ModelForm):
    """Checks the thresholds before anything is saved, so a refused change shows only its error (never a
    "changed successfully" beside it), and asks why the program changes."""

    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Reason for the change",
        help_text="Recorded on the audit trail with the change (e.g. the board decision or the review that led to it).",
    )

    class Meta:
        model = ProgramSettings
        fields = ("program_version", "warn_threshold", "hold_threshold", "caller_failures_to_flag")

    def clean(self):
        data = super().clean()
        if not self.errors:
            try:
                program.program_settings_check(
                    warn_threshold=data.get("warn_threshold"), hold_threshold=data.get("hold_threshold")
                )
            except ValidationError as exc:
                raise forms.ValidationError(exc.messages) from None
        return data


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(admin.ModelAdmin):
    form = ProgramSettingsForm
    fields = (
        "program_version",
        "warn_threshold",
        "hold_threshold",
        "caller_failures_to_flag",
        "caller_failure_window_hours",
        "reason",
        "updated_at",
        "updated_by",
    )
    readonly_fields = ("updated_at", "updated_by", "caller_failure_window_hours")
    list_display = ("program_version", "warn_threshold", "hold_threshold", "updated_at", "updated_by")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("redflags.manage_program")

    def save_model(self, request, obj, form, change):
        try:
            program.program_settings_update(
                actor=request.user,
                warn_threshold=obj.warn_threshold,
                hold_threshold=obj.hold_threshold,
                program_version=obj.program_version,
                caller_failures_to_flag=obj.caller_failures_to_flag,
                reason=form.cleaned_data["reason"],
            )
        except (ValidationError, PermissionDenied) as exc:
            request._settings_refused = "; ".join(getattr(exc, "messages", [str(exc)]))

    def log_change(self, request, obj, message):
        return None  # the service wrote the audit row

    def response_change(self, request, obj):
        refused = getattr(request, "_settings_refused", None)
        if refused:
            messages.error(request, f"Nothing was changed: {refused}")
            return redirect(request.path)
        current = engine.program_settings()
        messages.success(
            request,
            f"Program settings saved: \u201cRed Flag Exists\u201d warning from a score of {current.warn_threshold}, "
            f"hold from {current.hold_threshold} (program version {current.program_version}). "
            "The change and your reason are on the audit trail.",
        )
        return redirect("admin:redflags_programsettings_change", obj.pk)


@admin.register(TrainingAcknowledgement)
class TrainingAcknowledgementAdmin(RecordOnlyAdmin):
    list_display = ("user", "program_version", "acknowledged_at", "trained_by")
    list_filter = ("program_version",)
    list_select_related = ("user", "trained_by")
    fields = ("user", "program_version")

    def get_changeform_initial_data(self, request):
        return {"program_version": engine.program_settings().program_version}

    def save_model(self, request, obj, form, change):
        ack = self._call(
            request,
            program.training_acknowledge,
            user=obj.user,
            trained_by=request.user,
            program_version=obj.program_version,
        )
        if ack is not None:
            obj.pk = ack.pk


class ProgramChangeForm(forms.ModelForm):
    class Meta:
        model = ProgramChange
        fields = (
            "title",
            "recommendation",
            "decision",
            "decided_on",
            "board_reference",
            "decision_notes",
            "new_program_version",
        )


@admin.register(ProgramChange)
class ProgramChangeAdmin(admin.ModelAdmin):
    form = ProgramChangeForm
    list_display = ("title", "recommended_at", "recommended_by", "decision", "decided_on", "board_reference")
    list_filter = ("decision",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ("decision", "decided_on", "board_reference", "decision_notes", "new_program_version")
        if obj.decision != ProgramChange.Decision.PENDING:
            return ProgramChangeForm.Meta.fields
        return ("title", "recommendation")

    def save_model(self, request, obj, form, change):
        try:
            if not change:
                created = program.program_change_recommend(
                    actor=request.user, title=obj.title, recommendation=obj.recommendation
                )
                obj.pk = created.pk
            else:
                current = ProgramChange.objects.get(pk=obj.pk)
                program.program_change_decide(
                    actor=request.user,
                    change=current,
                    decision=obj.decision,
                    decided_on=obj.decided_on,
                    board_reference=obj.board_reference,
                    notes=obj.decision_notes,
                    new_program_version=obj.new_program_version,
                )
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))


@admin.register(AnnualReview)
class AnnualReviewAdmin(admin.ModelAdmin):
    list_display = ("year", "prepared_by", "prepared_at", "changes_warranted", "report_link")
    fields = ("year", *REVIEW_FIELDS)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="report")
    def report_link(self, obj):
        return format_html('<a href="{}?year={}">Report</a>', reverse("redflags:annual-review"), obj.year)

    def save_model(self, request, obj, form, change):
        try:
            saved = program.annual_review_save(
                actor=request.user,
                year=obj.year,
                **{name: getattr(obj, name) for name in REVIEW_FIELDS},
            )
            obj.pk = saved.pk
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
