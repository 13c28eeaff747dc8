"""Staff view of received reading files: read-only (files come in through the API or the command)."""

from __future__ import annotations

from django.contrib import admin

from accounts.usage.models import IngestBatch


@admin.register(IngestBatch)
class IngestBatchAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "received_at",
        "source",
        "filename",
        "file_format",
        "status",
        "readings_received",
        "meter_days_inserted",
        "meter_days_changed",
        "corrections",
        "bad_row_count",
    ]
    list_filter = ["status", "source", "file_format"]
    search_fields = ["filename", "sha256"]
    list_select_related = ["actor"]
    readonly_fields = [field.name for field in IngestBatch._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
