"""Staff admin for the member registry: masked by default, searched through blind indexes, written
only through members/services.py, and every record view recorded as an ``access.*`` audit event.

Encrypted columns are never loaded on list pages (``members.selectors.member_list`` defers them) and
never rendered into a form: identifier inputs are write-only (always empty), so an edit page cannot
leak a value through its HTML and an undecryptable value can never be saved back.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.admin.views.main import ORDER_VAR, PAGE_VAR, SEARCH_VAR
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from members import glance, guards, identifiers, roles, search_tokens, services, staff_tools
from members.admin_changelist import DirectActionCheckbox, MemberPaginator, result_list_context
from members.admin_confirm import ask_to_confirm, confirmed_reason
from members.admin_search import IDENTIFIER_IN_URL, SEARCH_HELP, MemberChangeList, no_match_hint, too_many_hint
from members.audit import client_ip
from members.fields import UndecryptableValue
from members.masking import mask_financial_account, mask_tax_id, masked_value
from members.models import CapitalCreditAllocation, FinancialAccount, Member
from members.selectors import (
    active_reveals,
    is_identifier_term,
    member_change_history,
    member_list,
    member_search_results,
)

# The write-only identifier inputs and the "identifying information" fieldset (members/identifiers.py).
IDENTIFIER_FIELDS = identifiers.identifier_fields()
IDENTIFIER_INPUTS = tuple(field.name for field in identifiers.identifier_inputs())
ENCRYPTED = frozenset(field.name for field in IDENTIFIER_FIELDS if field.encrypted)
UNDECRYPTABLE = "cannot be decrypted; restore the key"


def _identifier_input(field: identifiers.SensitiveField) -> forms.CharField:
    """A write-only input for one identifier: never pre-filled, so a page cannot leak the value."""
    return forms.CharField(
        required=False,
        label=field.label,
        help_text=field.input_help,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


# A change to any of these is a guarded contact change (members.guards).
CONTACT_FIELDS = frozenset(
    {"mailing_line1", "mailing_line2", "mailing_city", "mailing_state", "mailing_postal_code", "phone", "email"}
)


class MemberForm(forms.ModelForm):
    """The member's clear fields from the model, its identifiers as write-only inputs (one per declared
    identifier, added in ``__init__``); ``clean`` asks the services, which write nothing."""

    class Meta:
        model = Member
        fields = [
            "kind",
            "legal_name",
            "mailing_line1",
            "mailing_line2",
            "mailing_city",
            "mailing_state",
            "mailing_postal_code",
            "phone",
            "email",
            "employer_name",
            *(field.name for field in IDENTIFIER_FIELDS if not field.encrypted),  # the licence's state
        ]

    actor = None  # set by MemberAdmin.get_form: who is changing the record (members.guards)
    acknowledgement = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label='"Red Flag Exists" warning acknowledged (note)',
        help_text="Required to change contact information while a Red Flag warning is open on the member.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in identifiers.identifier_inputs():
            self.fields[field.name] = _identifier_input(field)
            self.initial[field.name] = ""

    def clean(self):
        data = super().clean()
        identifiers = {name: data.get(name) for name in IDENTIFIER_INPUTS if data.get(name)}
        try:
            if self.instance.pk is None:
                services.member_create(
                    actor=None,
                    validate_only=True,
                    kind=data.get("kind") or Member.Kind.PERSON,
                    legal_name=data.get("legal_name") or "",
                    mailing_line1=data.get("mailing_line1") or "",
                    mailing_line2=data.get("mailing_line2") or "",
                    mailing_city=data.get("mailing_city") or "",
                    mailing_state=data.get("mailing_state") or "",
                    mailing_postal_code=data.get("mailing_postal_code") or "",
                    phone=data.get("phone") or "",
                    email=data.get("email") or "",
                    drivers_licence_state=data.get("drivers_licence_state") or "",
                    **identifiers,
                )
            else:
                self._check_change(data, identifiers)
                self._check_warning(data)
        except ValidationError as exc:
            self._attach(exc)
        return data

    def _check_warning(self, data) -> None:
        """Refuse on the form (not at save) a contact change that an open Red Flag warning binds."""
        if set(self.changed_data) & CONTACT_FIELDS and not (data.get("acknowledgement") or "").strip():
            guards.check(action=guards.CONTACT_CHANGE, member=self.instance, actor=self.actor)

    def _check_change(self, data, identifiers) -> None:
        errors: dict[str, list[str]] = {}
        for check in (
            lambda: services.member_change_identifiers(
                actor=None,
                member=self.instance,
                validate_only=True,
                drivers_licence_state=data.get("drivers_licence_state") or "",
                **identifiers,
            ),
            lambda: services.member_create(
                actor=None,
                validate_only=True,
                kind=self.instance.kind,
                legal_name=data.get("legal_name") or "",
                mailing_line1=data.get("mailing_line1") or "",
                mailing_line2=data.get("mailing_line2") or "",
                mailing_city=data.get("mailing_city") or "",
                mailing_state=data.get("mailing_state") or "",
                mailing_postal_code=data.get("mailing_postal_code") or "",
                phone=data.get("phone") or "",
                email=data.get("email") or "",
            ),
        ):
            try:
                check()
            except ValidationError as exc:
                for field, messages_ in exc.message_dict.items():
                    errors.setdefault(field, []).extend(messages_)
        if errors:
            raise ValidationError(errors)

    def _attach(self, exc: ValidationError) -> None:
        for field, field_messages in exc.message_dict.items():
            self.add_error(field if field in self.fields else None, field_messages)


@admin.register(Member)
class MemberAdmin(DirectActionCheckbox, admin.ModelAdmin):
    form = MemberForm

    list_display = ("member_number", "legal_name", "kind", "status", "masked_tax_id", "phone", "email", "mailing_city")
    list_filter = ("status", "kind")
    search_fields = ("member_number",)  # the real search is member_search (blind indexes)
    search_help_text = SEARCH_HELP
    show_full_result_count = False
    paginator = MemberPaginator
    list_per_page = 100
    # What a row of the list reads (MemberChangeList): the columns above, and what masked_tax_id and
    # the row's label (Member.__str__) read.
    list_columns = ("member_number", "legal_name", "kind", "status", "ssn_last4", "phone", "email", "mailing_city")
    search_per_page = 25  # a searched list: ranked, best first (MemberChangeList)
    # No CSV download: member data leaves the co-op only through the disclosure gate (disclosures.services);
    # the former "Export selected as CSV (masked)" action was a second path out (issue 11 item 4).
    actions = ["make_active", "make_former"]
    fieldsets = (
        (None, {"fields": ("kind", "legal_name", "employer_name")}),
        (
            "Mailing address",
            {"fields": ("mailing_line1", "mailing_line2", "mailing_city", "mailing_state", "mailing_postal_code")},
        ),
        ("Contact", {"fields": ("phone", "email", "acknowledgement")}),
        (
            "Identifying information (write-only: leave empty to keep what is on file)",
            {"fields": tuple(field.name for field in IDENTIFIER_FIELDS)},
        ),
    )

    def get_queryset(self, request):
        return member_list(queryset=super().get_queryset(request))

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The identifier inputs are added by MemberForm.__init__, empty; listing them as model fields would
        # make Django load (decrypt) each stored value into the form's initial data, and a value no key
        # decrypts would turn the whole page into a 500.
        fields = kwargs.get("fields") or flatten_fieldsets(self.get_fieldsets(request, obj))
        kwargs["fields"] = [name for name in fields if name not in ENCRYPTED]
        form = super().get_form(request, obj, change, **kwargs)
        form.actor = request.user  # for the Red Flags warning's acknowledgement (members/guards.py)
        return form

    def get_fieldsets(self, request, obj=None):
        """For a user who may view but not change, Django renders every field of the fieldsets read-only,
        in clear; the encrypted identifiers leave the fieldsets then and appear only masked, in the
        "Identifying information on file" table (with a Reveal link where the role may reveal)."""
        fieldsets = super().get_fieldsets(request, obj)
        if self.has_change_permission(request, obj):
            return fieldsets  # identifier inputs are write-only (always empty) for editors
        shown = []
        for name, options in fieldsets:
            fields = tuple(field for field in options["fields"] if field not in ENCRYPTED)
            if fields:
                shown.append(((name or "").split(" (write-only")[0] or None, {**options, "fields": fields}))
        return shown

    @admin.display(description="SSN / TIN")
    def masked_tax_id(self, member: Member) -> str:
        return mask_tax_id(member)  # the tax_id entry of masked_member, without computing the other four

    def get_changelist(self, request, **kwargs):
        return MemberChangeList

    def get_search_results(self, request, queryset, search_term):
        token = request.GET.get(search_tokens.TOKEN_VAR)
        if token:
            search_term = search_tokens.search_token_term(session=request.session, token=token)
            if search_term is None:
                messages.error(request, "That search has expired; search again.")
                return queryset.none(), False
        elif is_identifier_term(search_term):
            # An SSN or licence typed into a URL: refused, so no link or bookmark ever carries one.
            messages.error(request, IDENTIFIER_IN_URL)
            return queryset.none(), False
        request.member_search_term = search_term
        try:
            result = member_search_results(queryset, search_term, request.user)
        except PermissionDenied as exc:
            messages.error(request, str(exc))
            return queryset.none(), False
        found = result.members
        request.member_search_more_than = result.more_than
        if search_term.strip() and ORDER_VAR not in request.GET:
            # Best match first (member_search annotates search_rank); a clicked column keeps its order.
            found = found.order_by("-search_rank", "member_number")
        return found, False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        if changelist is not None:
            response.context_data["member_result_list"] = result_list_context(changelist)
            if getattr(request, "member_search_term", "") and changelist.result_count == 0:
                messages.info(request, no_match_hint())
            more_than = getattr(request, "member_search_more_than", None)
            if more_than:
                messages.warning(request, too_many_hint(more_than))
            keep = changelist.get_query_string(remove=[SEARCH_VAR, PAGE_VAR, search_tokens.TOKEN_VAR])
            response.context_data["member_search_action"] = reverse("admin:members_member_search") + keep
            response.context_data["member_search_clear"] = keep
            response.context_data["member_search_active"] = search_tokens.TOKEN_VAR in request.GET
            if changelist.paginator.count_is_estimate:
                response.context_data["selection_note_all"] = _("All %(total_count)s selected") % {
                    "total_count": f"about {changelist.result_count}"
                }

            def record(rendered):
                shown = getattr(changelist.result_list, "_result_cache", None) or []
                services.member_list_view(
                    actor=request.user,
                    member_ids=[member.pk for member in shown],
                    query=getattr(request, "member_search_term", ""),
                    ip_address=client_ip(request),
                )

            response.add_post_render_callback(record)
        return response

    def record_lookup(self, request, shown: list[Member], term: str) -> None:
        """A staff picker's lookup (members/admin_autocomplete.py) shows members as the list does: logged."""
        services.member_list_view(
            actor=request.user,
            member_ids=[member.pk for member in shown],
            channel="admin_autocomplete",
            query=term,
            ip_address=client_ip(request),
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        member = self.get_object(request, object_id)
        if member is not None and request.method == "GET":
            services.member_record_view(actor=request.user, member=member, ip_address=client_ip(request))
        extra_context = dict(extra_context or {})
        if member is not None:
            extra_context["identifiers"] = self._identifier_rows(request, member)
            extra_context["financial_accounts"] = [
                mask_financial_account(f) for f in member.financial_accounts.filter(is_active=True)
            ]
            extra_context["may_reveal"] = request.user.has_perm("members.reveal_identifiers")
            extra_context["reveal_url"] = reverse("admin:members_member_reveal", args=[member.pk])
            extra_context.update(self._at_a_glance(request, member))
            if request.user.has_perm("members.view_disagreementstatement"):
                extra_context["disagreement_statements"] = list(member.disagreement_statements.all())
        return super().change_view(request, object_id, form_url, extra_context)

    def _at_a_glance(self, request, member: Member) -> dict:
        """The member at a glance (members/glance.py): what other apps know about the member, the latest
        changes from the audit trail, and for a role that may not reveal, who can and what to do instead."""
        try:
            caller_verification_url = reverse("redflags:caller-verification")
        except NoReverseMatch:
            caller_verification_url = ""
        return {
            "glance": glance.sections_for(member=member, user=request.user),
            "recent_changes": member_change_history(member=member, limit=5),
            "user_roles": [group.name for group in request.user.groups.all() if group.name in roles.ALL_ROLES],
            "reveal_roles": staff_tools.roles_with("members.reveal_identifiers"),
            "caller_verification_url": caller_verification_url,
        }

    def history_view(self, request, object_id, extra_context=None):
        """The member's history is the audit trail: changes go through the services, which audit them, not
        through the admin's LogEntry (so Django's own history page would say there is none)."""
        member = self.get_object(request, object_id)
        if member is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, member):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": f"Change history: {member.member_number} {member.legal_name}",
            "subtitle": None,
            "object": member,
            "changes": member_change_history(member=member, limit=500),
            "opts": self.opts,
            "app_label": self.opts.app_label,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/members/member/object_history.html", context)

    def _identifier_rows(self, request, member: Member) -> list[dict]:
        """One row per revealable identifier: masked, or in full while this user's reveal lasts."""
        reveals = active_reveals(user=request.user, member=member)
        rows = []
        for field in IDENTIFIER_FIELDS:
            if field.name not in services.REVEALABLE_FIELDS:
                continue
            row = {"field": field.name, "label": field.label, "value": masked_value(member, field), "revealed": False}
            if field.name in reveals:
                try:
                    full = getattr(Member.objects.only(field.name).get(pk=member.pk), field.name)
                except UndecryptableValue:
                    # Fails closed for this field only: the page still renders, nothing is shown or saved.
                    row.update(value=UNDECRYPTABLE, revealed=False, undecryptable=True)
                else:
                    row.update(value=str(full or ""), revealed=True, expires_at=reveals[field.name])
            rows.append(row)
        return rows

    def get_urls(self):
        return [
            path("<int:member_id>/reveal/", self.admin_site.admin_view(self.reveal_view), name="members_member_reveal"),
            path("search/", self.admin_site.admin_view(self.search_view), name="members_member_search"),
            *super().get_urls(),
        ]

    def search_view(self, request):
        """POST a search term: kept (encrypted) in the session under a token, the list shown at ?_qt=token."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        keep = request.GET.copy()
        for name in (SEARCH_VAR, PAGE_VAR, search_tokens.TOKEN_VAR):
            keep.pop(name, None)
        term = request.POST.get(SEARCH_VAR, "").strip() if request.method == "POST" else ""
        if term:
            keep[search_tokens.TOKEN_VAR] = search_tokens.search_token_store(session=request.session, term=term)
        query = keep.urlencode()
        return redirect(reverse("admin:members_member_changelist") + (f"?{query}" if query else ""))

    def reveal_view(self, request, member_id: int):
        member = get_object_or_404(member_list(), pk=member_id)
        if not self.has_view_permission(request, member):
            raise PermissionDenied
        error = ""
        if request.method == "POST":
            try:
                grant = services.member_reveal(
                    actor=request.user,
                    member=member,
                    field_name=request.POST.get("field_name", ""),
                    reason=request.POST.get("reason", ""),
                    ip_address=client_ip(request),
                )
            except ValidationError as exc:
                error = " ".join(message for messages_ in exc.message_dict.values() for message in messages_)
            else:
                messages.info(
                    request, f"Shown until {timezone.localtime(grant.expires_at):%H:%M}; this reveal is recorded."
                )
                return redirect("admin:members_member_change", member.pk)
        context = {
            **self.admin_site.each_context(request),
            "member": member,
            "error": error,
            "opts": self.model._meta,
            "fields": list(services.REVEALABLE_FIELDS),
            "title": f"Reveal an identifier of {member.member_number}",
        }
        return TemplateResponse(request, "admin/members/member/reveal.html", context)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        identifiers = {name: data[name] for name in IDENTIFIER_INPUTS if data.get(name)}
        if not change:
            created = services.member_create(
                actor=request.user,
                kind=data["kind"],
                legal_name=data["legal_name"],
                mailing_line1=data["mailing_line1"],
                mailing_line2=data["mailing_line2"],
                mailing_city=data["mailing_city"],
                mailing_state=data["mailing_state"],
                mailing_postal_code=data["mailing_postal_code"],
                phone=data["phone"],
                email=data["email"],
                drivers_licence_state=data["drivers_licence_state"],
                employer_name=data["employer_name"],
                **identifiers,
            )
            obj.pk = created.pk
            return
        member = Member.objects.get(pk=obj.pk)
        changed = set(form.changed_data)
        note = (data.get("acknowledgement") or "").strip()
        if "legal_name" in changed:
            services.member_change_name(actor=request.user, member=member, legal_name=data["legal_name"])
        if changed & {"mailing_line1", "mailing_line2", "mailing_city", "mailing_state", "mailing_postal_code"}:
            services.member_change_address(
                actor=request.user,
                member=member,
                line1=data["mailing_line1"],
                line2=data["mailing_line2"],
                city=data["mailing_city"],
                state=data["mailing_state"],
                postal_code=data["mailing_postal_code"],
                acknowledgement=note,
            )
        if "phone" in changed:
            services.member_change_phone(actor=request.user, member=member, phone=data["phone"], acknowledgement=note)
        if "email" in changed:
            services.member_change_email(actor=request.user, member=member, email=data["email"], acknowledgement=note)
        if identifiers or "drivers_licence_state" in changed:
            services.member_change_identifiers(
                actor=request.user, member=member, drivers_licence_state=data["drivers_licence_state"], **identifiers
            )

    def save_related(self, request, form, formsets, change):
        pass  # no inlines; the services above wrote everything

    def log_addition(self, request, obj, message):
        pass  # the service wrote the audit row; Django's LogEntry would duplicate it outside the trail

    def log_change(self, request, obj, message):
        pass

    def log_deletion(self, request, obj, object_repr):
        pass

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # members become former members; purges belong to the retention app

    @admin.action(description="Mark selected applicants/former members active", permissions=["change"])
    def make_active(self, request, queryset):
        self._change_status(request, queryset, Member.Status.ACTIVE)

    @admin.action(description="Mark selected members former…", permissions=["change"])
    def make_former(self, request, queryset):
        """A member leaving: asked to confirm, with the reason (kept on the audit row), before anything changes."""
        reason = confirmed_reason(request)
        if reason is None:
            count = queryset.count()
            return ask_to_confirm(
                self,
                request,
                queryset,
                title="Mark members former",
                heading="These members will leave the co-op",
                consequence="Marking a member former ends their membership today: their status becomes former "
                "and today is recorded as the day they left. Their records are then kept as the retention "
                "schedule says. To undo it, the member rejoins (mark them active), with a new join date.",
                confirm_label=f"Yes, mark {count} member{'s' if count != 1 else ''} former",
            )
        self._change_status(request, queryset, Member.Status.FORMER, reason=reason)
        return None

    def _change_status(self, request, queryset, status: str, reason: str = "") -> None:
        done, refused = 0, 0
        for member in queryset:
            try:
                services.member_change_status(actor=request.user, member=member, status=status, reason=reason)
                done += 1
            except ValidationError:
                refused += 1
        messages.info(request, f"{done} changed, {refused} could not make that move.")


@admin.register(FinancialAccount)
class FinancialAccountAdmin(admin.ModelAdmin):
    list_display = ("member", "kind", "institution_name", "masked", "is_active", "added_at")
    list_select_related = ("member",)
    list_filter = ("kind", "is_active")
    search_fields = ("member__member_number",)
    actions = ["deactivate"]
    fields = ("member", "kind", "institution_name", "masked", "is_active", "added_at", "removed_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .defer(
                *identifiers.deferred("members.FinancialAccount"), *identifiers.deferred("members.Member", "member__")
            )
        )

    @admin.display(description="Number")
    def masked(self, financial: FinancialAccount) -> str:
        return mask_financial_account(financial)

    def has_add_permission(self, request) -> bool:
        return False  # added through the member's bank-draft enrollment (services.financial_account_add / API)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Deactivate selected", permissions=["change"])
    def deactivate(self, request, queryset):
        for financial in queryset:
            try:
                services.financial_account_remove(
                    actor=request.user, financial_account=financial, reason="deactivated in admin"
                )
            except ValidationError as exc:  # an open Red Flag warning binds bank changes (members.guards)
                messages.error(request, f"{financial}: {' '.join(exc.messages)}")


@admin.register(CapitalCreditAllocation)
class CapitalCreditAllocationAdmin(admin.ModelAdmin):
    list_display = ("member", "year", "patronage_amount", "allocated_amount", "retired_amount")
    list_select_related = ("member",)
    list_filter = ("year",)
    search_fields = ("member__member_number",)
    readonly_fields = ("member", "year", "patronage_amount", "allocated_amount", "retired_amount", "allocated_on")

    def get_queryset(self, request):
        return super().get_queryset(request).defer(*identifiers.deferred("members.Member", "member__"))

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
