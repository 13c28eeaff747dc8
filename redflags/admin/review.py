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


# Responses that cannot be taken back: the page asks for confirmation, naming the consequence.
IRREVERSIBLE = {
    Response.Kind.DO_NOT_OPEN: "The opening is denied: the account is never opened and the applicant must apply again.",
    Response.Kind.CLOSE_ACCOUNT: "The account is closed now; service on it ends and it cannot be reopened.",
    Response.Kind.RELEASE_HOLD: "The hold is lifted and the account opens (after a second trained person's approval).",
}
# Responses whose reason is the notes: the form asks for them before the service would refuse.
NEEDS_NOTES = {
    Response.Kind.DO_NOT_OPEN: "Say why the account is not opened.",
    Response.Kind.CLOSE_ACCOUNT: "Say why the account is closed.",
    Response.Kind.RELEASE_HOLD: "Say how the identity was verified.",
}


class ResponseForm(forms.Form):
    # Starts blank: the analyst chooses; nothing is preselected (a default was recorded by accident).
    kind = forms.ChoiceField(choices=[("", "— choose a response —"), *Response.Kind.choices], label="Response")
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        label="Notes and reason",
        help_text="What was done and why; how the customer was contacted; how identity was verified. "
        "Required to deny an opening, close an account or release a hold.",
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

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        for name in ("notes", "agency", "case_number", "justification"):
            data[name] = (data.get(name) or "").strip()
        if kind in NEEDS_NOTES and not data["notes"]:
            self.add_error("notes", NEEDS_NOTES[kind])
        return data


# The queue's outcome column in two words; the item's page gives the full wording.
SHORT_OUTCOMES = {"record": "Recorded", "warn": "Warning", "hold": "Opening held"}


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnlyAdmin):
    # Seven short columns, Respond second, so it is on screen at 1366 px beside the sidebar and filters
    # (it was the ninth column, scrolled out of the results box). The status is the Respond column's
    # ("Respond" while open, "resolved") and the filter's.
    list_display = (
        "created_at",
        "respond_link",
        "short_outcome",
        "account",
        "member_number",
        "score",
        "rules",
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

    @admin.display(description="outcome", ordering="outcome")
    def short_outcome(self, obj):
        return SHORT_OUTCOMES.get(obj.outcome, obj.get_outcome_display())

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
            kind = form.cleaned_data["kind"]
            asking_only = kind == Response.Kind.RELEASE_HOLD and not release_awaits_approval(item)
            if kind in IRREVERSIBLE and not asking_only and request.POST.get("confirmed") != "yes":
                return TemplateResponse(
                    request,
                    "admin/redflags/reviewitem/respond_confirm.html",
                    {
                        **self.admin_site.each_context(request),
                        "title": f"Confirm: {Response.Kind(kind).label.split('. ', 1)[-1]}",
                        "item": item,
                        "form": form,
                        "consequence": IRREVERSIBLE[kind],
                        "choice": Response.Kind(kind).label,
                        "opts": self.opts,
                    },
                )
            try:
                if form.cleaned_data["kind"] == Response.Kind.RELEASE_HOLD and not release_awaits_approval(item):
                    # The first person asks; a second trained person's "release" approves and releases.
                    hold_release_request(actor=request.user, item=item, notes=form.cleaned_data["notes"])
                    messages.success(request, "Release asked: a second trained person must approve it.")
                    return redirect("admin:redflags_reviewitem_change", item.pk)
                response = review_respond(item=item, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, "; ".join(exc.messages))
            except PermissionDenied as exc:
                form.add_error(None, str(exc) or "Not allowed.")
            else:
                messages.success(request, _response_outcome(item, response))
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


def _response_outcome(item: ReviewItem, response: Response) -> str:
    """What the recorded response did, in words: the account's state after it and whether the item is closed."""
    item.refresh_from_db(fields=["status"])
    said = f"Recorded: {response.get_kind_display()}."
    if item.account_id:
        account = item.account
        account.refresh_from_db(fields=["status", "on_hold", "red_flag_warning"])
        state = account.get_status_display().lower()
        if account.on_hold:
            state += ", still held"
        if account.red_flag_warning:
            state += ", with the \u201cRed Flag Exists\u201d warning"
        said += f" Account {account.account_number} is now {state}."
    said += (
        " The item is resolved." if item.status == ReviewItem.Status.RESOLVED else " The item stays open in the queue."
    )
    return said


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
