"""Member portal pages. Every page goes through ``own_member`` / ``_own_account``, which return the
signed-in member's own record or raise 404: no page fetches by a user-supplied id without them."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from accounts.models import Account
from disclosures.models import NOT_CONSENTABLE, SECONDARY_PURPOSES, DataCategory, NoticeText
from disclosures.selectors import consent_of_member, consents_of_member, disclosures_to_member, recipients_for_members
from disclosures.services import (
    NOT_HELD,
    consent_grant,
    consent_revoke,
    notice_fill,
    notice_text_current,
    portal_consent_wording,
)
from members import services as member_services
from members.models import Member
from members.notices.kinds import KINDS, OPTIONAL_KINDS
from members.notices.models import AlertPreference
from members.notices.services import alert_preference_set
from members.selectors import member_for_user
from portal.bill_pdf import bill_pdf
from portal.enrollment import online_access_enroll
from portal.labels import CATEGORY_LABELS, category_labels, purpose_label, release_rows
from portal.models import CorrectionRequest
from portal.selectors import account_summaries, account_summary, bill_of_account, bills_of_account, payments_of_account
from portal.services import correction_request_submit
from portal.stepup import step_up_required
from portal.usage_views import VIEWS, chart_data, table_rows, usage_period


def own_member(request) -> Member:
    member = member_for_user(request.user)
    if member is None:
        raise Http404("No member record is linked to this login.")
    return member


def _own_account(request, account_number: str) -> Account:
    """The signed-in member's account with this number (404 otherwise), in one query: the member row is
    not loaded first (the usage page reads it on every request and never shows it)."""
    account = (
        Account.objects.select_related("premise")
        .filter(member__user_id=request.user.pk, account_number=account_number)
        .first()
    )
    if account is None:
        raise Http404("No such account.")
    return account


def apply_errors(form: forms.Form, error: ValidationError) -> None:
    """A service's refusal on the form: each message on its field, or on the form as a whole."""
    if not hasattr(error, "error_dict"):
        for message in error.messages:
            form.add_error(None, message)
        return
    for field, messages_ in error.message_dict.items():
        target = field if field in form.fields else None
        for message in messages_:
            form.add_error(target, message)


@login_required
def portal_home(request):
    """What a member looks for first: per account the balance, amount due and due date, the latest
    bill (with its PDF) and the way to usage; then what the co-op keeps about them."""
    member = own_member(request)
    accounts = member.accounts.select_related("premise").order_by("account_number")
    return render(
        request,
        "portal/home.html",
        {
            "member": member,
            "summaries": account_summaries(accounts=list(accounts)),
            "capital_credits": member.capital_credits.order_by("-year")[:10],
            # The requested value is encrypted and not shown here: not decrypted on every visit.
            "corrections": member.correction_requests.defer("requested_correction")[:10],
        },
    )


BILLS_PER_PAGE = 12


@login_required
def portal_account(request, account_number: str):
    """The account's whole bill history and its payments, each paginated (nothing is cut off)."""
    account = _own_account(request, account_number)
    bills = Paginator(bills_of_account(account=account), BILLS_PER_PAGE).get_page(request.GET.get("page"))
    payments = Paginator(payments_of_account(account=account), BILLS_PER_PAGE).get_page(
        request.GET.get("payments_page")
    )
    return render(
        request,
        "portal/account.html",
        {"account": account, "summary": account_summary(account=account), "bills": bills, "payments": payments},
    )


