"""Staff admin for premises, meters, covered accounts and their activity.

Adding goes through the services (the form's ``clean`` calls the service, so a refused write shows as
form errors and nothing is saved); existing rows are read-only and change only through admin actions
that call the services. Gate codes, dog warnings and meter-reading notes are shown only to users with
``accounts.view_field_notes`` (the Field Services group), and written but never echoed to others.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect

from accounts import services
from accounts.models import Account, AuthorizedParty, Bill, Meter, Payment, Premise, ReturnedMail, StatementNotice
from members import identifiers
from members.admin_confirm import ask_to_confirm, confirmed_reason

# Ciphertexts a list never needs (members/identifiers.py): loading them would decrypt every row.
MEMBER_CIPHERTEXTS = identifiers.deferred("members.Member", "member__")
PREMISE_CIPHERTEXTS = identifiers.deferred("accounts.Premise")


def _defer_member(queryset):
    return queryset.defer(*MEMBER_CIPHERTEXTS)


class ServiceForm(forms.ModelForm):
    """A model form whose ``clean`` performs the write through a service (``perform``)."""

    actor = None
    created = None

    def perform(self, data):  # pragma: no cover - overridden
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.created = self.perform(data)
        except ValidationError as exc:
            for field, field_messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, field_messages)
        return data

    def _post_clean(self):
        pass  # the service validated and saved; model-level validation would re-run on a stale instance


class ServiceAdmin(admin.ModelAdmin):
    """Adds through a ServiceForm, never changes or deletes rows directly."""

    add_form: type[ServiceForm] | None = None

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None and self.add_form is not None:
            kwargs["form"] = self.add_form
            kwargs["fields"] = self.add_form._meta.fields
        form = super().get_form(request, obj, change=change, **kwargs)
        form.actor = request.user
        return form

    def get_fieldsets(self, request, obj=None):
        if obj is None and self.add_form is not None:
            extra = list(getattr(self.add_form, "extra_fields", ()))
            return [(None, {"fields": [*self.add_form._meta.fields, *extra]})]
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return [field for field in self.get_fields(request, obj)]

    def save_model(self, request, obj, form, change):
        if change or form.created is None:
            return
        obj.__dict__.update({key: value for key, value in form.created.__dict__.items() if key != "_state"})
        obj._state.adding = False

    def save_related(self, request, form, formsets, change):
        pass

    def has_add_permission(self, request) -> bool:
        return self.add_form is not None and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def log_addition(self, request, obj, message):
        pass  # the service wrote the audit row

    def log_change(self, request, obj, message):
        pass


# --- Accounts -------------------------------------------------------------------------------------


class AccountOpenForm(ServiceForm):
    """Opening records how identity was verified (detection steps 1-3); without it the opening is held."""

    extra_fields = ("identity_document_reviewed", "documents_seen", "warning_acknowledgement")
    identity_document_reviewed = forms.BooleanField(
        required=False,
        label="Identity verified: a driver's licence or other identification copied and reviewed",
    )
    documents_seen = forms.MultipleChoiceField(
        required=False,
        choices=list(services.IDENTITY_DOCUMENT_TYPES.items()),
        widget=forms.CheckboxSelectMultiple,
        label="Documents seen",
    )
    warning_acknowledgement = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label='"Red Flag Exists" warning acknowledged (note)',
        help_text="Required when the member has an open Red Flag Exists warning.",
    )

    class Meta:
        model = Account
        fields = ["member", "premise"]

    def perform(self, data):
        documents = list(data.get("documents_seen") or [])
        return services.account_open(
            actor=self.actor,
            member=data["member"],
            premise=data.get("premise"),
            checklist={
                "opened_in": "admin",
                "identity_document_reviewed": bool(data.get("identity_document_reviewed")),
                "business_documentation_reviewed": bool(data.get("identity_document_reviewed"))
                and any(doc.startswith("business") or doc == "ein_letter" for doc in documents),
                "documents_seen": documents,
            },
            acknowledgement=data.get("warning_acknowledgement") or "",
        )


HELD_NEXT_STEP = (
    "Next step: do not tell the customer the account is open. Verify their identity in person with a "
    "government photo ID (or call them back at a number already on file), then ask a Red Flag Analyst to "
    "release the hold from the Red Flags review queue; a second trained person approves the release."
)


def opening_outcome_message(account: Account) -> tuple[int, str]:
    """The level and words of what an opening came to, with the Red Flags program's reasons when it
    scored one (``redflags`` leaves them on the instance: ``red_flags_score``, ``red_flags_reasons``)."""
    score = getattr(account, "red_flags_score", None)
    reasons = getattr(account, "red_flags_reasons", None) or []
    scored = f" It scored {score}" if score is not None else ""
    if scored and getattr(account, "red_flags_hold_threshold", None) is not None:
        scored += f" (the program holds at {account.red_flags_hold_threshold})"
    why = f" Why: {' | '.join(reasons)}." if reasons else ""
    if account.status == Account.Status.DENIED:
        return messages.ERROR, f"Account {account.account_number} was NOT opened: the opening was denied.{scored}.{why}"
    if account.on_hold:
        return (
            messages.WARNING,
            f"Account {account.account_number} was created but NOT opened: it is held by the Red Flags program "
            f"pending identity verification.{scored and scored + '.'}{why} {HELD_NEXT_STEP}",
        )
    return (
        messages.WARNING,
        f"Account {account.account_number} was opened with a \u201cRed Flag Exists\u201d warning."
        f"{scored and scored + '.'}{why} Verify the caller before discussing or changing the account.",
    )


class AuthorizedPartyInline(admin.TabularInline):
    model = AuthorizedParty
    fields = ("name", "relationship", "phone", "email", "added_at", "removed_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ServiceAdmin):
    add_form = AccountOpenForm
    list_display = (
        "account_number",
        "member_number",
        "member_name",
        "premise",
        "status",
        "red_flag_warning",
        "on_hold",
        "opened_at",
    )
    list_filter = ("status", "red_flag_warning", "on_hold")
    list_select_related = ("member", "premise")
    search_fields = ("account_number", "member__member_number", "premise__premise_number")
    show_full_result_count = False
    list_per_page = 100
    autocomplete_fields = ("member", "premise")
    fields = (
        "account_number",
        "member",
        "premise",
        "status",
        "status_reason",
        "red_flag_warning",
        "on_hold",
        "opened_at",
        "opened_by",
        "closed_at",
        "suspended_at",
    )
    inlines = [AuthorizedPartyInline]
    actions = ["close_accounts", "suspend_accounts", "reinstate_accounts"]

    def get_queryset(self, request):
        return _defer_member(super().get_queryset(request)).defer(
            *identifiers.deferred("accounts.Premise", "premise__")
        )

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    @admin.display(description="Member", ordering="member__member_number")
    def member_number(self, account: Account) -> str:
        return account.member.member_number

    @admin.display(description="Name")
    def member_name(self, account: Account) -> str:
        return account.member.legal_name

    def response_add(self, request, obj, post_url_continue=None):
        """Say what the opening came to: a held or denied opening is not "added successfully"."""
        if obj.status == Account.Status.OPEN and not obj.red_flag_warning:
            return super().response_add(request, obj, post_url_continue)
        messages.add_message(request, *opening_outcome_message(obj))
        return redirect("admin:accounts_account_change", obj.pk)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["opening_next_step"] = HELD_NEXT_STEP
        return super().change_view(request, object_id, form_url, extra_context)

    def _apply(self, request, queryset, action, reason: str, done_word: str) -> None:
        """Each account's outcome on its own line: what was done, or why it was not."""
        for account in queryset:
            try:
                action(actor=request.user, account=account, reason=reason)
            except ValidationError as exc:
                messages.error(request, f"Account {account.account_number}: not {done_word}. {' '.join(exc.messages)}")
            else:
                messages.success(request, f"Account {account.account_number}: {done_word}.")

    @admin.action(description="Close selected accounts…", permissions=["change"])
    def close_accounts(self, request, queryset):
        reason = confirmed_reason(request)
        if reason is None:
            return ask_to_confirm(
                self,
                request,
                queryset,
                title="Close accounts",
                consequence="Closing ends service on these accounts; a closed account cannot be reopened "
                "(the member applies for a new one).",
                confirm_label=f"Yes, close {queryset.count()} account(s)",
            )
        self._apply(request, queryset, services.account_close, reason, "closed")
        return None

    @admin.action(description="Suspend selected accounts…", permissions=["change"])
    def suspend_accounts(self, request, queryset):
        reason = confirmed_reason(request)
        if reason is None:
            return ask_to_confirm(
                self,
                request,
                queryset,
                title="Suspend accounts",
                consequence="Suspending stops service on these accounts until someone reinstates them.",
                confirm_label=f"Yes, suspend {queryset.count()} account(s)",
            )
        self._apply(request, queryset, services.account_suspend, reason, "suspended")
        return None

    @admin.action(description="Reinstate selected suspended accounts", permissions=["change"])
    def reinstate_accounts(self, request, queryset):
        self._apply(request, queryset, services.account_reinstate, "Reinstated from the staff admin", "reinstated")


