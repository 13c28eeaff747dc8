"""The two kinds of Red Flags admin screens: history that is only read, and records added through a service.

Nothing is saved by the admin itself: a ``RecordOnlyAdmin`` hands the form to the program's service
(which validates, writes and audits) and shows the service's refusal on the form.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect


class ReadOnlyAdmin(admin.ModelAdmin):
    """History: visible to those with the view permission, never edited or deleted here."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """History shown on its parent's page: every field read-only, nothing added or deleted here."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields or ()

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RecordOnlyAdmin(ReadOnlyAdmin):
    """Added through a service (the add permission decides who), read-only afterwards."""

    def has_add_permission(self, request) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.concrete_fields] if obj else ()

    def response_add(self, request, obj, post_url_continue=None):
        if obj.pk is None:  # the service refused; its message is shown on the form again
            return redirect(request.path)
        return super().response_add(request, obj, post_url_continue)

    def log_addition(self, request, obj, message):
        # The service wrote the audit row; skip Django's LogEntry for a refused add.
        return super().log_addition(request, obj, message) if obj.pk else None

    def _call(self, request, function, **kwargs):
        try:
            return function(**kwargs)
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))
        except PermissionDenied as exc:
            messages.error(request, str(exc) or "Not allowed.")
        return None
