"""Case work in the staff admin, in the program document's words (seed 002).

- Cases: the inbox of the user's role (Red Flag Analyst, Program Administrator) soonest due first,
  with age and overdue; actions assign to me / in review / escalate; each case page shows the alerts,
  the member's timeline, notes, acknowledgements of the "Red Flag Exists" warning and attachments,
  with forms to add a note, attach a document and resolve with a label.
- Rule snoozes: asked by the Program Administrator, approved by a second one.
- Access anomalies (C8 detected from the access log) and the members without identity verification.
Every write calls ``redflags.cases.services``; the admin saves nothing itself.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from members.admin_changelist import CappedCountPaginator, DirectActionCheckbox, result_list_context
from redflags.admin.base import ReadOnlyAdmin, ReadOnlyInline
from redflags.cases import selectors, services
from redflags.cases.models import AccessAnomaly, Case, CaseAttachment, CaseNote, RuleSnooze
from redflags.models import Rule


class CaseNoteInline(ReadOnlyInline):
    model = CaseNote
    fields = ("at", "kind", "author", "action", "text")


class CaseAttachmentInline(ReadOnlyInline):
    model = CaseAttachment
    fields = ("uploaded_at", "filename", "content_type", "size", "uploaded_by", "download")

    @admin.display(description="")
    def download(self, obj):
        return format_html('<a href="{}">Open</a>', reverse("admin:redflags_cases_attachment", args=[obj.pk]))


class NoteForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="Note")


class AttachmentForm(forms.Form):
    file = forms.FileField(help_text="PDF, PNG, JPEG or plain text, up to 5 MB; stored encrypted.")


class ResolveForm(forms.Form):
    # Starts blank: the finding feeds each rule's precision in the annual review, so it is chosen, never defaulted.
    label = forms.ChoiceField(choices=[("", "— choose the finding —"), *Case.Label.choices], label="Finding")
    resolution = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="What was found and decided")
    confirm = forms.BooleanField(
        label="I understand that resolving closes the case for good (a new alert opens a new case)",
        error_messages={"required": "Tick the box to confirm: resolving cannot be undone."},
    )


@admin.register(Case)
class CaseAdmin(DirectActionCheckbox, ReadOnlyAdmin):
    list_display = (
        "id", "member_number", "status", "inbox", "assignee_name", "due_at", "age_days", "overdue", "label",
    )  # fmt: skip
    list_filter = ("status", "inbox", "label")
    list_select_related = ("member", "assignee")
    search_fields = ("member__member_number",)
    ordering = ("due_at", "id")
    show_full_result_count = False
    list_per_page = 50
    paginator = CappedCountPaginator  # an inbox is read from its first pages: no count of every open case
    fields = (
        "member",
        "status",
        "inbox",
        "assignee",
        "opened_at",
        "due_at",
        "escalated_at",
        "resolved_at",
        "resolved_by",
        "label",
        "resolution",
        "alerts_list",
        "timeline",
        "work_links",
    )
    readonly_fields = fields
    inlines = [CaseNoteInline, CaseAttachmentInline]
    actions = ["assign_to_me", "mark_in_review", "escalate"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).defer(*selectors.MEMBER_CIPHERTEXTS)
        if "status__exact" in request.GET or "inbox__exact" in request.GET:
            return queryset
        inboxes = selectors.inboxes_of(request.user)
        return queryset.exclude(status=Case.Status.RESOLVED).filter(inbox__in=inboxes) if inboxes else queryset

    @admin.display(description="member", ordering="member__member_number")
    def member_number(self, obj):
        return obj.member.member_number

    @admin.display(description="assignee", ordering="assignee__username")
    def assignee_name(self, obj):
        return str(obj.assignee) if obj.assignee_id else None

    def changelist_view(self, request, extra_context=None):
        # The rows built in one pass (members.admin_changelist.result_list_context, the registry list's),
        # same markup as Django's result_list tag; the template falls back to the tag when it declines.
        response = super().changelist_view(request, extra_context)
        changelist = response.context_data.get("cl") if hasattr(response, "context_data") else None
        if changelist is not None:
            response.context_data["fast_result_list"] = result_list_context(changelist)
        return response

    @admin.display(description="age (days)")
    def age_days(self, obj):
        return selectors.case_age_days(obj)

    @admin.display(description="overdue", boolean=True)
    def overdue(self, obj):
        return obj.is_open and obj.due_at < timezone.now()

    @admin.display(description="alerts")
    def alerts_list(self, obj):
        alerts = obj.alerts.select_related("review_item__assessment")
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                '<li><a href="{}">#{}</a> {} ({}): {}</li>',
                (
                    (
                        reverse("admin:redflags_reviewitem_change", args=[a.review_item_id]),
                        a.review_item_id,
                        a.review_item.get_outcome_display(),
                        a.review_item.status,
                        ", ".join(f"{i['code']} v{i['version']}" for i in a.review_item.assessment.fired),
                    )
                    for a in alerts
                ),
            ),
        )

    @admin.display(description="timeline (openings, changes, alerts, responses, notices, caller verifications)")
    def timeline(self, obj):
        entries = selectors.member_timeline(member=obj.member)[:200]
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                ((f"{e.at:%Y-%m-%d %H:%M}", e.kind, e.text) for e in entries),
            ),
        )

    @admin.display(description="")
    def work_links(self, obj):
        return format_html('<a href="{}">Add a note, attach a document or resolve</a>', self._url("work", obj.pk))

    def _url(self, name: str, pk: int) -> str:
        return reverse(f"admin:redflags_cases_{name}", args=[pk])

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/work/", view(self.work_view), name="redflags_cases_work"),
            path("attachment/<int:pk>/", view(self.attachment_view), name="redflags_cases_attachment"),
            path("unverified-members/", view(self.unverified_view), name="redflags_cases_unverified"),
            *super().get_urls(),
        ]

    def _handle(self, request, function, **kwargs) -> bool:
        try:
            function(actor=request.user, **kwargs)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        except PermissionDenied as exc:
            messages.error(request, str(exc) or "Not allowed.")
        else:
            return True
        return False

    def work_view(self, request, pk: int):
        if not request.user.has_perm(services.WORK):
            raise PermissionDenied
        case = get_object_or_404(Case.objects.select_related("member"), pk=pk)
        forms_ = {"note": NoteForm(), "attachment": AttachmentForm(), "resolve": ResolveForm()}
        if request.method == "POST":
            which = request.POST.get("form")
            done = False
            bound = {"note": NoteForm, "attachment": AttachmentForm, "resolve": ResolveForm}.get(which or "")
            if bound is not None:
                # The submitted form, bound: its errors show on the page (a refused form is never silent).
                forms_[which] = bound(request.POST, request.FILES) if which == "attachment" else bound(request.POST)
            if which == "note" and (form := NoteForm(request.POST)).is_valid():
                done = self._handle(request, services.case_note_add, case=case, text=form.cleaned_data["text"])
            elif which == "attachment" and (form := AttachmentForm(request.POST, request.FILES)).is_valid():
                upload = form.cleaned_data["file"]
                done = self._handle(
                    request,
                    services.case_attachment_add,
                    case=case,
                    filename=upload.name,
                    content_type=upload.content_type or "",
                    content=upload.read(services.MAX_ATTACHMENT_BYTES + 1),
                )
            elif which == "resolve" and (form := ResolveForm(request.POST)).is_valid():
                done = self._handle(
                    request,
                    services.case_resolve,
                    case=case,
                    label=form.cleaned_data["label"],
                    resolution=form.cleaned_data["resolution"],
                )
            if done:
                messages.success(request, _work_outcome(which, case))
                return redirect("admin:redflags_cases_case_change", case.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Case #{case.pk}: member {case.member.member_number}",
            "case": case,
            "forms": forms_,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/redflags_cases/case/work.html", context)

    def attachment_view(self, request, pk: int):
        if not request.user.has_perm(services.WORK):
            raise PermissionDenied
        attachment = get_object_or_404(CaseAttachment.objects.select_related("case"), pk=pk)
        content = services.case_attachment_open(actor=request.user, attachment=attachment)
        response = HttpResponse(content, content_type=attachment.content_type)
        response["Content-Disposition"] = f'attachment; filename="{attachment.pk}-{attachment.sha256[:8]}"'
        response["Cache-Control"] = "no-store"
        response["X-Content-Type-Options"] = "nosniff"
        return response

    def unverified_view(self, request):
        if not request.user.has_perm("redflags_cases.view_unverified_members"):
            raise PermissionDenied
        members = selectors.members_without_verification()[:500]
        context = {
            **self.admin_site.each_context(request),
            "title": "Members without identity verification (detection steps 1-2)",
            "members": members,
            "opts": self.opts,
        }
        return TemplateResponse(request, "admin/redflags_cases/case/unverified.html", context)

    def _each(self, request, queryset, function, **kwargs) -> None:
        done = sum(self._handle(request, function, case=case, **kwargs) for case in queryset)
        messages.info(request, f"{done} case(s) updated.")

    @admin.action(description="Assign to me")
    def assign_to_me(self, request, queryset):
        self._each(request, queryset, services.case_assign, assignee=request.user)

    @admin.action(description="Mark in review")
    def mark_in_review(self, request, queryset):
        self._each(request, queryset, services.case_set_status, status=Case.Status.IN_REVIEW)

    @admin.action(description="Escalate to the Program Administrator")
    def escalate(self, request, queryset):
        self._each(request, queryset, services.case_set_status, status=Case.Status.ESCALATED)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("redflags_cases.view_case")


def _work_outcome(which: str | None, case: Case) -> str:
    if which == "resolve":
        case.refresh_from_db(fields=["status", "label"])
        return f"Case resolved: {case.get_label_display()}. Its alerts are closed; a new alert opens a new case."
    return "Document attached to the case (stored encrypted)." if which == "attachment" else "Note added to the case."


class SnoozeForm(forms.ModelForm):
    class Meta:
        model = RuleSnooze
        fields = ["rule", "reason", "expires_at"]


@admin.register(RuleSnooze)
class RuleSnoozeAdmin(ReadOnlyAdmin):
    list_display = ("rule", "status", "expires_at", "requested_by", "approved_by", "reason")
    list_filter = ("status",)
    actions = ["approve"]

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm(services.SNOOZE)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = SnoozeForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in RuleSnooze._meta.concrete_fields] if obj else ()

    def save_model(self, request, obj, form, change):
        if change:
            return
        try:
            snooze = services.rule_snooze_request(
                actor=request.user,
                rule=form.cleaned_data["rule"],
                reason=form.cleaned_data["reason"],
                expires_at=form.cleaned_data["expires_at"],
            )
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, "; ".join(getattr(exc, "messages", [str(exc)])))
            return
        obj.pk = snooze.pk
        messages.info(request, "Snooze asked: it takes effect when a second Program Administrator approves it.")

    def response_add(self, request, obj, post_url_continue=None):
        return redirect("admin:redflags_cases_rulesnooze_changelist")

    def log_addition(self, request, obj, message):
        return None

    @admin.action(description="Approve selected snoozes (second approver)")
    def approve(self, request, queryset):
        for snooze in queryset:
            try:
                services.rule_snooze_approve(actor=request.user, snooze=snooze)
            except (ValidationError, PermissionDenied) as exc:
                messages.error(request, f"{snooze}: {'; '.join(getattr(exc, 'messages', [str(exc)]))}")
            else:
                messages.success(request, f"{snooze}: approved")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "rule":
            kwargs["queryset"] = Rule.objects.exclude(code__in=services.UNSNOOZABLE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(AccessAnomaly)
class AccessAnomalyAdmin(ReadOnlyAdmin):
    list_display = ("detected_at", "staff", "role", "kind", "records", "role_norm", "window_start", "window_end")
    list_filter = ("kind", "role")
    list_select_related = ("staff",)