@login_required
def portal_bill_pdf(request, account_number: str, statement_number: str):
    """One of the member's own bills as a PDF (another member's bill, or no such bill: 404)."""
    account = _own_account(request, account_number)
    bill = bill_of_account(account=account, statement_number=statement_number)
    if bill is None:
        raise Http404("No such bill.")
    response = HttpResponse(bill_pdf(bill=bill), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="bill-{bill.period_end:%Y-%m}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def portal_security(request):
    """Sign-in and security: the member's password and two-step sign-in, in the portal (allauth's pages,
    in the portal's look), never the staff admin's password page."""
    return render(request, "portal/security.html", {"member": own_member(request)})


class ContactForm(forms.Form):
    mailing_line1 = forms.CharField(label="Street address", max_length=200)
    mailing_line2 = forms.CharField(label="Apartment, suite", max_length=200, required=False)
    mailing_city = forms.CharField(label="City", max_length=100)
    mailing_state = forms.CharField(label="State", max_length=2)
    mailing_postal_code = forms.CharField(label="ZIP code", max_length=10)
    phone = forms.CharField(max_length=30, required=False)
    email = forms.EmailField(required=False)


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required
def portal_contact(request):
    """Members keep their own contact information current; each change is audited and scored."""
    member = own_member(request)
    initial = {name: getattr(member, name) for name in ContactForm.base_fields}
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            address = (
                data["mailing_line1"],
                data["mailing_line2"],
                data["mailing_city"],
                data["mailing_state"],
                data["mailing_postal_code"],
            )
            current = (
                member.mailing_line1,
                member.mailing_line2,
                member.mailing_city,
                member.mailing_state,
                member.mailing_postal_code,
            )
            with transaction.atomic():
                if address != current:
                    member_services.member_change_address(
                        actor=request.user,
                        member=member,
                        line1=address[0],
                        line2=address[1],
                        city=address[2],
                        state=address[3],
                        postal_code=address[4],
                        reason="changed by the member in the portal",
                    )
                if data["phone"] != member.phone:
                    member_services.member_change_phone(
                        actor=request.user, member=member, phone=data["phone"], reason="portal"
                    )
                if data["email"] != member.email:
                    member_services.member_change_email(
                        actor=request.user, member=member, email=data["email"], reason="portal"
                    )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, "Your contact information was updated.")
            return redirect("portal:home")
    return render(request, "portal/contact.html", {"form": form, "member": member})


class CorrectionForm(forms.Form):
    topic = forms.ChoiceField(choices=CorrectionRequest.Topic.choices, label="What should be corrected?")
    requested_correction = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), label="What the record should say")
    explanation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, label="Anything we should know"
    )


@login_required
@require_http_methods(["GET", "POST"])
def portal_correction_new(request):
    member = own_member(request)
    form = CorrectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            correction_request_submit(actor=request.user, member=member, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, "Thank you. Member Services will review your request and reply.")
            return redirect("portal:home")
    return render(request, "portal/correction_new.html", {"form": form})


@login_required
def portal_usage(request, account_number: str):
    """A member's own electric usage (Privacy Policy B.3): by billing period (the bill's own dates, so
    the bill and the page agree), calendar month, day (hourly or 15-minute) or year, each beside the
    same period a year earlier, with previous/next and a table that carries every number of the chart.
    """
    account = _own_account(request, account_number)
    today = timezone.localdate()
    period = usage_period(account=account, params=request.GET, today=today)
    anchor = min(period.last_day, today - dt.timedelta(days=1))
    switch = {
        "bill": {"view": "bill"},
        "month": {"view": "month", "month": anchor.strftime("%Y-%m")},
        "day": {"view": "day", "day": anchor.isoformat()},
        "year": {"view": "year", "year": str(anchor.year)},
    }
    return render(
        request,
        "portal/usage.html",
        {
            "account": account,
            "period": period,
            "views": [(key, label, urlencode(switch[key]), key == period.view) for key, label in VIEWS.items()],
            "previous_query": urlencode(period.previous) if period.previous else "",
            "following_query": urlencode(period.following) if period.following else "",
            "detail_queries": {
                minutes: urlencode({"view": "day", "day": period.first_day.isoformat(), "detail": minutes})
                for minutes in ("60", "15")
            },
            "chart": chart_data(period),
            "table_rows": table_rows(period),
        },
    )


class ConsentForm(forms.Form):
    """A member's own written (portal) consent to share their data with a third party (seed 001)."""

    recipient = forms.ModelChoiceField(queryset=None, label="Share with", empty_label="Choose a company")
    categories = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, label="Which information")
    purpose = forms.ChoiceField(label="For what purpose")
    expires_on = forms.DateField(required=False, label="Until", widget=forms.DateInput(attrs={"type": "date"}))
    # The version of the notice the page showed, so the consent keeps the words the member read even if
    # the Privacy Officer publishes a new version while the page is open.
    notice_version = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def clean_notice_version(self):
        version = self.cleaned_data.get("notice_version")
        if version is None:
            return notice_text_current(NoticeText.Kind.PORTAL_CONSENT)
        notice = NoticeText.objects.filter(kind=NoticeText.Kind.PORTAL_CONSENT, version=version).first()
        if notice is None:
            raise ValidationError("The notice this page showed is unknown; reload the page.")
        return notice

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["recipient"].queryset = recipients_for_members()
        self.fields["categories"].choices = [
            (value, CATEGORY_LABELS[value])
            for value, _label in DataCategory.choices
            if value not in NOT_CONSENTABLE | NOT_HELD
        ]
        self.fields["purpose"].choices = [(value, purpose_label(value)) for value in sorted(SECONDARY_PURPOSES)]


