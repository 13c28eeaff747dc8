"""REST API for members (staff integrations and staff sessions). Same permissions and masking as the
admin: outputs carry masked identifiers only, a full value comes from the reveal endpoint (permission +
reason, time-limited, logged), every record read is logged as ``access.view_member``, and writes go
through members/services.py. Input and output serializers are kept apart.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from members import identifiers, services
from members.audit import client_ip
from members.fields import UndecryptableValue
from members.masking import masked_member
from members.models import Member
from members.selectors import is_identifier_term, member_list, member_search_results

IDENTIFIER_IN_URL = 'A full SSN/TIN or licence is never put in a URL: POST it to /api/members/search/ as {"q": ...}.'


class HasPermission(BasePermission):
    """``permission_classes = [HasPermission.of("members.view_member")]``: one Django permission per view."""

    required: str = ""

    @classmethod
    def of(cls, permission: str):
        return type(f"Has_{permission.replace('.', '_')}", (cls,), {"required": permission})

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.has_perm(self.required))


def for_method(**permissions: str):
    """Different permission per HTTP method: ``for_method(GET="app.view_x", POST="app.add_x")``."""

    class _ByMethod(BasePermission):
        def has_permission(self, request, view) -> bool:
            needed = permissions.get(
                request.method, permissions.get("GET") if request.method in ("HEAD", "OPTIONS") else None
            )
            return bool(needed and request.user and request.user.is_authenticated and request.user.has_perm(needed))

    return _ByMethod


def service_errors(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages})


def get_member_for_staff(request, member_id: int) -> Member:
    """The one access helper for a member by id: the role must hold ``members.view_member``."""
    if not request.user.has_perm("members.view_member"):
        raise PermissionDenied
    return get_object_or_404(member_list(), pk=member_id)


# The identifiers as staff see them by default, one output field per key of masked_member (tax_id,
# date_of_birth, drivers_licence, ...), and the write-only inputs of the declared identifiers: both from
# members/identifiers.py.
MASKED_IDENTIFIERS = tuple(dict.fromkeys(f.shown_as for f in identifiers.identifier_fields() if f.shown_as))


@extend_schema_field(OpenApiTypes.STR)
class MaskedIdentifier(serializers.Field):
    """One masked identifier of the member (never decrypted: built from clear columns)."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, **kwargs)

    def to_representation(self, member: Member) -> str:
        return self.parent.masked(member)[self.field_name]


class _MemberOutput(serializers.ModelSerializer):
    class Meta:
        model = Member
        fields = [
            "id",
            "member_number",
            "kind",
            "legal_name",
            "status",
            "applied_on",
            "joined_on",
            "left_on",
            "mailing_line1",
            "mailing_line2",
            "mailing_city",
            "mailing_state",
            "mailing_postal_code",
            "phone",
            "email",
            *MASKED_IDENTIFIERS,
            "created_at",
        ]

    def masked(self, member: Member) -> dict[str, str]:
        cache = self.context.setdefault("_masked", {})
        if member.pk not in cache:
            cache[member.pk] = masked_member(member)
        return cache[member.pk]


# SerializerMetaclass collects fields given to ``type`` as declared fields, so the masked identifiers
# take the place of the model's (encrypted) fields of the same name.
MemberOutput = type("MemberOutput", (_MemberOutput,), {name: MaskedIdentifier() for name in MASKED_IDENTIFIERS})


class _MemberCreateInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Member.Kind.choices, default=Member.Kind.PERSON)
    legal_name = serializers.CharField(max_length=200)
    mailing_line1 = serializers.CharField(required=False, allow_blank=True, default="")
    mailing_line2 = serializers.CharField(required=False, allow_blank=True, default="")
    mailing_city = serializers.CharField(required=False, allow_blank=True, default="")
    mailing_state = serializers.CharField(required=False, allow_blank=True, default="")
    mailing_postal_code = serializers.CharField(required=False, allow_blank=True, default="")
    phone = serializers.CharField(required=False, allow_blank=True, default="")
    email = serializers.CharField(required=False, allow_blank=True, default="")
    drivers_licence_state = serializers.CharField(required=False, allow_blank=True, default="")


