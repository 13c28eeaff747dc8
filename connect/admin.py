"""The Privacy Officer's screens for Connect My Data: applications to review, approve, decline, suspend,
reinstate.
Each action hands off to connect.services; nothing here writes a row itself."""

from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils import timezone

from connect import services
from connect.models import Authorization, ThirdParty


@admin.register(ThirdParty)
class ThirdPartyAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "categories_asked", "frequency", "applied_at", "decided_at")
    list_filter = ("status",)
    search_fields = ("name", "contact_email")
    actions = ["approve", "decline", "suspend", "reinstate"]

    @admin.display(description="Data asked for")
    def categories_asked(self, obj: ThirdParty) -> str:
        from disclosures.models import DataCategory

        return ", ".join(DataCategory(category).label for category in obj.categories)

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # third parties apply themselves, at /connect/apply/

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm("connect.decide_thirdparty")

    def _ask(self, request, queryset, verb: str, fields: list[tuple[str, str, str]], missing: bool):
        return TemplateResponse(
            request,
            "admin/connect/thirdparty/decide.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{verb.capitalize()} third parties",
                "verb": verb,
                "action": request.POST.get("action", verb),
                "items": queryset,
                "fields": fields,
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "missing": missing,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Approve (agreement signed)…", permissions=["decide"])
    def approve(self, request, queryset):
        reference = request.POST.get("agreement_reference", "").strip()
        expires = request.POST.get("agreement_expires_on", "").strip()
        if not reference or not expires:
            return self._ask(
                request,
                queryset,
                "approve",
                [
                    ("agreement_reference", "Reference of the signed data-access agreement", "text"),
                    ("agreement_expires_on", "The agreement expires on", "date"),
                ],
                "agreement_reference" in request.POST,
            )
        try:
            expires_on = dt.date.fromisoformat(expires)
        except ValueError:
            self.message_user(request, "The expiry date is not a date.", messages.ERROR)
            return None
        for third_party in queryset:
            try:
                _, secret = services.third_party_approve(
                    actor=request.user,
                    third_party=third_party,
                    agreement_reference=reference,
                    agreement_expires_on=expires_on,
                )
            except ValidationError as exc:
                self.message_user(request, f"{third_party}: not approved. {'; '.join(exc.messages)}", messages.ERROR)
                continue
            third_party.refresh_from_db()
            self.message_user(
                request,
                f"{third_party}: approved. Send the client credentials to {third_party.contact_email} by a "
                f"secure channel; the secret is shown only now. Client id: {third_party.application.client_id} "
                f"— client secret: {secret}",
                messages.SUCCESS,
            )
        return None

    @admin.action(description="Decline…", permissions=["decide"])
    def decline(self, request, queryset):
        note = request.POST.get("note", "").strip()
        if not note:
            return self._ask(
                request, queryset, "decline", [("note", "Why (sent to the applicant)", "text")], "note" in request.POST
            )
        for third_party in queryset:
            try:
                services.third_party_decline(actor=request.user, third_party=third_party, note=note)
            except ValidationError as exc:
                self.message_user(request, f"{third_party}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"{third_party}: declined.", messages.SUCCESS)
        return None

    @admin.action(description="Suspend (ends every token now)…", permissions=["decide"])
    def suspend(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if not reason:
            return self._ask(
                request,
                queryset,
                "suspend",
                [("reason", "Reason (kept on the record)", "text")],
                "reason" in request.POST,
            )
        for third_party in queryset:
            try:
                count = services.third_party_suspend(actor=request.user, third_party=third_party, reason=reason)
            except ValidationError as exc:
                self.message_user(request, f"{third_party}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{third_party}: suspended; {count} token(s) withdrawn at {timezone.localtime():%H:%M}.",
                    messages.SUCCESS,
                )
        return None

    @admin.action(description="Reinstate (members must authorize again)…", permissions=["decide"])
    def reinstate(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if not reason:
            return self._ask(
                request,
                queryset,
                "reinstate",
                [("reason", "Reason (kept on the record)", "text")],
                "reason" in request.POST,
            )
        for third_party in queryset:
            try:
                services.third_party_reinstate(actor=request.user, third_party=third_party, reason=reason)
            except ValidationError as exc:
                self.message_user(request, f"{third_party}: {'; '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{third_party}: reinstated. Its earlier tokens stay withdrawn; members must authorize it again.",
                    messages.SUCCESS,
                )
        return None


@admin.register(Authorization)
class AuthorizationAdmin(admin.ModelAdmin):
    list_display = ("id", "third_party", "member", "created_at", "expires_at", "ended_at", "last_access_at")
    list_select_related = ("third_party", "member")
    list_filter = ("third_party", "end_reason")
    raw_id_fields = ("member", "consent")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
