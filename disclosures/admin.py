"""Staff screens by role. Adds and actions hand off to disclosures.services (which validate and audit);
the log is read-only for everyone. Privacy Officer manages recipients, agreements, legal bases and
membership-list requests; Member Services record consents given on a written form or by phone; the
Auditor views everything and changes nothing."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.template.response import TemplateResponse
from django.utils import timezone

from disclosures import services
from disclosures.labels import basis_kind_label, categories_label, reference_label
from disclosures.models import (
    ConfidentialityAgreement,
    Consent,
    DataCategory,
    DisclosureLogEntry,
    LegalBasis,
    MembershipListRequest,
    NoticeText,
    Recipient,
)
from members.admin_confirm import ask_to_confirm, confirmed_reason


class _DryRun(Exception):
    pass


class CategoriesField(forms.MultipleChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=DataCategory.choices, widget=forms.CheckboxSelectMultiple, **kwargs)


def _shown(name: str) -> str:
    """Existing rows show the categories by their names in the Privacy Policy, never their codes."""
    return "categories_shown" if name == "categories" else name


class _ServiceAdmin(admin.ModelAdmin):
    """Existing rows are shown read-only; creation goes through ``create_via_service``."""

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            names = [f.name for f in self.model._meta.fields] + [m.name for m in self.model._meta.many_to_many]
            return [_shown(name) for name in names]
        return super().get_readonly_fields(request, obj)

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return [_shown(name) for name in fields] if obj is not None else fields

    @admin.display(description="Information")
    def categories_shown(self, obj) -> str:
        return categories_label(obj.categories)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_form(self, request, obj=None, **kwargs):
        form_class = super().get_form(request, obj, **kwargs)
        if obj is not None:
            return form_class
        admin_self = self

        class ServiceCheckedForm(form_class):
            def clean(self):
                data = super().clean()
                if self.errors:
                    return data
                # Dry run of the service in a savepoint, so its rules show as form errors.
                try:
                    with transaction.atomic():
                        admin_self.create_via_service(request, dict(data))
                        raise _DryRun
                except _DryRun:
                    pass
                except ValidationError as exc:
                    raise forms.ValidationError(exc.messages) from None
                return data

        return ServiceCheckedForm

    def save_model(self, request, obj, form, change):
        if change:
            raise PermissionDenied("Records are changed through their actions (revoke, approve), never edited.")
        try:
            form.instance = self.create_via_service(request, form.cleaned_data)
        except ValidationError as exc:
            raise PermissionDenied("; ".join(exc.messages)) from None
        obj.pk = form.instance.pk

    def save_related(self, request, form, formsets, change):
        # Many-to-many fields were set by the service.
        return None

    def create_via_service(self, request, data):  # pragma: no cover - every subclass overrides
        raise NotImplementedError


class RecipientForm(forms.ModelForm):
    class Meta:
        model = Recipient
        fields = ["name", "kind", "contact_name", "contact_email", "address", "notes"]


class AgreementInline(admin.TabularInline):
    model = ConfidentialityAgreement
    extra = 0
    can_delete = False
    fields = ["reference", "scope", "categories", "effective_from", "expires_on", "document_reference"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Recipient)
class RecipientAdmin(_ServiceAdmin):
    form = RecipientForm
    list_display = ("name", "kind", "is_active", "created_at")
    list_filter = ("kind", "is_active")
    search_fields = ("name",)
    inlines = [AgreementInline]
    actions = ["deactivate"]

    def create_via_service(self, request, data):
        return services.recipient_create(actor=request.user, **data)

    @admin.action(description="Deactivate (stop every release to them)", permissions=["change"])
    def deactivate(self, request, queryset):
        for recipient in queryset:
            try:
                services.recipient_deactivate(
                    actor=request.user, recipient=recipient, reason="deactivated by the Privacy Officer in the admin"
                )
            except ValidationError as exc:
                self.message_user(request, f"{recipient}: {'; '.join(exc.messages)}", messages.WARNING)


class AgreementForm(forms.ModelForm):
    categories = CategoriesField()

    class Meta:
        model = ConfidentialityAgreement
        fields = [
            "recipient",
            "reference",
            "scope",
            "categories",
            "signed_on",
            "effective_from",
            "expires_on",
            "document_reference",
        ]


@admin.register(ConfidentialityAgreement)
class AgreementAdmin(_ServiceAdmin):
    form = AgreementForm
    list_display = ("reference", "recipient", "effective_from", "expires_on")
    list_select_related = ("recipient",)
    list_filter = ("expires_on",)

    def create_via_service(self, request, data):
        return services.agreement_record(actor=request.user, **data)


class ConsentForm(forms.ModelForm):
    categories = CategoriesField()

    class Meta:
        model = Consent
        fields = ["member", "recipient", "categories", "purpose", "purpose_detail", "channel", "evidence", "expires_at"]


@admin.register(Consent)
class ConsentAdmin(_ServiceAdmin):
    form = ConsentForm
    list_display = ("id", "member", "recipient", "purpose", "channel", "granted_at", "expires_at", "revoked_at")
    list_select_related = ("member", "recipient")
    list_filter = ("channel", "purpose", "recipient")
    autocomplete_fields = ("member",)
    actions = ["revoke_written", "revoke_phone"]

    def create_via_service(self, request, data):
        return services.consent_grant(actor=request.user, **data)

    def _revoke(self, request, queryset, channel):
        done = 0
        for consent in queryset:
            try:
                services.consent_revoke(
                    actor=request.user, consent=consent, channel=channel, reason=f"recorded by staff ({channel})"
                )
                done += 1
            except ValidationError as exc:
                self.message_user(request, f"{consent}: {'; '.join(exc.messages)}", messages.WARNING)
        self.message_user(request, f"{done} consent(s) revoked; the records are kept.")

    @admin.action(description="Revoke (member asked in writing)", permissions=["change"])
    def revoke_written(self, request, queryset):
        self._revoke(request, queryset, Consent.Channel.WRITTEN)

    @admin.action(description="Revoke (member asked by phone)", permissions=["change"])
    def revoke_phone(self, request, queryset):
        self._revoke(request, queryset, Consent.Channel.PHONE)


class NoticeTextForm(forms.ModelForm):
    class Meta:
        model = NoticeText
        fields = ["kind", "title", "body"]
        widgets = {"body": forms.Textarea(attrs={"rows": 10, "cols": 100})}


@admin.register(NoticeText)
class NoticeTextAdmin(_ServiceAdmin):
    """The Privacy Officer's consent wording. Adding writes the next version of its kind; a version no
    member has consented on may still be corrected; one that a consent points at is frozen (the database
    refuses the change too)."""

    form = NoticeTextForm
    list_display = ("kind", "version", "title", "created_at", "consents_given")
    list_filter = ("kind",)

    @admin.display(description="Consents given on it")
    def consents_given(self, obj: NoticeText) -> int:
        return obj.consents.count()

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.consents.exists():
            return ["kind", "version", "created_at", "created_by"]
        return super().get_readonly_fields(request, obj)

    def get_form(self, request, obj=None, **kwargs):
        if obj is not None and not obj.consents.exists():
            return admin.ModelAdmin.get_form(self, request, obj, **kwargs)
        return super().get_form(request, obj, **kwargs)

    def save_model(self, request, obj, form, change):
        if change and not NoticeText.objects.get(pk=obj.pk).consents.exists():
            try:
                services.notice_text_correct(
                    actor=request.user, notice=obj, title=form.cleaned_data["title"], body=form.cleaned_data["body"]
                )
            except ValidationError as exc:
                raise PermissionDenied("; ".join(exc.messages)) from None
            return
        super().save_model(request, obj, form, change)

    def create_via_service(self, request, data):
        return services.notice_text_publish(
            actor=request.user, kind=data["kind"], title=data["title"], body=data["body"]
        )


class LegalBasisForm(forms.ModelForm):
    categories = CategoriesField()

    class Meta:
        model = LegalBasis
        fields = [
            "kind",
            "recipient",
            "agreement",
            "members",
            "categories",
            "purpose",
            "description",
            "request_reference",
            "process_type",
            "document_reference",
            "issuing_authority",
            "document_date",
            "notice_withheld",
            "justification",
            "valid_until",
        ]


@admin.register(LegalBasis)
class LegalBasisAdmin(_ServiceAdmin):
    form = LegalBasisForm
    list_display = ("id", "kind", "recipient", "purpose", "valid_until", "approved_at", "revoked_at")
    list_select_related = ("recipient",)
    list_filter = ("kind",)
    autocomplete_fields = ("members",)
    actions = ["approve"]

    def create_via_service(self, request, data):
        return services.legal_basis_record(actor=request.user, **data)

    @admin.action(description="Approve as second approver (imminent threat)…", permissions=["approve"])
    def approve(self, request, queryset):
        """A release's second approval: asked to confirm, with the approver's reason, before anything changes;
        then each basis's outcome on its own line."""
        reason = confirmed_reason(request)
        if reason is None:
            count = queryset.count()
            return ask_to_confirm(
                self,
                request,
                queryset,
                title="Approve imminent-threat releases",
                heading="Approving lets the release go ahead",
                consequence="As second approver you allow the listed members' information to be released to "
                "the recipient under each legal basis below, without the members' consent, until it expires "
                "or is revoked. Give the reason the threat justifies it; it is kept on the record.",
                confirm_label=f"Yes, approve {count} release{'s' if count != 1 else ''}",
                describe=lambda basis: f"{basis}: to {basis.recipient.name}. Justification: {basis.justification}",
            )
        for basis in queryset:
            try:
                services.legal_basis_approve(actor=request.user, basis=basis, reason=reason)
            except (ValidationError, PermissionDenied) as exc:
                text = "; ".join(getattr(exc, "messages", [str(exc)]))
                self.message_user(request, f"{basis}: not approved. {text}", messages.ERROR)
            else:
                self.message_user(request, f"{basis}: approved; the release may go ahead.", messages.SUCCESS)
        return None

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm("disclosures.approve_legalbasis")