def _identifier_input() -> serializers.CharField:
    return serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None, write_only=True)


MemberCreateInput = type(
    "MemberCreateInput",
    (_MemberCreateInput,),
    {field.name: _identifier_input() for field in identifiers.identifier_inputs()},
)


class MemberListCreateApi(generics.ListAPIView):
    """GET: masked members, ``?q=`` searches like the admin. POST: create a member (service)."""

    serializer_class = MemberOutput
    permission_classes = [IsAuthenticated, for_method(GET="members.view_member", POST="members.add_member")]
    search_more_than: int | None = None

    def search_term(self) -> str:
        term = self.request.query_params.get("q", "")
        if is_identifier_term(term):
            raise ValidationError({"q": [IDENTIFIER_IN_URL]})
        return term

    def get_queryset(self):
        queryset = member_list()
        term = self.search_term()
        if term:
            try:
                result = member_search_results(queryset, term, self.request.user)
            except DjangoPermissionDenied as exc:
                raise PermissionDenied(str(exc)) from None
            queryset, self.search_more_than = result.members, result.more_than
        return queryset.order_by("member_number")

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q", str, description="member number, name, phone, email, SSN last four; full SSN/licence if permitted"
            )
        ]
    )
    def get(self, request, *args, **kwargs):
        self.search_more_than = None
        response = super().get(request, *args, **kwargs)
        if self.search_more_than:
            # As the admin's "more than N match" note: the results are part of what matched (members.selectors).
            response["X-Search-More-Than"] = str(self.search_more_than)
        ids = [row["id"] for row in response.data.get("results", [])] if isinstance(response.data, dict) else []
        services.member_list_view(
            actor=request.user,
            member_ids=ids,
            channel="api",
            query=self.search_term(),
            ip_address=client_ip(request),
        )
        return response

    @extend_schema(request=MemberCreateInput, responses={201: MemberOutput})
    def post(self, request):
        data = MemberCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            member = services.member_create(actor=request.user, **data.validated_data)
        except DjangoValidationError as exc:
            raise service_errors(exc) from None
        return Response(MemberOutput(member_list().get(pk=member.pk)).data, status=status.HTTP_201_CREATED)


class MemberSearchInput(serializers.Serializer):
    q = serializers.CharField(max_length=200, help_text="anything GET ?q= takes, and a full SSN/TIN or licence")


class MemberSearchApi(MemberListCreateApi):
    """POST {"q": ...}: the member list searched by a term that may be an identifier (kept out of URLs)."""

    permission_classes = [IsAuthenticated, HasPermission.of("members.view_member")]

    def search_term(self) -> str:
        data = MemberSearchInput(data=self.request.data)
        data.is_valid(raise_exception=True)
        return data.validated_data["q"]

    http_method_names = ["post", "options"]

    @extend_schema(
        request=MemberSearchInput,
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("offset", int)],
        responses={
            200: inline_serializer(
                "PaginatedMemberSearchList",
                {
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": MemberOutput(many=True),
                },
            )
        },
    )
    def post(self, request, *args, **kwargs):
        return MemberListCreateApi.get(self, request, *args, **kwargs)


class MemberChangeInput(serializers.Serializer):
    legal_name = serializers.CharField(required=False, max_length=200)
    phone = serializers.CharField(required=False, allow_blank=True)
    email = serializers.CharField(required=False, allow_blank=True)
    mailing_line1 = serializers.CharField(required=False)
    mailing_line2 = serializers.CharField(required=False, allow_blank=True)
    mailing_city = serializers.CharField(required=False)
    mailing_state = serializers.CharField(required=False)
    mailing_postal_code = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=Member.Status.choices, required=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    # The acting staff member's note on an open "Red Flag Exists" warning (members.guards): required for a
    # contact change while one is open (400 on the ``acknowledgement`` field otherwise).
    acknowledgement = serializers.CharField(required=False, allow_blank=True, default="")


