"""Staff pages of the Red Flags program outside the admin: caller verification and the annual review.

Each page requires an active staff login with a MemberGuard role *and* the page's permission; a
member's portal login or a role without the permission gets 403, an anonymous visitor the login page.
"""

from __future__ import annotations

import csv
import io

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from members.csv_cells import csv_safe
from members.models import Member
from members.staff_tools import staff_permission_required
from redflags import selectors
from redflags.services.caller_verification import caller_verification_passed, caller_verify


class CallerVerificationForm(forms.Form):
    member_number = forms.CharField(max_length=20, help_text="The member number the caller gives.")
    ssn_last4 = forms.CharField(
        label="SSN last 4 (as stated)",
        max_length=4,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    date_of_birth = forms.DateField(
        label="Date of birth (as stated)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date", "autocomplete": "off"}),
    )
    address_line1 = forms.CharField(
        label="Street address (as stated)",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    address_line2 = forms.CharField(
        label="Apartment / unit", max_length=200, required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    address_city = forms.CharField(
        label="City", max_length=100, required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    address_state = forms.CharField(
        label="State", max_length=2, required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    address_postal_code = forms.CharField(
        label="ZIP", max_length=10, required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    phone = forms.CharField(
        label="Phone (as stated)", max_length=30, required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )

    def stated(self) -> dict:
        data = self.cleaned_data
        stated = {"ssn_last4": data["ssn_last4"], "date_of_birth": data["date_of_birth"], "phone": data["phone"]}
        if data["address_line1"]:
            stated["address"] = (
                data["address_line1"],
                data["address_line2"],
                data["address_city"],
                data["address_state"],
                data["address_postal_code"],
            )
        return stated


ITEM_LABELS = {"ssn_last4": "SSN last 4", "date_of_birth": "Date of birth", "address": "Address", "phone": "Phone"}


@staff_permission_required("redflags.verify_caller")
def caller_verification(request):
    """Internal procedure 7: the caller states, staff type, the system answers per item.

    The response never contains a stored value, and the form is never re-filled with what was typed.
    """
    results = None
    verified = False
    member_number = ""
    errors: list[str] = []
    if request.method == "POST":
        posted = CallerVerificationForm(request.POST)
        if posted.is_valid():
            member = Member.objects.filter(member_number=posted.cleaned_data["member_number"].strip().upper()).first()
            if member is None:
                errors.append("No member has this number.")
            else:
                try:
                    outcome = caller_verify(member=member, staff=request.user, stated=posted.stated())
                    results = [(ITEM_LABELS[key], ok) for key, ok in outcome.items()]
                    verified = caller_verification_passed(outcome)
                    member_number = member.member_number
                except ValidationError as exc:
                    errors.extend(exc.messages)
        else:
            errors.extend(
                f"{posted.fields[name].label or name}: {' '.join(messages)}"
                if name in posted.fields
                else " ".join(messages)
                for name, messages in posted.errors.items()
            )
    # Never re-filled with what was typed: only the member number survives a submission.
    form = CallerVerificationForm(initial={"member_number": request.POST.get("member_number", "")[:20]})
    response = render(
        request,
        "redflags/caller_verification.html",
        {"form": form, "results": results, "verified": verified, "member_number": member_number, "errors": errors},
    )
    response["Cache-Control"] = "no-store"
    return response


def _year(request) -> int:
    try:
        year = int(request.GET.get("year", timezone.localdate().year))
    except ValueError:
        raise PermissionDenied("year must be a number") from None
    if not 2000 <= year <= 2100:
        raise PermissionDenied("year out of range")
    return year


@staff_permission_required("redflags.view_annual_review")
def annual_review(request):
    report = selectors.annual_review_report(year=_year(request))
    return render(request, "redflags/annual_review.html", {"report": report})


@staff_permission_required("redflags.view_annual_review")
def annual_review_csv(request):
    report = selectors.annual_review_report(year=_year(request))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["section", "item", "value"])
    for row in selectors.annual_review_rows(report):
        writer.writerow([csv_safe(cell) for cell in row])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="red-flags-annual-review-{report["year"]}.csv"'
    return response


@staff_permission_required("redflags.view_annual_review")
def annual_review_pdf(request):
    from redflags.report_pdf import render_pdf  # deferred: its PDF library costs a second at every start-up

    report = selectors.annual_review_report(year=_year(request))
    response = HttpResponse(render_pdf(report), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="red-flags-annual-review-{report["year"]}.pdf"'
    return response
