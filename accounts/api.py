"""REST API for covered accounts, premises, bills and payments. Same rules as members/api.py:
permission per method, writes through accounts/services.py, no ciphertext loaded on lists, gate
codes, dog warnings and meter-reading notes only for ``accounts.view_field_notes``.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.models import Account, Bill, Payment, Premise
from members import identifiers
from members.api import HasPermission, for_method, service_errors
from members.models import Member

# Ciphertexts a list never needs (members/identifiers.py): loading them would decrypt every row.
_DEFERRED = (
    *identifiers.deferred("members.Member", "member__"),
    *identifiers.deferred("accounts.Premise", "premise__"),
)


def _accounts():
    return Account.objects.select_related("member", "premise").defer(*_DEFERRED)


def get_account_for_staff(request, account_id: int, permission: str = "accounts.view_account") -> Account:
    if not request.user.has_perm(permission):
        raise PermissionDenied
    return get_object_or_404(_accounts(), pk=account_id)


class AccountOutput(serializers.ModelSerializer):
    member_number = serializers.CharField(source="member.member_number", read_only=True)
    premise_number = serializers.CharField(source="premise.premise_number", read_only=True, default=None)

    class Meta:
        model = Account
        fields = [
            "id",
            "account_number",
            "member",
            "member_number",
            "premise",
            "premise_number",
            "status",
            "status_reason",
            "opened_at",
            "closed_at",
            "suspended_at",
            "red_flag_warning",
            "on_hold",
        ]


class AccountOpenInput(serializers.Serializer):
    member = serializers.PrimaryKeyRelatedField(queryset=Member.objects.only("id", "status"))
    premise = serializers.PrimaryKeyRelatedField(queryset=Premise.objects.only("id"), required=False, allow_null=True)
    checklist = serializers.DictField(required=False, default=dict)
    # The acting staff member's note on an open "Red Flag Exists" warning on the member (members.guards).
    acknowledgement = serializers.CharField(required=False, allow_blank=True, default="")


class AccountListOpenApi(generics.ListAPIView):
    serializer_class = AccountOutput
    permission_classes = [IsAuthenticated, for_method(GET="accounts.view_account", POST="accounts.add_account")]

    def get_queryset(self):
        queryset = _accounts().order_by("account_number")
        member = self.request.query_params.get("member")
        if member and member.isdigit():
            queryset = queryset.filter(member_id=int(member))
        return queryset

    @extend_schema(parameters=[OpenApiParameter("member", int, description="only this member's accounts")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=AccountOpenInput, responses={201: AccountOutput})
    def post(self, request):
        data = AccountOpenInput(data=request.data)
        data.is_valid(raise_exception=True)
        member = Member.objects.get(pk=data.validated_data["member"].pk)
        try:
            account = services.account_open(
                actor=request.user,
                member=member,
                premise=data.validated_data.get("premise"),
                checklist=data.validated_data["checklist"],
                acknowledgement=data.validated_data["acknowledgement"],
            )
        except DjangoValidationError as exc:
            raise service_errors(exc) from None
        return Response(AccountOutput(_accounts().get(pk=account.pk)).data, status=status.HTTP_201_CREATED)


class AccountDetailApi(APIView):
    permission_classes = [IsAuthenticated, HasPermission.of("accounts.view_account")]

    @extend_schema(responses=AccountOutput)
    def get(self, request, account_id: int):
        return Response(AccountOutput(get_account_for_staff(request, account_id)).data)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField()


class AccountStatusApi(APIView):
    """POST /api/accounts/<id>/<close|suspend|reinstate>/ with a reason."""

    permission_classes = [IsAuthenticated, HasPermission.of("accounts.change_account")]
    actions = {
        "close": services.account_close,
        "suspend": services.account_suspend,
        "reinstate": services.account_reinstate,
    }

    @extend_schema(request=ReasonInput, responses=AccountOutput, operation_id="accounts_change_status")
    def post(self, request, account_id: int, action: str):
        account = get_account_for_staff(request, account_id, "accounts.change_account")
        data = ReasonInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            self.actions[action](actor=request.user, account=account, reason=data.validated_data["reason"])
        except DjangoValidationError as exc:
            raise service_errors(exc) from None
        return Response(AccountOutput(_accounts().get(pk=account.pk)).data)


class PartyInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    relationship = serializers.CharField(required=False, allow_blank=True, default="")
    phone = serializers.CharField(required=False, allow_blank=True, default="")
    email = serializers.CharField(required=False, allow_blank=True, default="")


class PartyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    relationship = serializers.CharField()
    added_at = serializers.DateTimeField()


class AccountPartyApi(APIView):
    permission_classes = [IsAuthenticated, HasPermission.of("accounts.add_authorizedparty")]

    @extend_schema(request=PartyInput, responses={201: PartyOutput})
    def post(self, request, account_id: int):
        account = get_account_for_staff(request, account_id, "accounts.add_authorizedparty")
        data = PartyInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            party = services.authorized_party_add(actor=request.user, account=account, **data.validated_data)
        except DjangoValidationError as exc:
            raise service_errors(exc) from None
        return Response(PartyOutput(party).data, status=status.HTTP_201_CREATED)


# --- Premises ------------------------------------------------------------------------------------------


class PremiseOutput(serializers.ModelSerializer):
    meters = serializers.SlugRelatedField(many=True, read_only=True, slug_field="meter_number")

    class Meta:
        model = Premise
        fields = [
            "id",
            "premise_number",
            "service_line1",
            "service_line2",
            "service_city",
            "service_state",
            "service_postal_code",
            "meters",
        ]


class PremiseFieldOutput(PremiseOutput):
    """For Field Services: the meter-reading information too."""

    class Meta(PremiseOutput.Meta):
        fields = [*PremiseOutput.Meta.fields, "dog_warning", "gate_code", "meter_reading_notes"]


class PremiseCreateInput(serializers.Serializer):
    service_line1 = serializers.CharField()
    service_line2 = serializers.CharField(required=False, allow_blank=True, default="")
    service_city = serializers.CharField()
    service_state = serializers.CharField()
    service_postal_code = serializers.CharField()
    dog_warning = serializers.BooleanField(required=False, default=False)
    gate_code = serializers.CharField(required=False, allow_blank=True, default="", write_only=True)
    meter_reading_notes = serializers.CharField(required=False, allow_blank=True, default="", write_only=True)


def _premise_output(request):
    return PremiseFieldOutput if request.user.has_perm("accounts.view_field_notes") else PremiseOutput


class PremiseListCreateApi(generics.ListAPIView):
    permission_classes = [IsAuthenticated, for_method(GET="accounts.view_premise", POST="accounts.add_premise")]

    def get_serializer_class(self):
        return _premise_output(self.request)

    def get_queryset(self):
        queryset = Premise.objects.prefetch_related("meters").order_by("premise_number")
        if not self.request.user.has_perm("accounts.view_field_notes"):
            queryset = queryset.defer(*identifiers.deferred("accounts.Premise"))
        return queryset

    @extend_schema(request=PremiseCreateInput, responses={201: PremiseOutput})
    def post(self, request):
        data = PremiseCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            premise = services.premise_create(actor=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise service_errors(exc) from None
        return Response(_premise_output(request)(premise).data, status=status.HTTP_201_CREATED)


class PremiseDetailApi(APIView):
    permission_classes = [IsAuthenticated, HasPermission.of("accounts.view_premise")]

    @extend_schema(responses=PremiseFieldOutput)
    def get(self, request, premise_id: int):
        premise = get_object_or_404(Premise.objects.prefetch_related("meters"), pk=premise_id)
        return Response(_premise_output(request)(premise).data)


# --- Bills and payments --------------------------------------------------------------------------------


class BillOutput(serializers.ModelSerializer):
    class Meta:
        model = Bill
        fields = [
            "id",
            "account",
            "statement_number",
            "period_start",
            "period_end",
            "issued_on",
            "due_on",
            "kwh",
            "amount_due",
            "status",
        ]


class BillInput(serializers.Serializer):
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.only("id", "member_id"))
    statement_number = serializers.CharField(max_length=30)
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    issued_on = serializers.DateField()
    due_on = serializers.DateField()
    amount_due = serializers.CharField()
    kwh = serializers.CharField(required=False, default="0")


class BillListCreateApi(generics.ListAPIView):
    serializer_class = BillOutput
    permission_classes = [IsAuthenticated, for_method(GET="accounts.view_bill", POST="accounts.add_bill")]

    def get_queryset(self):
        queryset = Bill.objects.order_by("account_id", "-issued_on")
        account = self.request.query_params.get("account")
        return queryset.filter(account_id=int(account)) if account and account.isdigit() else queryset

    @extend_schema(parameters=[OpenApiParameter("account", int)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=BillInput, responses={201: BillOutput})
    def post(self, request):
        data = BillInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            bill = services.bill_record(actor=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise service_errors(exc) from None
        return Response(BillOutput(bill).data, status=status.HTTP_201_CREATED)


class PaymentOutput(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["id", "account", "bill", "received_at", "amount", "method", "reference", "returned", "returned_at"]


class PaymentInput(serializers.Serializer):
    account = serializers.PrimaryKeyRelatedField(queryset=Account.objects.only("id", "member_id"))
    bill = serializers.PrimaryKeyRelatedField(queryset=Bill.objects.all(), required=False, allow_null=True)
    amount = serializers.CharField()
    method = serializers.CharField()
    received_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    reference = serializers.CharField(required=False, allow_blank=True, default="")


class PaymentListCreateApi(generics.ListAPIView):
    serializer_class = PaymentOutput
    permission_classes = [IsAuthenticated, for_method(GET="accounts.view_payment", POST="accounts.add_payment")]

    def get_queryset(self):
        queryset = Payment.objects.order_by("account_id", "-received_at")
        account = self.request.query_params.get("account")
        return queryset.filter(account_id=int(account)) if account and account.isdigit() else queryset

    @extend_schema(parameters=[OpenApiParameter("account", int)])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(request=PaymentInput, responses={201: PaymentOutput})
    def post(self, request):
        data = PaymentInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            payment = services.payment_record(actor=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise service_errors(exc) from None
        return Response(PaymentOutput(payment).data, status=status.HTTP_201_CREATED)
