"""The public application form for third parties (no sign-in: a company applies, the co-op decides)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from connect.models import ThirdParty
from connect.scopes import SCOPES
from connect.services import third_party_apply


class ApplyForm(forms.Form):
    name = forms.CharField(max_length=200, label="Company or service name")
    website = forms.URLField(required=False, label="Website", assume_scheme="https")
    contact_name = forms.CharField(max_length=200, label="Contact person")
    contact_email = forms.EmailField(label="Contact e-mail")
    contact_phone = forms.CharField(max_length=32, required=False, label="Contact phone")
    purpose = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), label="What you will do with members' data")
    redirect_uris = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label="Redirect URIs (one per line, https)"
    )
    categories = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple,
        choices=[(scope.category, scope.description) for scope in SCOPES.values()],
        label="Data you ask for",
    )
    frequency = forms.ChoiceField(choices=ThirdParty.Frequency.choices, label="How often you will collect new data")
    notify_uri = forms.URLField(
        required=False,
        assume_scheme="https",
        label="Notification URI (optional, https): we POST an ESPI BatchList there when new data arrives",
    )


@require_http_methods(["GET", "POST"])
def third_party_apply_page(request):
    form = ApplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            third_party = third_party_apply(actor=request.user, **form.cleaned_data)
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, messages in error.message_dict.items():
                    for message in messages:
                        form.add_error(field if field in form.fields else None, message)
            else:
                for message in error.messages:
                    form.add_error(None, message)
        else:
            return render(request, "connect/applied.html", {"third_party": third_party}, status=201)
    return render(request, "connect/apply.html", {"form": form}, status=400 if form.errors else 200)