class MemberDetailApi(APIView):
    permission_classes = [IsAuthenticated, for_method(GET="members.view_member", PATCH="members.change_member")]

    @extend_schema(responses=MemberOutput)
    def get(self, request, member_id: int):
        member = get_member_for_staff(request, member_id)
        services.member_record_view(actor=request.user, member=member, channel="api", ip_address=client_ip(request))
        return Response(MemberOutput(member).data)

    @extend_schema(request=MemberChangeInput, responses=MemberOutput)
    def patch(self, request, member_id: int):
        member = get_member_for_staff(request, member_id)
        data = MemberChangeInput(data=request.data)
        data.is_valid(raise_exception=True)
        values, reason = data.validated_data, data.validated_data.get("reason", "")
        note = values.get("acknowledgement", "")
        address_keys = ("mailing_line1", "mailing_line2", "mailing_city", "mailing_state", "mailing_postal_code")
        try:
            with transaction.atomic():  # several services, one outcome: all of them or none
                member = services.member_lock(member.pk)
                if "legal_name" in values:
                    services.member_change_name(
                        actor=request.user, member=member, legal_name=values["legal_name"], reason=reason
                    )
                if any(key in values for key in address_keys):
                    current = {key: getattr(member, key) for key in address_keys}
                    current.update({key: values[key] for key in address_keys if key in values})
                    services.member_change_address(
                        actor=request.user,
                        member=member,
                        line1=current["mailing_line1"],
                        line2=current["mailing_line2"],
                        city=current["mailing_city"],
                        state=current["mailing_state"],
                        postal_code=current["mailing_postal_code"],
                        reason=reason,
                        acknowledgement=note,
                    )
                if "phone" in values:
                    services.member_change_phone(
                        actor=request.user, member=member, phone=values["phone"], reason=reason, acknowledgement=note
                    )
                if "email" in values:
                    services.member_change_email(
                        actor=request.user, member=member, email=values["email"], reason=reason, acknowledgement=note
                    )
                if "status" in values and values["status"] != member.status:
                    services.member_change_status(
                        actor=request.user, member=member, status=values["status"], reason=reason
                    )
        except DjangoValidationError as exc:
            raise service_errors(exc) from None
        return Response(MemberOutput(member_list().get(pk=member.pk)).data)


class RevealInput(serializers.Serializer):
    field_name = serializers.ChoiceField(choices=sorted(services.REVEALABLE_FIELDS))
    reason = serializers.CharField()


class RevealOutput(serializers.Serializer):
    field_name = serializers.CharField()
    value = serializers.CharField(allow_null=True)
    expires_at = serializers.DateTimeField()


class MemberRevealApi(APIView):
    """POST a field name and a typed reason; the full value comes back once, logged as ``access.reveal``."""

    permission_classes = [IsAuthenticated, HasPermission.of("members.view_member")]

    @extend_schema(request=RevealInput, responses={200: RevealOutput, 409: OpenApiTypes.OBJECT})
    def post(self, request, member_id: int):
        member = get_member_for_staff(request, member_id)
        data = RevealInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            grant = services.member_reveal(
                actor=request.user,
                member=member,
                field_name=data.validated_data["field_name"],
                reason=data.validated_data["reason"],
                channel="api",
                ip_address=client_ip(request),
            )
        except DjangoPermissionDenied as exc:
            raise PermissionDenied(str(exc)) from None
        except DjangoValidationError as exc:
            raise service_errors(exc) from None
        try:
            value = getattr(Member.objects.only(grant.field_name).get(pk=member.pk), grant.field_name)
        except UndecryptableValue:
            # Fails closed for this field: nothing shown, the reveal stays on the access log.
            label = {f.name: f.label for f in identifiers.identifier_fields()}.get(grant.field_name, grant.field_name)
            return Response(
                {"detail": f"{label} cannot be decrypted; restore the key."}, status=status.HTTP_409_CONFLICT
            )
        return Response(
            RevealOutput(
                {
                    "field_name": grant.field_name,
                    "value": None if value is None else str(value),
                    "expires_at": grant.expires_at,
                }
            ).data
        )