class MembershipListRequestForm(forms.ModelForm):
    class Meta:
        model = MembershipListRequest
        fields = ["requester", "purpose"]


@admin.register(MembershipListRequest)
class MembershipListRequestAdmin(_ServiceAdmin):
    form = MembershipListRequestForm
    list_display = ("id", "requester", "status", "requested_at", "decided_by", "valid_until")
    list_select_related = ("requester", "decided_by")
    list_filter = ("status",)
    autocomplete_fields = ("requester",)
    actions = ["approve", "deny"]

    def create_via_service(self, request, data):
        return services.membership_list_request_create(
            actor=request.user, requester=data["requester"], purpose=data["purpose"]
        )

    def _decide(self, request, queryset, approve):
        """Ask for the reason first (a decision without one is refused by the service), then report each
        request's outcome on its own line: a success is never shown beside an error for the same request."""
        verb = "approve" if approve else "deny"
        note = " ".join(request.POST.get("decision_note", "").split())
        if "decision_note" not in request.POST or not note:
            return TemplateResponse(
                request,
                "admin/disclosures/membershiplistrequest/decide.html",
                {
                    **self.admin_site.each_context(request),
                    "title": f"{verb.capitalize()} membership-list requests",
                    "verb": verb,
                    "action": request.POST.get("action", verb),
                    "requests": queryset,
                    "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                    "missing_note": "decision_note" in request.POST,
                    "opts": self.model._meta,
                },
            )
        for item in queryset:
            try:
                decided = services.membership_list_request_decide(
                    actor=request.user, request=item, approve=approve, note=note
                )
            except (ValidationError, PermissionDenied) as exc:
                text = "; ".join(getattr(exc, "messages", [str(exc)]))
                self.message_user(request, f"Request from {item.requester}: not decided. {text}", messages.ERROR)
                continue
            if approve:
                until = timezone.localtime(decided.valid_until).strftime("%Y-%m-%d")
                outcome = f"approved; the list may be released to them until {until}"
            else:
                outcome = "denied; the member will be told the reason you gave"
            self.message_user(request, f"Request from {item.requester}: {outcome}.", messages.SUCCESS)
        return None

    @admin.action(description="Approve (proper purpose)…", permissions=["approve"])
    def approve(self, request, queryset):
        return self._decide(request, queryset, True)

    @admin.action(description="Deny…", permissions=["approve"])
    def deny(self, request, queryset):
        return self._decide(request, queryset, False)

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm("disclosures.approve_membershiplistrequest")


@admin.register(DisclosureLogEntry)
class DisclosureLogEntryAdmin(admin.ModelAdmin):
    """Read-only: the database refuses edits anyway (trigger), the admin does not offer them."""

    list_display = ("seq", "at", "outcome", "recipient_label", "basis", "member_count", "information")
    list_filter = ("outcome", "basis_kind")
    search_fields = ("basis_ref", "recipient_label", "reason")
    date_hierarchy = "at"
    exclude = ("member_ids",)

    def get_readonly_fields(self, request, obj=None):
        return [_shown(f.name) for f in DisclosureLogEntry._meta.fields if f.name != "member_ids"]

    def get_fields(self, request, obj=None):
        return self.get_readonly_fields(request, obj)

    @admin.display(description="Basis")
    def basis(self, obj) -> str:
        reference = reference_label(obj.basis_ref)
        return f"{basis_kind_label(obj.basis_kind)}" + (f" ({reference})" if reference else "")

    @admin.display(description="Information")
    def information(self, obj) -> str:
        return categories_label(obj.categories)

    categories_shown = information

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
