"""Usage API: the MDMS sends files here; staff and the account's own member read usage here.

Interval data shows when a household is home (seed 000, A.3), so every read goes through
``_account_for_reader``: staff need ``usage.view_account_usage`` (and their reads are audited), a
member gets only accounts they hold (anything else is a 404, so account ids cannot be probed), and
staff without the permission get a 403.
"""

from __future__ import annotations

import csv
from datetime import date

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Account
from accounts.usage import selectors, timegrid
from accounts.usage.espi import render_espi
from accounts.usage.models import IngestBatch, UsagePointMapping
from accounts.usage.services import (
    usage_ingest_file,
    usage_point_mapping_create,
    usage_point_mapping_delete,
    usage_point_mapping_update,
)
from members.audit import audit_record
from members.roles import may

# Largest file accepted over HTTP (a day of 15-minute reads for 100,000 meters is ~600 MB, so the
# MDMS splits its daily extract; the management command has no limit).
MAX_UPLOAD_BYTES = 256 * 1024 * 1024


class CanIngestReadings(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("usage.ingest_readings")


class BatchOutput(serializers.ModelSerializer):
    class Meta:
        model = IngestBatch
        fields = [
            "id",
            "received_at",
            "source",
            "filename",
            "sha256",
            "file_format",
            "status",
            "rejection_reason",
            "readings_received",
            "meter_days_inserted",
            "meter_days_changed",
            "meter_days_unchanged",
            "corrections",
            "bad_row_count",
            "bad_rows",
            "warning_count",
            "warnings",
            "readings_not_loaded",
            "not_loaded",
            "elapsed_ms",
        ]


class IngestApi(APIView):
    """POST a CSV or ESPI XML file as multipart field ``file`` (optional ``format``: csv or espi).

    201 with the batch when it loaded (bad rows listed in it), 400 when the file as a whole was
    rejected (nothing loaded; the batch says why).
    """

    permission_classes = [IsAuthenticated, CanIngestReadings]
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        file = serializers.FileField()
        format = serializers.ChoiceField(choices=["csv", "espi"], required=False)

    def post(self, request):
        given = self.InputSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        upload = given.validated_data["file"]
        if upload.size > MAX_UPLOAD_BYTES:
            return Response(
                {"detail": f"file larger than {MAX_UPLOAD_BYTES} bytes; split it"},
                status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            )
        batch = usage_ingest_file(
            data=upload.read(),
            source="api",
            filename=upload.name or "",
            file_format=given.validated_data.get("format"),
            actor=request.user,
        )
        code = status.HTTP_201_CREATED if batch.status == IngestBatch.Status.LOADED else status.HTTP_400_BAD_REQUEST
        return Response(BatchOutput(batch).data, status=code)


class BatchDetailApi(APIView):
    permission_classes = [IsAuthenticated, CanIngestReadings]

    def get(self, request, batch_id: int):
        return Response(BatchOutput(get_object_or_404(IngestBatch, pk=batch_id)).data)


def _account_for_reader(request, account_id: int, *, purpose: dict) -> Account:
    """The account if this user may read its usage, else 404 (members) / 403 (staff without the permission).

    Staff reads leave an audit row (who looked at whose usage, which period).
    """
    user = request.user
    if may(user, "usage.view_account_usage"):
        account = get_object_or_404(Account, pk=account_id)
        with transaction.atomic():
            audit_record(actor=user, action="usage.viewed", obj=account, detail=purpose)
        return account
    # A member's own account, in one query (the login's member record is not loaded for it).
    account = Account.objects.filter(pk=account_id, member__user=user).first()
    if account is not None:
        return account
    if user.is_staff:
        raise PermissionDenied("your role may not read meter usage")
    raise Http404


def _date_param(request, name: str, default: date | None = None) -> date | None:
    raw = request.query_params.get(name)
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise serializers.ValidationError({name: "use YYYY-MM-DD"}) from None


class AccountUsageApi(APIView):
    """GET ?period=day|month|year&day=YYYY-MM-DD, or ?period=range&first_day=..&last_day=..

    Granularity follows the period: a day in intervals, a month or a year in days (a year also
    in months), a long range in months.
    """

    permission_classes = [IsAuthenticated]

    def get(self, request, account_id: int):
        period = request.query_params.get("period", "month")
        day = _date_param(request, "day", timezone.localdate())
        first_day, last_day = _date_param(request, "first_day"), _date_param(request, "last_day")
        if period not in ("day", "month", "year", "range"):
            raise serializers.ValidationError({"period": "day, month, year or range"})
        if period == "range" and (
            first_day is None or last_day is None or first_day > last_day or (last_day - first_day).days > 3660
        ):
            raise serializers.ValidationError({"first_day": "give first_day <= last_day, at most ten years apart"})
        account = _account_for_reader(
            request,
            account_id,
            purpose={"period": period, "day": str(day), "first_day": str(first_day), "last_day": str(last_day)},
        )
        usage = selectors.usage_for_account(
            account=account, period=period, day=day, first_day=first_day, last_day=last_day
        )
        usage["account"] = account.account_number
        return Response(usage)


def _download(request, account_id: int, export: str):
    """``(account, first_day, last_day, start_utc, end_utc)`` of a download of at most 400 days, after the
    reader check (which audits staff reads, naming the export and period)."""
    first_day, last_day = _date_param(request, "first_day"), _date_param(request, "last_day")
    if first_day is None or last_day is None or first_day > last_day or (last_day - first_day).days > 400:
        raise serializers.ValidationError({"first_day": "give first_day <= last_day, at most 400 days apart"})
    account = _account_for_reader(
        request, account_id, purpose={"export": export, "first_day": str(first_day), "last_day": str(last_day)}
    )
    return account, first_day, last_day, timegrid.day_bounds_utc(first_day)[0], timegrid.day_bounds_utc(last_day)[1]


class _Echo:
    def write(self, value: str) -> str:
        return value


class AccountIntervalsCsvApi(APIView):
    """GET ?first_day=..&last_day=.. (at most 400 days): every interval as CSV, streamed from a server-side cursor."""

    permission_classes = [IsAuthenticated]

    def get(self, request, account_id: int):
        account, first_day, last_day, start, end = _download(request, account_id, "intervals.csv")
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(["start_utc", "duration_s", "value_wh", "quality", "channel"])
            for start_utc, duration, wh, quality, channel in selectors.interval_readings_for_account(
                account=account, start=start, end=end
            ):
                yield writer.writerow([start_utc.strftime("%Y-%m-%dT%H:%M:%SZ"), duration, wh, quality, channel])

        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = (
            f'attachment; filename="usage-{account.account_number}-{first_day}-{last_day}.csv"'
        )
        return response


class AccountGreenButtonApi(APIView):
    """GET ?first_day=..&last_day=.. (at most 400 days): the account's intervals as a Green Button
    (NAESB ESPI) Atom feed, the "Download My Data" format the Michigan rules call readily accessible.

    Same reader rules as the CSV: the member's own account (404 otherwise) or staff holding
    ``usage.view_account_usage`` (audited). One usage point per channel; energy received only where the
    premise has solar. A third party gets this format only through ``disclosures.services``.
    """

    permission_classes = [IsAuthenticated]

    def get(self, request, account_id: int):
        account, first_day, last_day, start, end = _download(request, account_id, "greenbutton.xml")
        points = selectors.espi_usage_points(account=account, start=start, end=end)
        response = StreamingHttpResponse(
            render_espi(points, base_url=settings.SITE_URL, now=timezone.now()), content_type="application/atom+xml"
        )
        response["Content-Disposition"] = (
            f'attachment; filename="greenbutton-{account.account_number}-{first_day}-{last_day}.xml"'
        )
        return response


# --- the UsagePoint -> meter mapping (docs/usage.md, "Meters and UsagePoints") ------------------------


class CanManageUsagePointMappings(BasePermission):
    """Staff holding usage.manage_usage_point_mappings (the usage admin; Billing by default)."""

    def has_permission(self, request, view) -> bool:
        return bool(request.user.is_staff and request.user.has_perm("usage.manage_usage_point_mappings"))


class UsagePointMappingOutput(serializers.ModelSerializer):
    # kind as plain text: "sdp", "usage_point_id" or "title" (a choice field would collide with other "kind" enums)
    kind = serializers.CharField(read_only=True, help_text="sdp, usage_point_id or title")
    meter_number = serializers.CharField(source="meter.meter_number", read_only=True)

    class Meta:
        model = UsagePointMapping
        fields = ["id", "kind", "value", "meter", "meter_number", "note", "created_at", "updated_at"]


class UsagePointMappingInput(serializers.Serializer):
    kind = serializers.CharField(max_length=20, help_text="sdp, usage_point_id or title (checked by the service)")
    value = serializers.CharField(max_length=256)
    meter = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    note = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


def _mapping_fields(request) -> dict:
    given = UsagePointMappingInput(data=request.data)
    given.is_valid(raise_exception=True)
    data = given.validated_data
    return {"kind": data["kind"], "value": data["value"], "meter_id": data["meter"], "note": data["note"]}


def _service_errors(call):
    """Run a mapping service; its ValidationError (naming the field) becomes a 400."""
    from django.core.exceptions import ValidationError as DjangoValidationError

    try:
        return call()
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None


class UsagePointMappingListApi(APIView):
    """GET every mapping (?kind= to filter); POST {kind, value, meter, note} to add one."""

    permission_classes = [IsAuthenticated, CanManageUsagePointMappings]

    @extend_schema(operation_id="usage_point_mappings_list", responses=UsagePointMappingOutput(many=True))
    def get(self, request):
        mappings = UsagePointMapping.objects.select_related("meter").order_by("kind", "value")
        kind = request.query_params.get("kind")
        if kind:
            mappings = mappings.filter(kind=kind)
        return Response(UsagePointMappingOutput(mappings[:1000], many=True).data)

    @extend_schema(
        operation_id="usage_point_mappings_create",
        request=UsagePointMappingInput,
        responses={201: UsagePointMappingOutput},
    )
    def post(self, request):
        fields = _mapping_fields(request)
        mapping = _service_errors(lambda: usage_point_mapping_create(actor=request.user, **fields))
        return Response(UsagePointMappingOutput(mapping).data, status=status.HTTP_201_CREATED)


class UsagePointMappingDetailApi(APIView):
    """GET, PUT {kind, value, meter, note} or DELETE one mapping."""

    permission_classes = [IsAuthenticated, CanManageUsagePointMappings]

    @extend_schema(operation_id="usage_point_mappings_retrieve", responses=UsagePointMappingOutput)
    def get(self, request, mapping_id: int):
        return Response(UsagePointMappingOutput(get_object_or_404(UsagePointMapping, pk=mapping_id)).data)

    @extend_schema(
        operation_id="usage_point_mappings_update", request=UsagePointMappingInput, responses=UsagePointMappingOutput
    )
    def put(self, request, mapping_id: int):
        mapping = get_object_or_404(UsagePointMapping, pk=mapping_id)
        fields = _mapping_fields(request)
        mapping = _service_errors(lambda: usage_point_mapping_update(mapping=mapping, actor=request.user, **fields))
        return Response(UsagePointMappingOutput(mapping).data)

    @extend_schema(operation_id="usage_point_mappings_destroy", responses={204: None})
    def delete(self, request, mapping_id: int):
        mapping = get_object_or_404(UsagePointMapping, pk=mapping_id)
        usage_point_mapping_delete(mapping=mapping, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