# --- Premises and meters ---------------------------------------------------------------------------


class PremiseCreateForm(ServiceForm):
    class Meta:
        model = Premise
        fields = [
            "service_line1",
            "service_line2",
            "service_city",
            "service_state",
            "service_postal_code",
            "dog_warning",
            "gate_code",
            "meter_reading_notes",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("gate_code", "meter_reading_notes"):
            self.fields[name].required = False
            self.fields[name].help_text = "Write-only: visible to Field Services only."

    def perform(self, data):
        return services.premise_create(
            actor=self.actor,
            service_line1=data["service_line1"],
            service_line2=data.get("service_line2") or "",
            service_city=data["service_city"],
            service_state=data["service_state"],
            service_postal_code=data["service_postal_code"],
            dog_warning=data.get("dog_warning", False),
            gate_code=data.get("gate_code") or "",
            meter_reading_notes=data.get("meter_reading_notes") or "",
        )


class MeterInline(admin.TabularInline):
    model = Meter
    fields = ("meter_number", "has_solar", "installed_on", "removed_on")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


FIELD_NOTE_FIELDS = ("dog_warning", "gate_code", "meter_reading_notes")


@admin.register(Premise)
class PremiseAdmin(ServiceAdmin):
    add_form = PremiseCreateForm
    list_display = ("premise_number", "service_line1", "service_city", "service_state", "service_postal_code")
    search_fields = ("premise_number", "service_line1", "meters__meter_number")
    show_full_result_count = False
    inlines = [MeterInline]

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*PREMISE_CIPHERTEXTS)

    def get_fields(self, request, obj=None):
        base = [
            "premise_number",
            "service_line1",
            "service_line2",
            "service_city",
            "service_state",
            "service_postal_code",
        ]
        if request.user.has_perm("accounts.view_field_notes"):
            base += list(FIELD_NOTE_FIELDS)
        return base

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []


