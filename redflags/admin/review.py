"""The review queue: items with the score, the rules (with versions) and evidence; the Respond page.

The Respond page records one of the program's responses through ``services.review.review_respond``
(permission, training, dual control, the registry's services, audit). Assessments, flags and
responses are history: read-only here.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from redflags.admin.base import ReadOnlyAdmin
from redflags.cases.services import hold_release_request, release_awaits_approval
from redflags.models import Flag, Response, ReviewItem, RiskAssessment
from redflags.services.program import has_current_training
from redflags.services.review import CONTACT_TEMPLATES, review_respond


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
    contact_template = forms.ChoiceField(
        choices=[
            ("", "— none: I contacted the customer another way (say how in the notes) —"),
            *CONTACT_TEMPLATES.items(),
        ],
        required=False,
        label="Contact notice",
        help_text="Contact the customer: the notice sent to the e-mail and mailing address on file; it is the record.",
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
                if form.cleaned_data["kind"] == Response.Kind.RELEASE_HOLD and not release_awaits_approval(item):
                    # The first person asks; a second trained person's "release" approves and releases.
                    hold_release_request(actor=request.user, item=item, notes=form.cleaned_data["notes"])
                    messages.success(request, "Release asked: a second trained person must approve it.")
                    return redirect("admin:redflags_reviewitem_change", item.pk)
                review_respond(item=item, actor=request.user, **form.cleaned_data)
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
            "trained": has_current_training(request.user),
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
