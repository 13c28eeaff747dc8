"""Staff views of usage: received reading files (read-only, with their warnings and what was not loaded)
and the co-op's UsagePoint -> meter mapping (editable by the usage admin; every change audited)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join

from accounts.usage.models import IngestBatch, UsagePointMapping
from accounts.usage.services import (
    usage_point_mapping_create,
    usage_point_mapping_delete,
    usage_point_mapping_update,
)

MANAGE_MAPPINGS = "usage.manage_usage_point_mappings"


def _table(rows: list[dict], columns: list[tuple[str, str]]):
    if not rows:
        return "—"
    head = format_html_join("", "<th>{}</th>", ((title,) for _key, title in columns))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((row.get(key, ""),) for key, _title in columns)),) for row in rows),
    )
    return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, body)


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
        "warning_count",
        "readings_not_loaded",
    ]
    list_filter = ["status", "source", "file_format"]
    search_fields = ["filename", "sha256"]
    list_select_related = ["actor"]
    readonly_fields = [
        *(field.name for field in IngestBatch._meta.fields if field.name not in ("warnings", "not_loaded")),
        "warnings_by_line",
        "not_loaded_usage_points",
    ]

    @admin.display(description="Warnings (accepted; first line, reason, how often)")
    def warnings_by_line(self, batch: IngestBatch):
        rows = [{**row, "lines": ", ".join(map(str, row.get("lines", [])))} for row in batch.warnings]
        return _table(rows, [("line", "Line"), ("reason", "Reason"), ("count", "Times"), ("lines", "Lines")])

    @admin.display(description="Readings not loaded (by MeterReading)")
    def not_loaded_usage_points(self, batch: IngestBatch):
        rows = [
            {
                "line": row["line"],
                "reason": row["reason"],
                "readings": row["readings"],
                "ids": "; ".join(f"{key}: {value}" for key, value in row["usage_point"].items() if key != "line"),
            }
            for row in batch.not_loaded
        ]
        return _table(rows, [("line", "Line"), ("ids", "UsagePoint"), ("reason", "Reason"), ("readings", "Readings")])

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UsagePointMapping)
class UsagePointMappingAdmin(admin.ModelAdmin):
    """Which meter each Green Button UsagePoint is (docs/usage.md). Writes go through the services (audited)."""

    list_display = ["kind", "value", "meter", "note", "updated_at"]
    list_filter = ["kind"]
    search_fields = ["value", "meter__meter_number", "note"]
    autocomplete_fields = ["meter"]
    list_select_related = ["meter"]

    def _may(self, request, perm: str) -> bool:
        return request.user.has_perm(MANAGE_MAPPINGS) and request.user.has_perm(f"usage.{perm}_usagepointmapping")

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may(request, "view")

    def has_add_permission(self, request) -> bool:
        return self._may(request, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        return self._may(request, "change")

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may(request, "delete")

    def save_model(self, request, obj: UsagePointMapping, form, change: bool) -> None:
        fields = {"kind": obj.kind, "value": obj.value, "meter_id": obj.meter_id, "note": obj.note}
        try:
            if change:
                original = UsagePointMapping.objects.get(pk=obj.pk)
                usage_point_mapping_update(mapping=original, actor=request.user, **fields)
            else:
                obj.pk = usage_point_mapping_create(actor=request.user, **fields).pk
        except ValidationError as exc:  # the form already checked; a race with another editor lands here
            self.message_user(request, "; ".join(exc.messages), level="error")

    def delete_model(self, request, obj: UsagePointMapping) -> None:
        usage_point_mapping_delete(mapping=obj, actor=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for mapping in queryset:
            usage_point_mapping_delete(mapping=mapping, actor=request.user)
