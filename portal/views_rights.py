"""The member's rights in the portal: a full copy of their data, correction requests and complaints with
their tracking and the statement of disagreement, membership-list requests (seed 000 B.2, G; seed 001).

Every page is the signed-in member's own: requests are fetched through ``_own_request``, which returns
the member's own request or raises 404 (never 403, which would confirm another member's request exists).
The full copy is a release on the disclosure log made by ``disclosures.services.member_copy_export``;
this module only checks the fresh sign-in (step-up) and hands the file over.
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from disclosures.selectors import membership_list_requests_of_member
from disclosures.services import (
    CopySection,
    DisclosureRefused,
    member_copy_export,
    membership_list_export,
    membership_list_request_create,
)
from members import identifiers
from members.models import Member
from portal.models import CorrectionRequest
from portal.services import correction_request_dispute, correction_request_submit
from portal.stepup import step_up_required
from portal.views import apply_errors, own_member

_FIELD_LABELS = {field.name: field.label for field in identifiers.FIELDS}


def _own_request(request, pk: int) -> CorrectionRequest:
    found = (
        CorrectionRequest.objects.select_related("settled_by", "statement")
        .filter(pk=pk, member=own_member(request))
        .first()
    )
    if found is None:
        raise Http404("No such request.")
    return found


def settled_by_words(request: CorrectionRequest) -> str:
    """The change that settled a request, as the member reads it: "Date of birth changed on March 3, 2026"."""
    event = request.settled_by
    if event is None:
        return ""
    # Declared fields by their labels; internal columns (search forms, indexes) are not the member's concern.
    fields = ", ".join(_FIELD_LABELS[name] for name in event.fields if name in _FIELD_LABELS)
    what = fields or event.action.split(".", 1)[-1].replace("_", " ")
    return f"{what[:1].upper()}{what[1:]} changed on {timezone.localdate(event.at):%B %d, %Y}"


# --- A full copy of my data ---------------------------------------------------------------------------


def _requests_section(member: Member) -> CopySection:
    """The portal's own records about the member, for the full copy (below the portal nothing sees them)."""
    section = CopySection(
        "requests",
        "Your correction requests and complaints",
        [
            ("kind", "Kind"),
            ("topic", "About"),
            ("received", "Received"),
            ("due", "Answer due"),
            ("status", "Status"),
            ("asked", "What you asked"),
            ("explanation", "What you told us"),
            ("answer", "Our answer"),
            ("settled_by", "Change made"),
            ("statement", "Your statement of disagreement"),
        ],
    )
    for item in member.correction_requests.select_related("settled_by", "statement").order_by("-submitted_at"):
        section.rows.append(
            [
                item.get_kind_display(),
                item.get_topic_display(),
                item.submitted_at,
                item.due_on,
                item.get_status_display(),
                item.requested_correction,
                item.explanation,
                item.resolution_note,
                settled_by_words(item),
                item.statement.statement if item.statement else "",
            ]
        )
    return section


def _online_access_section(member: Member) -> CopySection:
    section = CopySection(
        "online_access",
        "Your online access",
        [("created", "Set up"), ("verified", "E-mail confirmed"), ("proofs", "What you proved")],
    )
    proof_words = {"service_zip": "service ZIP code", "ssn_last4": "last four of SSN", "last_bill_amount": "last bill"}
    for enrollment in member.enrollments.order_by("-created_at"):
        proofs = ", ".join(proof_words.get(name, name) for name in enrollment.proofs)
        section.rows.append([enrollment.created_at, enrollment.verified_at, proofs])
    return section


def portal_copy_sections(member: Member) -> list[CopySection]:
    """What the portal itself holds about the member, for the full copy (nothing below the portal sees it)."""
    return [_requests_section(member), _online_access_section(member)]


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required
def portal_full_copy(request):
    """GET: what the copy holds. POST (after a fresh password or MFA check): the copy itself, as JSON or
    PDF, released to the member through the disclosure gate and logged there."""
    member = own_member(request)
    if request.method == "POST":
        format = request.POST.get("format", "")
        if format not in ("json", "pdf"):
            messages.error(request, "Choose a PDF document or a JSON data file.")
            return redirect("portal:full_copy")
        try:
            export = member_copy_export(
                actor=request.user,
                member=member,
                format=format,
                extra=portal_copy_sections(member),
            )
        except DisclosureRefused as refused:
            messages.error(request, f"The copy could not be prepared: {refused.reason}.")
            return redirect("portal:full_copy")
        response = HttpResponse(export.read_all(), content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        response["Cache-Control"] = "no-store"
        return response
    return render(request, "portal/rights/full_copy.html", {"member": member})


# --- Correction requests and complaints -----------------------------------------------------------------


class RequestForm(forms.Form):
    kind = forms.ChoiceField(
        choices=CorrectionRequest.Kind.choices,
        label="What would you like to do?",
        initial=CorrectionRequest.Kind.CORRECTION,
    )
    topic = forms.ChoiceField(choices=CorrectionRequest.Topic.choices, label="What is it about?")
    requested_correction = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        label="What should the record say, or what went wrong?",
        max_length=2000,
    )
    explanation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Anything we should know", max_length=2000
    )