@admin.register(Meter)
class MeterAdmin(ServiceAdmin):
    list_display = ("meter_number", "premise", "has_solar", "installed_on", "removed_on")
    list_select_related = ("premise",)
    list_filter = ("has_solar",)
    search_fields = ("meter_number", "premise__premise_number")
    fields = ("meter_number", "premise", "has_solar", "installed_on", "removed_on")

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*identifiers.deferred("accounts.Premise", "premise__"))


# --- Bills, payments, notices ---------------------------------------------------------------------


@admin.register(Bill)
class BillAdmin(ServiceAdmin):
    list_display = ("statement_number", "account", "issued_on", "due_on", "amount_due", "kwh", "status")
    list_select_related = ("account",)
    list_filter = ("status",)
    search_fields = ("statement_number", "account__account_number")
    show_full_result_count = False
    fields = (
        "statement_number",
        "account",
        "period_start",
        "period_end",
        "issued_on",
        "due_on",
        "kwh",
        "amount_due",
        "status",
    )


class PaymentForm(ServiceForm):
    class Meta:
        model = Payment
        fields = ["account", "bill", "amount", "method", "received_at", "reference"]

    def perform(self, data):
        return services.payment_record(
            actor=self.actor,
            account=data["account"],
            bill=data.get("bill"),
            amount=data["amount"],
            method=data["method"],
            received_at=data.get("received_at"),
            reference=data.get("reference") or "",
        )


