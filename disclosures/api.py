"""DRF endpoints: the member's consents and disclosures (portal), and the auditors' read-only API."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from disclosures import selectors, services
from disclosures.chain import verify_chain
from disclosures.models import SECONDARY_PURPOSES, Consent, DataCategory, DisclosureLogEntry, Purpose
from members.audit import verify_audit_chain
from members.pagination import BoundedLimitOffsetPagination
from members.signin.stepup import FreshlyAuthenticated


class IsAuditor(BasePermission):
    """Auditors (and the Privacy Officer): the read-only audit permission, on an active staff login."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.has_perm("disclosures.view_access_log"))


def _member(request):
    try:
        return selectors.member_for_user(request.user)
    except Exception as exc:  # django PermissionDenied -> DRF 403
        raise PermissionDenied(str(exc)) from None


def _paginate(view, request, queryset, serializer_class):
    paginator = BoundedLimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


# --- Member-facing ----------------------------------------------------------------------------------


class MemberConsentOutput(serializers.ModelSerializer):
    recipient = serializers.CharField(source="recipient.name")
    recipient_kind = serializers.CharField(source="recipient.kind")
    status = serializers.CharField()

    class Meta:
        model = Consent
        fields = [
            "id",
            "recipient",
            "recipient_kind",
            "categories",
            "purpose",
            "purpose_detail",
            "channel",
            "granted_at",
            "expires_at",
            "revoked_at",
            "status",
        ]


class MyConsentsApi(APIView):
    """My consents; granting one is a consent change and needs a fresh password or MFA check."""

    permission_classes = [IsAuthenticated, FreshlyAuthenticated]

    class InputSerializer(serializers.Serializer):
        recipient = serializers.IntegerField()
        categories = serializers.ListField(
            child=serializers.ChoiceField(choices=DataCategory.choices), allow_empty=False
        )
        purpose = serializers.ChoiceField(choices=[(p, Purpose(p).label) for p in sorted(SECONDARY_PURPOSES)])
        purpose_detail = serializers.CharField(required=False, allow_blank=True, default="")
        expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)

    def get(self, request):
        member = _member(request)
        return _paginate(self, request, selectors.consents_of_member(member=member), MemberConsentOutput)

    def post(self, request):
        member = _member(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        recipient = selectors.recipients_for_members().filter(pk=data.validated_data["recipient"]).first()
        if recipient is None:
            raise ValidationError({"recipient": "Choose one of the recipients offered in the portal."})
        try:
            consent = services.consent_grant(
                actor=request.user,
                member=member,
                recipient=recipient,
                categories=data.validated_data["categories"],
                purpose=data.validated_data["purpose"],
                purpose_detail=data.validated_data["purpose_detail"],
                channel=Consent.Channel.PORTAL,
                evidence=f"portal session of {request.user.get_username()}",
                expires_at=data.validated_data["expires_at"],
            )
        except DjangoValidationError as exc:
            raise ValidationError({"detail": exc.messages}) from None
        return Response(MemberConsentOutput(consent).data, status=status.HTTP_201_CREATED)


class MyConsentRevokeApi(APIView):
    """Withdrawing a consent is a consent change: a fresh password or MFA check, as in the portal."""

    permission_classes = [IsAuthenticated, FreshlyAuthenticated]

    def post(self, request, consent_id: int):
        member = _member(request)
        consent = selectors.consent_of_member(member=member, consent_id=consent_id)
        try:
            consent = services.consent_revoke(
                actor=request.user,
                consent=consent,
                channel=Consent.Channel.PORTAL,
                reason="revoked by the member in the portal",
            )
        except DjangoValidationError as exc:
            raise ValidationError({"detail": exc.messages}) from None
        return Response(MemberConsentOutput(consent).data)


class MyDisclosureOutput(serializers.ModelSerializer):
    recipient = serializers.SerializerMethodField()

    class Meta:
        model = DisclosureLogEntry
        fields = ["seq", "at", "outcome", "recipient", "basis_kind", "purpose", "categories", "format"]

    def get_recipient(self, entry) -> str:
        # A membership list goes to another member; their identity is not the listed member's business.
        if entry.basis_kind == "membership_list":
            return "a member of the co-op (membership list, Privacy Officer approved)"
        return entry.recipient_label


class MyDisclosuresApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        member = _member(request)
        return _paginate(self, request, selectors.disclosures_to_member(member=member), MyDisclosureOutput)


class MyRecipientsApi(APIView):
    """Recipients a member may consent to from the portal."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        kind = serializers.CharField()

    def get(self, request):
        _member(request)
        return Response(self.OutputSerializer(selectors.recipients_for_members(), many=True).data)


# --- Auditors ---------------------------------------------------------------------------------------


class LogEntryOutput(serializers.ModelSerializer):
    class Meta:
        model = DisclosureLogEntry
        fields = [
            "seq",
            "at",
            "actor_label",
            "outcome",
            "recipient_id",
            "recipient_label",
            "basis_kind",
            "basis_ref",
            "purpose",
            "member_count",
            "categories",
            "fields",
            "format",
            "row_count",
            "file_sha256",
            "reason",
            "notice_withheld",
            "prev_hash",
            "entry_hash",
        ]


class AuditConsentOutput(serializers.ModelSerializer):
    member_number = serializers.CharField(source="member.member_number")
    recipient = serializers.CharField(source="recipient.name")
    recorded_by = serializers.CharField(source="recorded_by.username", default="")
    revoked_by = serializers.CharField(source="revoked_by.username", default="")
    status = serializers.CharField()

    class Meta:
        model = Consent
        fields = [
            "id",
            "member_number",
            "recipient",
            "categories",
            "purpose",
            "channel",
            "evidence",
            "granted_at",
            "expires_at",
            "revoked_at",
            "revoked_by",
            "revocation_channel",
            "recorded_by",
            "status",
        ]


class AccessEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor_label = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    fields = serializers.JSONField()
    reason = serializers.CharField()


class AuditLogApi(APIView):
    permission_classes = [IsAuditor]

    def get(self, request):
        return _paginate(self, request, selectors.disclosure_log(filters=request.query_params), LogEntryOutput)


class AuditRefusedApi(APIView):
    permission_classes = [IsAuditor]

    def get(self, request):
        return _paginate(self, request, selectors.refused_attempts(filters=request.query_params), LogEntryOutput)


class AuditConsentsApi(APIView):
    permission_classes = [IsAuditor]

    def get(self, request):
        return _paginate(self, request, selectors.consent_list(filters=request.query_params), AuditConsentOutput)


class AuditAccessLogApi(APIView):
    permission_classes = [IsAuditor]

    def get(self, request):
        return _paginate(self, request, selectors.access_log(filters=request.query_params), AccessEventOutput)


class AuditChainApi(APIView):
    permission_classes = [IsAuditor]

    def get(self, request):
        report = verify_chain()
        return Response(
            {
                "ok": report.ok,
                "entries": report.entries,
                "head_seq": report.head_seq,
                "head_hash": report.head_hash,
                "problems": report.problems,
                "broken_seqs": report.broken_seqs,
                "anchor_seq": report.anchor_seq,
                "audit_trail": _chain_summary(verify_audit_chain()),
            }
        )


def _chain_summary(report) -> dict:
    return {
        "ok": report.ok,
        "entries": report.entries,
        "head_seq": report.head_seq,
        "anchor_seq": report.anchor_seq,
        "problems": report.problems,
    }
