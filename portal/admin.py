"""Staff work members' correction requests and complaints: take one into review, answer it (a correction
names the registry change that made it; a refusal gives the reason), and see how old each is against its
due date. The admin calls portal.services for every step; the record itself is corrected on the member's
own admin page (registry services) first."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, linebreaks

from members.models import AuditEvent
from portal.models import CorrectionRequest
from portal.services import (
    STATEMENT_CHANNELS,
    correction_request_dispute,
    correction_request_resolve,
    correction_request_review_start,
    settling_changes,
)

Status = CorrectionRequest.Status


class OverdueFilter(admin.SimpleListFilter):
    title = "answer due"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("week", "Due within 7 days"), ("open", "Not answered yet")]

    def queryset(self, request, queryset):
        today = timezone.localdate()
        unanswered = queryset.filter(status__in=CorrectionRequest.OPEN_STATUSES)
        if self.value() == "overdue":
            return unanswered.filter(due_on__lt=today)
        if self.value() == "week":
            return unanswered.filter(due_on__gte=today, due_on__lte=today + timezone.timedelta(days=7))
        if self.value() == "open":
            return unanswered
        return queryset


class _ChangeChoice(forms.ModelChoiceField):
    @staticmethod
    def describe(event: AuditEvent) -> str:
        fields = ", ".join(event.fields) or "-"
        when = f"{timezone.localtime(event.at):%Y-%m-%d %H:%M}"
        return f"#{event.seq} {when} {event.action} ({fields}) by {event.actor_label}"

    def label_from_instance(self, obj: AuditEvent) -> str:
        return self.describe(obj)


class AnswerForm(forms.ModelForm):
    STEPS = [
        (Status.IN_REVIEW, "Take into review"),
        (Status.CORRECTED, "Corrected / resolved"),
        (Status.DECLINED, "Decline, with the reason"),
    ]
    step = forms.ChoiceField(choices=STEPS, label="Next step")
    settled_by = _ChangeChoice(
        queryset=AuditEvent.objects.none(),
        required=False,
        label="Change that made the correction",
        help_text="Correct the record on the member's page first; the change then appears here.",
    )

    class Meta:
        model = CorrectionRequest
        fields = ["resolution_note"]
        labels = {"resolution_note": "Answer to the member (what was done, or why not)"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["settled_by"].queryset = settling_changes(self.instance)[:50]

    def clean(self):
        data = super().clean()
        if not self.instance.pk:
            return data
        current = CorrectionRequest.objects.get(pk=self.instance.pk)
        if not current.is_open:
            raise forms.ValidationError("This request is already answered.")
        step, note = data.get("step"), (data.get("resolution_note") or "").strip()
        if step == Status.IN_REVIEW and current.status != Status.RECEIVED:
            self.add_error("step", "This request is already in review.")
        if step in (Status.CORRECTED, Status.DECLINED) and not note:
            self.add_error("resolution_note", "Tell the member what was done and why.")
        if (
            step == Status.CORRECTED
            and current.kind == CorrectionRequest.Kind.CORRECTION
            and not data.get("settled_by")
        ):
            self.add_error("settled_by", "Choose the change to the record that made this correction (make it first).")
        if step == Status.DECLINED and data.get("settled_by"):
            self.add_error("settled_by", "A declined request is not settled by a change.")
        return data


class StatementForMemberForm(forms.Form):
    """A statement of disagreement a member gave Member Services by phone, letter or in person."""

    channel = forms.ChoiceField(
        choices=[("", "Choose")] + [(key, words.capitalize()) for key, words in STATEMENT_CHANNELS.items()],
        label="How the member gave it",
    )
    statement = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 70}),
        max_length=4000,
        label="The member's statement, in their words",
        help_text="Kept with the member's record, encrypted; anyone who reads that record reads it too.",
    )
    confirmed = forms.BooleanField(
        label="These are the member's own words, and the member asked us to keep them with their record",
    )


@admin.register(CorrectionRequest)
class CorrectionRequestAdmin(admin.ModelAdmin):
    """Requests by age: the list shows how long each has waited against its due date, and filters the
    overdue ones; the answer goes through portal.services (audit row and notice in one transaction)."""

    form = AnswerForm
    list_display = ("submitted_at", "member", "kind", "topic", "status", "due_on", "age")
    list_filter = (OverdueFilter, "status", "kind", "topic")
    list_select_related = ("member", "resolved_by")
    search_fields = ("member__member_number",)
    ordering = ("due_on",)
    readonly_fields = (
        "member",
        "kind",
        "topic",
        "status",
        "requested_correction",
        "explanation",
        "submitted_at",
        "submitted_by",
        "due_on",
        "review_started_at",
        "resolved_at",
        "resolved_by",
        "settled_by_change",
        "disagreement",
    )
    fieldsets = (
        (None, {"fields": ("member", "kind", "topic", "status", "submitted_at", "due_on", "review_started_at")}),
        ("The request", {"fields": ("requested_correction", "explanation")}),
        ("Answer", {"fields": ("step", "settled_by", "resolution_note")}),
        ("Outcome", {"fields": ("resolved_at", "resolved_by", "settled_by_change", "disagreement")}),
    )

    def get_urls(self):
        return [
            path(
                "<int:pk>/statement/",
                self.admin_site.admin_view(self.statement_view),
                name="portal_correctionrequest_statement",
            ),
            *super().get_urls(),
        ]

    def statement_view(self, request, pk: int):
        """File, on the member's behalf, the statement of disagreement they gave by phone, letter or in
        person, once their request is declined (the member's own portal page does the same for them)."""
        if not request.user.has_perm("portal.file_statement_for_member"):
            raise PermissionDenied
        item = get_object_or_404(CorrectionRequest.objects.select_related("member"), pk=pk)
        change_url = reverse("admin:portal_correctionrequest_change", args=[item.pk])
        if item.status != Status.DECLINED:
            messages.error(request, "A statement of disagreement can be filed only for a declined request.")
            return redirect(change_url)
        form = StatementForMemberForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                correction_request_dispute(
                    actor=request.user,
                    request=item,
                    statement=form.cleaned_data["statement"],
                    channel=form.cleaned_data["channel"],
                )
            except ValidationError as error:
                for message in error.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, "The member's statement is now kept with their record; they were told.")
                return redirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": "File the member's statement of disagreement",
            "item": item,
            "form": form,
            "opts": self.opts,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/portal/correctionrequest/statement.html", context)

    @admin.display(description="age")
    def age(self, obj: CorrectionRequest) -> str:
        today = timezone.localdate()
        waited = (today - timezone.localdate(obj.submitted_at)).days
        if not obj.is_open:
            return (
                f"answered after {(timezone.localdate(obj.resolved_at) - timezone.localdate(obj.submitted_at)).days} d"
                if obj.resolved_at
                else "answered"
            )
        if today > obj.due_on:
            return format_html("<strong>{} d, overdue by {} d</strong>", waited, (today - obj.due_on).days)
        return f"{waited} d, {(obj.due_on - today).days} d left"

    @admin.display(description="settled by change")
    def settled_by_change(self, obj: CorrectionRequest) -> str:
        event = obj.settled_by
        if event is None:
            return "-"
        return _ChangeChoice.describe(event)

    @admin.display(description="member's statement of disagreement")
    def disagreement(self, obj: CorrectionRequest) -> str:
        if obj.statement is None:
            if obj.status == Status.DECLINED:
                return format_html(
                    '- <a href="{}">File a statement the member gave by phone or letter</a>',
                    reverse("admin:portal_correctionrequest_statement", args=[obj.pk]),
                )
            return "-"
        return format_html(
            "{}<p class='help'>Filed {}; kept with the member's record.</p>",
            linebreaks(obj.statement.statement),
            obj.statement.filed_at.date(),
        )

    def get_fieldsets(self, request, obj=None):
        if obj is not None and not obj.is_open:
            return [fs for fs in self.fieldsets if fs[0] != "Answer"]
        return self.fieldsets

    def has_add_permission(self, request) -> bool:
        return False  # members submit requests in the portal

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        # The services check and write the row, its audit event and the member's notice.
        original = CorrectionRequest.objects.get(pk=obj.pk)
        step = form.cleaned_data["step"]
        if step == Status.IN_REVIEW:
            correction_request_review_start(actor=request.user, request=original)
        else:
            correction_request_resolve(
                actor=request.user,
                request=original,
                status=step,
                note=form.cleaned_data.get("resolution_note") or "",
                settled_by=form.cleaned_data.get("settled_by"),
            )