@admin.register(Payment)
class PaymentAdmin(ServiceAdmin):
    add_form = PaymentForm
    list_display = ("account", "received_at", "amount", "method", "returned")
    list_select_related = ("account",)
    list_filter = ("method", "returned")
    search_fields = ("account__account_number", "reference")
    autocomplete_fields = ("account", "bill")
    show_full_result_count = False
    fields = (
        "account",
        "bill",
        "amount",
        "method",
        "received_at",
        "reference",
        "returned",
        "returned_at",
        "recorded_by",
    )
    actions = ["mark_returned"]

    @admin.action(description="Mark selected payments returned (NSF / charge-back)", permissions=["change"])
    def mark_returned(self, request, queryset):
        for payment in queryset.select_related("account", "bill"):
            services.payment_return(actor=request.user, payment=payment, reason="Returned, recorded in the staff admin")


class ReturnedMailForm(ServiceForm):
    class Meta:
        model = ReturnedMail
        fields = ["member", "account", "returned_on", "reason"]

    def perform(self, data):
        return services.returned_mail_record(
            actor=self.actor,
            member=data["member"],
            account=data.get("account"),
            returned_on=data["returned_on"],
            reason=data.get("reason") or "",
        )


@admin.register(ReturnedMail)
class ReturnedMailAdmin(ServiceAdmin):
    add_form = ReturnedMailForm
    list_display = ("returned_on", "member", "account", "reason", "recorded_at")
    list_select_related = ("member", "account")
    autocomplete_fields = ("member", "account")
    search_fields = ("member__member_number", "account__account_number")
    fields = ("member", "account", "returned_on", "reason", "recorded_by", "recorded_at")

    def get_queryset(self, request):
        return _defer_member(super().get_queryset(request))


class StatementNoticeForm(ServiceForm):
    class Meta:
        model = StatementNotice
        fields = ["member", "account", "reported_on", "channel", "notes"]

    def perform(self, data):
        return services.statement_notice_record(
            actor=self.actor,
            member=data["member"],
            account=data.get("account"),
            reported_on=data["reported_on"],
            channel=data["channel"],
            notes=data.get("notes") or "",
        )


@admin.register(StatementNotice)
class StatementNoticeAdmin(ServiceAdmin):
    add_form = StatementNoticeForm
    list_display = ("reported_on", "member", "account", "channel", "recorded_at")
    list_select_related = ("member", "account")
    autocomplete_fields = ("member", "account")
    search_fields = ("member__member_number", "account__account_number")
    fields = ("member", "account", "reported_on", "channel", "notes", "recorded_by", "recorded_at")

    def get_queryset(self, request):
        return _defer_member(super().get_queryset(request))


class AuthorizedPartyForm(ServiceForm):
    class Meta:
        model = AuthorizedParty
        fields = ["account", "name", "relationship", "phone", "email"]

    def perform(self, data):
        return services.authorized_party_add(
            actor=self.actor,
            account=data["account"],
            name=data["name"],
            relationship=data.get("relationship") or "",
            phone=data.get("phone") or "",
            email=data.get("email") or "",
        )


@admin.register(AuthorizedParty)
class AuthorizedPartyAdmin(ServiceAdmin):
    add_form = AuthorizedPartyForm
    list_display = ("name", "account", "relationship", "added_at", "removed_at")
    list_select_related = ("account",)
    autocomplete_fields = ("account",)
    search_fields = ("name", "account__account_number")
    fields = ("account", "name", "relationship", "phone", "email", "added_at", "added_by", "removed_at", "removed_by")
    actions = ["remove_parties"]

    @admin.action(description="Remove selected authorized parties", permissions=["change"])
    def remove_parties(self, request, queryset):
        for party in queryset.select_related("account"):
            services.authorized_party_remove(actor=request.user, party=party, reason="Removed in the staff admin")


# The CIS migration's reconciliations (registered by import; kept apart, this module is long enough).
from accounts.cis_migrate import admin as _cis_migrate_admin  # noqa: E402, F401
