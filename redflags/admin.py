"""Staff screens of the Red Flags program in the Django admin.

Analysts work the review queue (``ReviewItem``): each item shows the score, the rules that fired with
their versions and the evidence; the "Respond" page records one of the program's responses through
``services.review.review_respond`` (training, dual control, registry services, audit). The Program
Administrator drafts, dry-runs, activates and retires rule versions, sets thresholds, records training,
program changes with the board's decision and the annual review. Every write here calls a service;
nothing is saved by the admin itself, and history (assessments, flags, responses) is read-only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from redflags import engine
from redflags.models import (
    AnnualReview,
    CallerVerificationAttempt,
    ConsumerReportAlert,
    Flag,
    IdentityTheftNotice,
    KnownFraudEntry,
    ProgramChange,
    ProgramSettings,
    Response,
    ReviewItem,
    RiskAssessment,
    Rule,
    RuleVersion,
    SecurityIncident,
    TrainingAcknowledgement,
    VerificationChecklist,
)
from redflags.services import notices, program, review, rules


class ReadOnlyAdmin(admin.ModelAdmin):
    """History: visible to those with the view permission, never edited or deleted here."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RecordOnlyAdmin(ReadOnlyAdmin):
    """Added through a service (the add permission decides who), read-only afterwards."""

    def has_add_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.concrete_fields] if obj else ()

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:  # the service refused; its message is shown on the form again
            return redirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def log_addition(self, request, obj, message):
        # The service wrote the audit row; skip Django's LogEntry for a refused add.
        return super().log_addition(request, obj, message) if obj.pk else None

    def _call(self, request, function, **kwargs):
        try:
            return function(**kwargs)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        except PermissionDenied as exc:
            messages.error(request, str(exc) or "Not allowed.")
        return None


# --- the review queue --------------------------------------------------------------------------


class FlagInline(admin.TabularInline):
    model = Flag
    fields = ("code", "category", "weight", "rule_version", "evidence")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ResponseInline(admin.TabularInline):
    model = Response
    fields = ("at", "kind", "actor", "notes", "agency", "case_number", "justification", "rule_versions")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class ResponseForm(forms.Form):
    kind = forms.ChoiceField(choices=Response.Kind.choices, label="Response")
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="What was done, how the customer was contacted, how identity was verified.",
    )
    agency = forms.CharField(required=False, help_text="Law enforcement: the agency notified.")
    case_number = forms.CharField(required=False, help_text="Law enforcement: their case number.")
    justification = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), required=False, help_text="No response warranted: why."
    )


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "created_at",
        "status",
        "outcome",
        "account",
        "member_number",
        "score",
        "rules",
        "respond_link",
    )
    list_filter = ("status", "outcome")
    list_select_related = ("assessment", "account", "member")
    search_fields = ("account__account_number", "member__member_number")
    ordering = ("status", "-created_at")
    fields = (
        "status",
        "outcome",
        "account",
        "member",
        "created_at",
        "resolved_at",
        "resolved_by",
        "score",
        "evidence",
        "respond_link",
    )
    readonly_fields = fields
    inlines = [ResponseInline]

    @admin.display(description="member")
    def member_number(self, obj):
        return obj.member.member_number if obj.member_id else ""

    @admin.display(description="score")
    def score(self, obj):
        return obj.assessment.score

    @admin.display(description="rules (version)")
    def rules(self, obj):
        return ", ".join(f"{item['code']} v{item['version']}" for item in obj.assessment.fired)

    @admin.display(description="evidence")
    def evidence(self, obj):
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} v{}: {}</li>",
                ((i["code"], i["version"], "; ".join(i["evidence"])) for i in obj.assessment.fired),
            ),
        )

    @admin.display(description="")
    def respond_link(self, obj):
        if obj.status != ReviewItem.Status.OPEN:
            return "resolved"
        return format_html('<a href="{}">Respond</a>', reverse("admin:redflags_reviewitem_respond", args=[obj.pk]))

    def get_urls(self):
        return [
            path(
                "<int:pk>/respond/", self.admin_site.admin_view(self.respond_view), name="redflags_reviewitem_respond"
            ),
            *super().get_urls(),
        ]

    def respond_view(self, request, pk: int):
        if not request.user.has_perm("redflags.work_queue"):
            raise PermissionDenied
        item = get_object_or_404(ReviewItem.objects.select_related("assessment", "account", "member"), pk=pk)
        form = ResponseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                review.review_respond(item=item, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, "; ".join(exc.messages))
            except PermissionDenied as exc:
                form.add_error(None, str(exc) or "Not allowed.")
            else:
                messages.success(request, "Response recorded.")
                return redirect("admin:redflags_reviewitem_change", item.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Respond to review item #{item.pk}",
            "item": item,
            "form": form,
            "opts": self.opts,
            "trained": program.has_current_training(request.user),
            "responses": item.responses.select_related("actor"),
        }
        return TemplateResponse(request, "admin/redflags/reviewitem/respond.html", context)


@admin.register(RiskAssessment)
class RiskAssessmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "event_name", "account", "member", "score", "outcome", "program_version")
    list_filter = ("outcome", "event_name")
    list_select_related = ("account", "member")
    search_fields = ("account__account_number", "member__member_number")
    readonly_fields = (
        "event_name",
        "account",
        "member",
        "score",
        "outcome",
        "fired",
        "program_version",
        "warn_threshold",
        "hold_threshold",
        "created_at",
    )
    fields = readonly_fields
    inlines = [FlagInline]


@admin.register(Flag)
class FlagAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "code", "category", "weight", "rule_version", "evidence")
    list_filter = ("category", "code")
    list_select_related = ("rule_version__rule",)