@login_required
def portal_requests(request):
    member = own_member(request)
    return render(
        request,
        "portal/rights/requests.html",
        {
            "requests": member.correction_requests.all()[:100],
            "list_requests": membership_list_requests_of_member(member=member)[:20],
            "today": timezone.localdate(),
            "due_days": settings.CORRECTION_DUE_DAYS,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def portal_request_new(request):
    member = own_member(request)
    kind = request.GET.get("kind")
    initial = {"kind": kind} if kind in CorrectionRequest.Kind.values else {}
    form = RequestForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            made = correction_request_submit(actor=request.user, member=member, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(
                request, f"Thank you. We received your request and will answer by {made.due_on:%B %d, %Y}."
            )
            return redirect("portal:request", pk=made.pk)
    return render(request, "portal/rights/request_new.html", {"form": form, "due_days": settings.CORRECTION_DUE_DAYS})


class StatementForm(forms.Form):
    statement = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        label="Your statement of disagreement",
        max_length=4000,
        help_text="It is kept with your record; anyone at the co-op who reads that record reads it too.",
    )


@login_required
@require_http_methods(["GET", "POST"])
def portal_request(request, pk: int):
    """One of my requests: its status, due date, our answer, the change that settled it; a declined request
    may be disputed here with a statement of disagreement."""
    item = _own_request(request, pk)
    form = StatementForm(request.POST or None) if item.status == CorrectionRequest.Status.DECLINED else None
    if request.method == "POST":
        if form is None:
            messages.error(request, "A statement of disagreement can be filed only after a request is declined.")
            return redirect("portal:request", pk=item.pk)
        if form.is_valid():
            try:
                correction_request_dispute(actor=request.user, request=item, statement=form.cleaned_data["statement"])
            except ValidationError as error:
                apply_errors(form, error)
            else:
                messages.success(request, "Your statement of disagreement is now kept with your record.")
                return redirect("portal:request", pk=item.pk)
    return render(
        request,
        "portal/rights/request.html",
        {"item": item, "form": form, "settled_by": settled_by_words(item), "today": timezone.localdate()},
    )


# --- Membership list (seed 000 G) -----------------------------------------------------------------------


class MembershipListForm(forms.Form):
    purpose = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        label="Why do you need the membership list?",
        help_text="For example: a petition for a board election. The Privacy Officer decides whether the purpose "
        "is proper under the bylaws.",
        max_length=2000,
    )


@login_required
@require_http_methods(["GET", "POST"])
def portal_membership_list(request):
    member = own_member(request)
    form = MembershipListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            membership_list_request_create(actor=request.user, requester=member, purpose=form.cleaned_data["purpose"])
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, "Your request for the membership list was sent to the Privacy Officer.")
            return redirect("portal:membership_list")
    return render(
        request,
        "portal/rights/membership_list.html",
        {"form": form, "list_requests": membership_list_requests_of_member(member=member)[:20], "member": member},
    )


@login_required
@require_http_methods(["POST"])
@step_up_required
def portal_membership_list_download(request, pk: int):
    """The approved list, to the member who asked for it: released once, through the disclosure gate (names
    and mailing addresses of active members, logged; the approval's own checks refuse anything else)."""
    member = own_member(request)
    list_request = membership_list_requests_of_member(member=member).filter(pk=pk).first()
    if list_request is None:
        raise Http404("No such request.")
    try:
        export = membership_list_export(actor=request.user, request=list_request, format="csv")
    except DisclosureRefused:
        messages.error(
            request, "The list is not available for this request: it is not approved, has expired or was sent."
        )
        return redirect("portal:membership_list")
    response = StreamingHttpResponse(export.chunks(), content_type=export.content_type)
    response["Content-Disposition"] = 'attachment; filename="membership-list.csv"'
    response["Cache-Control"] = "no-store"
    return response
