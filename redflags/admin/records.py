"""What staff record for the program: the fraud list, CRA alerts, identity-theft notices, incidents;
and the opening checklists and caller-verification attempts, read-only. Each add calls
``services.notices``; a fraud-list value is typed once and never shown.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin

from redflags.admin.base import ReadOnlyAdmin, RecordOnlyAdmin
from redflags.models import (
    CallerVerificationAttempt,
    ConsumerReportAlert,
    IdentityTheftNotice,
    KnownFraudEntry,
    SecurityIncident,
    VerificationChecklist,
)
from redflags.services import notices


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
    autocomplete_fields = ("member", "account")
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
    autocomplete_fields = ("member", "account")
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
    autocomplete_fields = ("accounts",)
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
