"""Green Button Connect My Data in the portal: the member's authorization screen (the OAuth authorization
endpoint, django-oauth-toolkit's view with MemberGuard's consent form) and the list of connected apps.

The screen says in plain words who gets what, for which period and how often; the member picks accounts,
data and an end date. Allowing is a written consent with the exact words shown (the Connect My Data
notice, versioned by the Privacy Officer), needs a fresh sign-in check (step-up), and is confirmed by a
notice. Only then does django-oauth-toolkit issue the authorization code, with the scope the member
chose (never more than the third party asked for and was approved for).
"""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_http_methods
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.forms import AllowForm
from oauth2_provider.models import Application
from oauth2_provider.views import AuthorizationView

from connect.models import Authorization, ThirdParty
from connect.scopes import SCOPES, categories_for
from connect.selectors import authorization_of_member, authorizations_of_member
from connect.services import authorization_grant, authorization_revoke
from disclosures.models import NoticeText
from disclosures.services import category_words, notice_fill, notice_text_current
from members.selectors import member_for_user
from portal.stepup import step_up_required


class _Rollback(Exception):
    def __init__(self, response):
        self.response = response


class ConnectAllowForm(AllowForm):
    accounts = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, label="Which accounts", required=False)
    categories = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, label="Which information")
    data_from = forms.DateField(label="Share data starting from", widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(label="Access ends on", widget=forms.DateInput(attrs={"type": "date"}))
    notice_version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, member=None, requested_categories=(), **kwargs):
        super().__init__(*args, **kwargs)
        accounts = member.accounts.select_related("premise").order_by("account_number") if member else []
        self.fields["accounts"].choices = [(account.account_number, _account_label(account)) for account in accounts]
        self.fields["categories"].choices = [
            (scope.category, scope.description) for scope in SCOPES.values() if scope.category in requested_categories
        ]

    def clean_notice_version(self):
        notice = NoticeText.objects.filter(
            kind=NoticeText.Kind.CONNECT_MY_DATA, version=self.cleaned_data["notice_version"]
        ).first()
        if notice is None:
            raise ValidationError("The wording this page showed is unknown; reload the page.")
        return notice


def _account_label(account) -> str:
    premise = getattr(account, "premise", None)
    where = f" at {premise.service_line1}" if premise is not None and getattr(premise, "service_line1", "") else ""
    return f"Account {account.account_number}{where}"


def _wording(notice: NoticeText, *, third_party: ThirdParty, categories, accounts, data_from, ends_on) -> str:
    return notice_fill(
        notice,
        coop=settings.COOP_NAME,
        recipient=third_party.name,
        categories=category_words(list(categories)) or "the information you tick",
        accounts=("account " + ", ".join(accounts)) if accounts else "the accounts you tick",
        period=f"data from {data_from:%B} {data_from.day}, {data_from.year} onward",
        frequency=third_party.get_frequency_display(),
        end=f"{ends_on:%B} {ends_on.day}, {ends_on.year}",
        purpose=third_party.purpose,
    )


@method_decorator(step_up_required, name="dispatch")
class ConnectAuthorizationView(AuthorizationView):
    template_name = "portal/connect_authorize.html"
    form_class = ConnectAllowForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and member_for_user(request.user) is None:
            raise Http404("No member record is linked to this login.")
        return super().dispatch(request, *args, **kwargs)

    def _third_party(self) -> ThirdParty | None:
        client_id = self.oauth2_data.get("client_id") or self.request.POST.get("client_id")
        application = Application.objects.filter(client_id=client_id).select_related("third_party").first()
        return getattr(application, "third_party", None) if application else None

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        third_party = self._third_party()
        kwargs["member"] = member_for_user(self.request.user)
        kwargs["requested_categories"] = (
            categories_for(self.oauth2_data.get("scopes") or self.request.POST.get("scope", "")) if third_party else []
        )
        return kwargs

    def get_initial(self):
        initial = super().get_initial()
        today = timezone.localdate()
        member = member_for_user(self.request.user)
        initial.update(
            {
                "accounts": [account.account_number for account in member.accounts.all()] if member else [],
                "categories": categories_for(self.oauth2_data.get("scopes", [])),
                "data_from": today - dt.timedelta(days=365),
                "ends_on": today + dt.timedelta(days=365),
                "notice_version": notice_text_current(NoticeText.Kind.CONNECT_MY_DATA).version,
            }
        )
        return initial

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        third_party = self._third_party()
        form = context.get("form")
        context["third_party"] = third_party
        if third_party is not None and form is not None:
            notice = notice_text_current(NoticeText.Kind.CONNECT_MY_DATA)
            initial = form.initial
            context["notice"] = notice
            context["notice_words"] = _wording(
                notice,
                third_party=third_party,
                categories=initial.get("categories") or [],
                accounts=[],
                data_from=initial.get("data_from") or timezone.localdate(),
                ends_on=initial.get("ends_on") or timezone.localdate(),
            )
        return context

    def form_valid(self, form):
        if not form.cleaned_data.get("allow"):
            return super().form_valid(form)  # the third party is told access_denied
        third_party = self._third_party()
        if third_party is None:
            form.add_error(None, "This application is not available.")
            return self.form_invalid(form)
        data = form.cleaned_data
        member = member_for_user(self.request.user)
        shown = _wording(
            data["notice_version"],
            third_party=third_party,
            categories=data["categories"],
            accounts=data["accounts"],
            data_from=data["data_from"],
            ends_on=data["ends_on"],
        )
        try:
            with transaction.atomic():
                authorization = authorization_grant(
                    actor=self.request.user,
                    member=member,
                    third_party=third_party,
                    account_numbers=data["accounts"],
                    categories=data["categories"],
                    data_from=data["data_from"],
                    ends_on=data["ends_on"],
                    notice_text=data["notice_version"],
                    notice_shown=shown,
                )
                form.cleaned_data["scope"] = authorization.scope
                response = super().form_valid(form)
                if response.status_code not in (301, 302) or "code=" not in response.get("Location", ""):
                    raise _Rollback(response)  # oauthlib refused: nothing authorized
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
            return self.form_invalid(form)
        except (_Rollback, OAuthToolkitError) as failed:
            return getattr(failed, "response", None) or self.form_invalid(form)
        return response


@login_required
@require_http_methods(["GET"])
def portal_connected_apps(request):
    member = member_for_user(request.user)
    if member is None:
        raise Http404("No member record is linked to this login.")
    return render(
        request,
        "portal/connected_apps.html",
        {"authorizations": authorizations_of_member(member=member), "now": timezone.now()},
    )


@login_required
@require_http_methods(["POST"])
@step_up_required
def portal_connected_app_end(request, authorization_id: int):
    member = member_for_user(request.user)
    if member is None:
        raise Http404("No member record is linked to this login.")
    authorization: Authorization = authorization_of_member(member=member, authorization_id=authorization_id)
    try:
        authorization_revoke(actor=request.user, authorization=authorization)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(
            request, f"{authorization.third_party.name} can no longer collect your data. The record is kept."
        )
    return redirect("portal:connected_apps")
