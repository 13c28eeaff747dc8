"""DRF endpoints of the Red Flags program: CRA alerts and identity-theft notices received by integration.

A consumer reporting agency feed (or a staff tool) posts an alert; the service records it and scores
it in the same transaction, so the answer says what the program decided.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Account
from members.models import Member
from members.roles import has_staff_role
from redflags.models import ConsumerReportAlert, IdentityTheftNotice, RiskAssessment
from redflags.services import notices


def _staff_permission(permission: str) -> type[BasePermission]:
    class StaffWithPermission(BasePermission):
        def has_permission(self, request, view) -> bool:
            user = request.user
            return bool(user and user.is_authenticated and has_staff_role(user) and user.has_perm(permission))

    return StaffWithPermission


def _member_and_account(member_number: str, account_number: str | None) -> tuple[Member, Account | None]:
    member = Member.objects.filter(member_number=member_number).first()
    if member is None:
        raise ValidationError({"member_number": ["No member has this number."]})
    account = None
    if account_number:
        account = Account.objects.filter(account_number=account_number, member=member).first()
        if account is None:
            raise ValidationError({"account_number": ["This member has no account with this number."]})
    return member, account


def _assessment_output(event_name: str, member_id: int) -> dict:
    assessment = RiskAssessment.objects.filter(event_name=event_name, member_id=member_id).order_by("-id").first()
    if assessment is None:
        return {}
    return {
        "id": assessment.pk,
        "score": assessment.score,
        "outcome": assessment.outcome,
        "rules": [f"{item['code']}@v{item['version']}" for item in assessment.fired],
    }


class CraAlertCreateApi(APIView):
    permission_classes = [_staff_permission("redflags.add_consumerreportalert")]

    class InputSerializer(serializers.Serializer):
        member_number = serializers.CharField(max_length=20)
        account_number = serializers.CharField(max_length=20, required=False, allow_blank=True)
        kind = serializers.ChoiceField(choices=ConsumerReportAlert.Kind.choices)
        agency = serializers.CharField(max_length=100)
        received_at = serializers.DateTimeField(required=False)
        notes = serializers.CharField(required=False, allow_blank=True, default="")

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        member, account = _member_and_account(values["member_number"], values.get("account_number"))
        try:
            alert = notices.cra_alert_record(
                member=member,
                account=account,
                kind=values["kind"],
                agency=values["agency"],
                actor=request.user,
                source=ConsumerReportAlert.Source.API,
                notes=values["notes"],
                received_at=values.get("received_at"),
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None
        return Response(
            {"id": alert.pk, "kind": alert.kind, "assessment": _assessment_output("redflags.cra_alert", member.pk)},
            status=status.HTTP_201_CREATED,
        )


class IdentityTheftNoticeCreateApi(APIView):
    permission_classes = [_staff_permission("redflags.add_identitytheftnotice")]

    class InputSerializer(serializers.Serializer):
        member_number = serializers.CharField(max_length=20)
        account_number = serializers.CharField(max_length=20, required=False, allow_blank=True)
        reporter = serializers.ChoiceField(choices=IdentityTheftNotice.Reporter.choices)
        summary = serializers.CharField()

    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        member, account = _member_and_account(values["member_number"], values.get("account_number"))
        try:
            notice = notices.identity_theft_notice_record(
                reporter=values["reporter"],
                summary=values["summary"],
                actor=request.user,
                member=member,
                account=account,
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None
        return Response(
            {"id": notice.pk, "assessment": _assessment_output("redflags.identity_theft_notice", member.pk)},
            status=status.HTTP_201_CREATED,
        )