@admin.register(Response)
class ResponseAdmin(ReadOnlyAdmin):
    list_display = ("at", "kind", "actor", "review_item", "agency", "case_number")
    list_filter = ("kind",)
    list_select_related = ("actor", "review_item")


# --- rules -------------------------------------------------------------------------------------


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
        return f"{obj.dry_run['accounts_flagged_with_draft']} accounts would be queued (now {obj.dry_run['accounts_flagged_now']}) over {obj.dry_run['days']} days"

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
                    f"{version}: {summary['accounts_flagged_with_draft']} accounts would have been queued (now {summary['accounts_flagged_now']}), {summary['events']} past events.",
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


# --- program administration --------------------------------------------------------------------


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(admin.ModelAdmin):
    fields = (
        "program_version",
        "warn_threshold",
        "hold_threshold",
        "caller_failures_to_flag",
        "caller_failure_window_hours",
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
                reason="admin",
            )
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))


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
    fields = (
        "year",
        "experiences",
        "changes_in_methods",
        "changes_in_detection",
        "changes_in_accounts",
        "changes_in_arrangements",
        "recommended_changes",
        "changes_warranted",
    )

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
                **{name: getattr(obj, name) for name in self.fields if name != "year"},
            )
            obj.pk = saved.pk
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))


# --- signals recorded by staff -----------------------------------------------------------------


class KnownFraudEntryForm(forms.ModelForm):
    typed_value = forms.CharField(
        label="Value",
        help_text="Typed once, stored only as a blind index and encrypted for confirming matches; never shown again. "
        "Address: line1|line2|city|state|ZIP. Licence: STATE:NUMBER. Bank account: ROUTING:ACCOUNT.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    class Meta:
        model = KnownFraudEntry
        fields = ("kind", "listing", "source")


@admin.register(KnownFraudEntry)
class KnownFraudEntryAdmin(RecordOnlyAdmin):
    form = KnownFraudEntryForm
    list_display = ("id", "kind", "listing", "source", "added_at", "added_by", "active")
    list_filter = ("kind", "listing", "active")
    exclude = ("value", "index_value")

    def get_readonly_fields(self, request, obj=None):
        return ("kind", "listing", "source", "added_at", "added_by", "active") if obj else ()

    def get_fields(self, request, obj=None):
        return (
            ("kind", "listing", "source", "added_at", "added_by", "active")
            if obj
            else ("kind", "listing", "source", "typed_value")
        )

    def save_model(self, request, obj, form, change):
        value = form.cleaned_data["typed_value"]
        if obj.kind == "address":
            value = tuple(value.split("|"))
        entry = self._call(
            request,
            notices.fraud_entry_add,
            kind=obj.kind,
            value=value,
            listing=obj.listing,
            source=obj.source,
            actor=request.user,
        )
        if entry is not None:
            obj.pk = entry.pk


@admin.register(ConsumerReportAlert)
class ConsumerReportAlertAdmin(RecordOnlyAdmin):
    list_display = ("received_at", "kind", "agency", "member", "account", "source", "recorded_by")
    list_filter = ("kind", "source")
    list_select_related = ("member", "account", "recorded_by")
    raw_id_fields = ("member", "account")
    fields = ("member", "account", "kind", "agency", "received_at", "notes")

    def save_model(self, request, obj, form, change):
        alert = self._call(
            request,
            notices.cra_alert_record,
            member=obj.member,
            account=obj.account,
            kind=obj.kind,
            agency=obj.agency,
            actor=request.user,
            notes=obj.notes,
            received_at=obj.received_at,
        )
        if alert is not None:
            obj.pk = alert.pk


@admin.register(IdentityTheftNotice)
class IdentityTheftNoticeAdmin(RecordOnlyAdmin):
    list_display = ("received_at", "reporter", "member", "account", "recorded_by")
    list_filter = ("reporter",)
    list_select_related = ("member", "account", "recorded_by")
    raw_id_fields = ("member", "account")
    fields = ("member", "account", "reporter", "received_at", "summary")

    def save_model(self, request, obj, form, change):
        notice = self._call(
            request,
            notices.identity_theft_notice_record,
            reporter=obj.reporter,
            summary=obj.summary,
            actor=request.user,
            member=obj.member,
            account=obj.account,
            received_at=obj.received_at,
        )
        if notice is not None:
            obj.pk = notice.pk


@admin.register(SecurityIncident)
class SecurityIncidentAdmin(RecordOnlyAdmin):
    list_display = ("recorded_at", "kind", "occurred_at", "recorded_by")
    list_filter = ("kind",)
    raw_id_fields = ("accounts",)
    fields = ("kind", "occurred_at", "description", "accounts")

    def save_model(self, request, obj, form, change):
        incident = self._call(
            request,
            notices.security_incident_record,
            kind=obj.kind,
            description=obj.description,
            actor=request.user,
            accounts=form.cleaned_data.get("accounts", []),
            occurred_at=obj.occurred_at,
        )
        if incident is not None:
            obj.pk = incident.pk

    def save_related(self, request, form, formsets, change):
        # The service set the affected accounts; nothing else to save.
        return None


@admin.register(VerificationChecklist)
class VerificationChecklistAdmin(ReadOnlyAdmin):
    list_display = (
        "account",
        "recorded_by",
        "recorded_at",
        "identity_document_reviewed",
        "customer_contacted_independently",
    )
    list_select_related = ("account", "recorded_by")


@admin.register(CallerVerificationAttempt)
class CallerVerificationAttemptAdmin(ReadOnlyAdmin):
    list_display = ("at", "member", "staff", "passed", "results")
    list_filter = ("passed",)
    list_select_related = ("member", "staff")