@login_required
@require_http_methods(["GET", "POST"])
@step_up_required
def portal_privacy(request):
    """My consents (grant, revoke) and who received my data, except releases a legal order keeps quiet."""
    member = own_member(request)
    notice = notice_text_current(NoticeText.Kind.PORTAL_CONSENT)
    form = ConsentForm(request.POST or None, initial={"notice_version": notice.version})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        expires = None
        if data["expires_on"]:
            expires = timezone.make_aware(dt.datetime.combine(data["expires_on"], dt.time.max))
        shown = portal_consent_wording(
            data["notice_version"],
            recipient=data["recipient"].name,
            categories=data["categories"],
            purpose=data["purpose"],
            until=data["expires_on"],
        )
        try:
            consent_grant(
                actor=request.user,
                member=member,
                recipient=data["recipient"],
                categories=data["categories"],
                purpose=data["purpose"],
                channel="portal",
                evidence=f"portal login {request.user.get_username()}",
                expires_at=expires,
                notice_text=data["notice_version"],
                notice_shown=shown,
            )
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
        else:
            messages.success(request, f"You allowed us to share your information with {data['recipient'].name}.")
            return redirect("portal:privacy")
    return render(
        request,
        "portal/privacy.html",
        {
            "form": form,
            "consents": [
                {
                    "consent": consent,
                    "categories": category_labels(consent.categories),
                    "purpose": purpose_label(consent.purpose),
                }
                for consent in consents_of_member(member=member)
            ],
            "releases": release_rows(disclosures_to_member(member=member)[:50]),
            "notice": notice,
            "notice_words": notice_fill(
                notice,
                coop=settings.COOP_NAME,
                recipient="the company you choose",
                categories="chosen information (ticked below)",
                purpose="the purpose you choose",
                period="until the date you choose, or until you withdraw it",
            ),
            "now": timezone.now(),
        },
    )


@login_required
@require_http_methods(["POST"])
@step_up_required
def portal_consent_revoke(request, consent_id: int):
    consent = consent_of_member(member=own_member(request), consent_id=consent_id)
    try:
        consent_revoke(
            actor=request.user, consent=consent, channel="portal", reason="revoked by the member in the portal"
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"You withdrew your consent for {consent.recipient.name}. Nothing more will be shared."
        )
    return redirect("portal:privacy")


@login_required
@require_http_methods(["GET", "POST"])
def portal_alerts(request):
    """Which optional alerts the member receives. Security notices are always sent and listed as such."""
    member = own_member(request)
    if request.method == "POST":
        for kind in OPTIONAL_KINDS:
            alert_preference_set(actor=request.user, member=member, kind=kind, enabled=f"alert_{kind}" in request.POST)
        messages.success(request, "Your alert choices were saved.")
        return redirect("portal:alerts")
    off = set(AlertPreference.objects.filter(member=member, enabled=False).values_list("kind", flat=True))
    return render(
        request,
        "portal/alerts.html",
        {
            "optional": [(kind, KINDS[kind].label, kind not in off) for kind in OPTIONAL_KINDS],
            "always": [KINDS[kind].label for kind in KINDS if kind not in OPTIONAL_KINDS],
        },
    )


class EnrollForm(forms.Form):
    account_number = forms.CharField(max_length=20, label="Account number (on your bill)")
    service_zip = forms.CharField(max_length=10, required=False, label="ZIP code where you get service")
    ssn_last4 = forms.CharField(
        max_length=4,
        required=False,
        label="Last four digits of your SSN or tax ID",
        widget=forms.PasswordInput(render_value=False),
    )
    last_bill_amount = forms.CharField(max_length=20, required=False, label="Amount of your last bill")
    username = forms.CharField(max_length=150, label="Choose a sign-in name")
    email = forms.EmailField(label="Your e-mail address")
    password = forms.CharField(widget=forms.PasswordInput, label="Choose a password")


@require_http_methods(["GET", "POST"])
def portal_enroll(request):
    """Set up online access without calling the co-op: prove the account number and two of three facts
    the co-op holds (portal/enrollment.py)."""
    if request.user.is_authenticated:
        return redirect("portal:home")
    form = EnrollForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            online_access_enroll(request=request, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            return render(request, "portal/enroll_sent.html", {"email": form.cleaned_data["email"]})
    return render(request, "portal/enroll.html", {"form": form})
