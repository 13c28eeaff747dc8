"""The delivery log for staff and auditors: read-only. Clerks with ``notices.print_letters`` print the
queued letters as one PDF batch and download it again from the batch page."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from members.notices.models import LetterBatch, Notice, NoticeAttempt
from members.notices.services import letter_batch_print


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class NoticeAttemptInline(admin.TabularInline):
    model = NoticeAttempt
    fields = ("at", "attempt", "outcome", "worker", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Notice)
class NoticeAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "channel", "member", "state", "attempts", "sent_at")
    list_filter = ("state", "channel", "kind")
    list_select_related = ("member",)
    search_fields = ("member__member_number", "message_id")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in Notice._meta.fields]
    inlines = [NoticeAttemptInline]


@admin.register(NoticeAttempt)
class NoticeAttemptAdmin(ReadOnlyAdmin):
    list_display = ("at", "notice", "attempt", "outcome", "worker")
    list_filter = ("outcome",)
    list_select_related = ("notice",)
    readonly_fields = [field.name for field in NoticeAttempt._meta.fields]


@admin.register(LetterBatch)
class LetterBatchAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "letter_count", "created_by", "download")
    exclude = ("pdf",)
    readonly_fields = ("created_at", "letter_count", "created_by", "download")
    actions = None
    change_list_template = "admin/notices/letterbatch/change_list.html"

    def get_urls(self):
        return [
            path("print/", self.admin_site.admin_view(self.print_view), name="notices_letterbatch_print"),
            path("<int:pk>/pdf/", self.admin_site.admin_view(self.pdf_view), name="notices_letterbatch_pdf"),
            *super().get_urls(),
        ]

    @admin.display(description="PDF")
    def download(self, obj: LetterBatch) -> str:
        return format_html('<a href="{}">download</a>', reverse("admin:notices_letterbatch_pdf", args=[obj.pk]))

    def print_view(self, request):
        if request.method != "POST" or not request.user.has_perm("notices.print_letters"):
            raise PermissionDenied
        batch = letter_batch_print(actor=request.user)
        if batch is None:
            messages.info(request, "No letters are waiting to be printed.")
        else:
            messages.success(request, f"Printed {batch.letter_count} letters in batch {batch.pk}.")
        return HttpResponse(status=303, headers={"Location": reverse("admin:notices_letterbatch_changelist")})

    def pdf_view(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        batch = get_object_or_404(LetterBatch, pk=pk)
        response = HttpResponse(bytes(batch.pdf), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="letters-{batch.pk}.pdf"'
        return response
