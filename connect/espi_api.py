"""The ESPI resource API (NAESB REQ.21, the ``/espi/1_1/resource/`` URL patterns) for third parties.

Usage resources (Batch/Subscription, UsagePoint, MeterReading, IntervalBlock, ReadingType) are member
data: each request is one pull through ``connect.pulls.usage_pull`` and so through the export gate,
streamed, logged. ApplicationInformation, Authorization and LocalTimeParameters describe the third party's
own registration, its authorization and the co-op's clock, no member data; they still need a live token.
Errors: a bad token is an OAuth bearer error (401, ``WWW-Authenticate``); everything else an ESPI HTTP
status with a JSON body ``{"error", "error_description"}``.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from django.conf import settings
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET
from oauth2_provider.models import AccessToken

from accounts.usage.espi import ATOM_NS, ENTRY_KINDS, ESPI_NS, EspiView, local_time_parameters_entry
from accounts.usage.espi_customer import CustomerView
from connect.models import Authorization, ThirdParty
from connect.pulls import (
    Pull,
    PullRefused,
    authorization_for,
    check_rate,
    customer_pull,
    pull_refusal,
    refuse_bad_token,
    token_for,
    usage_pull,
)
from disclosures.models import DataCategory

RESOURCE = "/espi/1_1/resource"
USAGE_POINT_KEY = re.compile(r"^account-(\d+)-(delivered|received)$")
BLOCK_ID = re.compile(r"^\d{8}$")


def _error(refusal: PullRefused) -> HttpResponse:
    response = JsonResponse({"error": refusal.error, "error_description": refusal.description}, status=refusal.status)
    if refusal.status == 401:
        response["WWW-Authenticate"] = f'Bearer error="{refusal.error}", error_description="{refusal.description}"'
    elif refusal.error == "insufficient_scope":
        response["WWW-Authenticate"] = f'Bearer error="insufficient_scope", error_description="{refusal.description}"'
    if refusal.retry_after is not None:
        response["Retry-After"] = str(refusal.retry_after)
    return response


def _bearer(request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _token(request) -> AccessToken:
    bearer = _bearer(request)
    token = token_for(bearer) if bearer else None
    if token is None:
        raise refuse_bad_token(bearer)
    return token


def _period(request, token: AccessToken) -> tuple[datetime | None, datetime | None]:
    """ESPI's published-min / published-max (xs:dateTime); anything else is refused and logged."""
    values = []
    for name in ("published-min", "published-max"):
        raw = request.GET.get(name)
        if raw is None:
            values.append(None)
            continue
        try:
            parsed = parse_datetime(raw.replace(" ", "+"))
        except ValueError:  # well formed, impossible (month 13)
            parsed = None
        if parsed is None or timezone.is_naive(parsed):
            third_party = getattr(token.application, "third_party", None)
            raise pull_refusal(
                400, "invalid_request", f"{name} must be an xs:dateTime with a time zone", third_party=third_party
            )
        values.append(parsed)
    return values[0], values[1]


def _stream(token: AccessToken, pull: Pull, request) -> HttpResponse:
    export = usage_pull(token=token, pull=pull)
    return StreamingHttpResponse(export.chunks(), content_type="application/atom+xml")


def _usage(request, subscription_id: int, resource: str, **view) -> HttpResponse:
    try:
        token = _token(request)
        published_min, published_max = _period(request, token)
        key = view.get("usage_point")
        if key is not None:
            _check_usage_point(token, key, subscription_id)
        pull = Pull(
            resource=resource,
            subscription_id=subscription_id,
            view=EspiView(
                subscription=str(subscription_id),
                self_href=f"{settings.SITE_URL}{RESOURCE}/{resource}",
                kinds=view.get("kinds", ENTRY_KINDS),
                usage_point=key,
                interval_block=view.get("interval_block"),
                single=view.get("single", False),
            ),
            published_min=published_min,
            published_max=published_max,
        )
        return _stream(token, pull, request)
    except PullRefused as refusal:
        return _error(refusal)


def _check_usage_point(token: AccessToken, key: str, subscription_id: int) -> None:
    """A usage point of an account the member did not choose is refused (and logged), never a 404 that
    would tell accounts apart."""
    authorization = authorization_for(token)
    match = USAGE_POINT_KEY.match(key)
    if match is None or int(match.group(1)) not in authorization.account_ids or subscription_id != authorization.pk:
        raise pull_refusal(
            403, "forbidden", f"usage point {key[:60]} is not part of this authorization", authorization=authorization
        )


@require_GET
def batch_subscription(request, subscription_id: int):
    return _usage(request, subscription_id, f"Batch/Subscription/{subscription_id}")


@require_GET
def usage_points(request, subscription_id: int):
    return _usage(
        request, subscription_id, f"Subscription/{subscription_id}/UsagePoint", kinds=frozenset({"UsagePoint"})
    )


@require_GET
def usage_point(request, subscription_id: int, usage_point_id: str):
    return _usage(
        request,
        subscription_id,
        f"Subscription/{subscription_id}/UsagePoint/{usage_point_id}",
        kinds=frozenset({"UsagePoint"}),
        usage_point=usage_point_id,
        single=True,
    )


def _meter_reading(request, subscription_id: int, usage_point_id: str, meter_reading_id: int | None):
    if meter_reading_id not in (None, 1):  # one MeterReading per usage point: the interval readings
        return _error(PullRefused(404, "not_found", "no such MeterReading"))
    suffix = "" if meter_reading_id is None else f"/{meter_reading_id}"
    return _usage(
        request,
        subscription_id,
        f"Subscription/{subscription_id}/UsagePoint/{usage_point_id}/MeterReading{suffix}",
        kinds=frozenset({"MeterReading"}),
        usage_point=usage_point_id,
        single=meter_reading_id is not None,
    )


@require_GET
def meter_readings(request, subscription_id: int, usage_point_id: str):
    return _meter_reading(request, subscription_id, usage_point_id, None)


@require_GET
def meter_reading(request, subscription_id: int, usage_point_id: str, meter_reading_id: int):
    return _meter_reading(request, subscription_id, usage_point_id, meter_reading_id)


@require_GET
def interval_blocks(request, subscription_id: int, usage_point_id: str, meter_reading_id: int):
    if meter_reading_id != 1:
        return _error(PullRefused(404, "not_found", "no such MeterReading"))
    return _usage(
        request,
        subscription_id,
        f"Subscription/{subscription_id}/UsagePoint/{usage_point_id}/MeterReading/1/IntervalBlock",
        kinds=frozenset({"IntervalBlock"}),
        usage_point=usage_point_id,
    )


@require_GET
def interval_block(request, subscription_id: int, usage_point_id: str, meter_reading_id: int, block_id: str):
    if meter_reading_id != 1 or not BLOCK_ID.match(block_id):
        return _error(PullRefused(404, "not_found", "no such IntervalBlock (its id is the UTC day, YYYYMMDD)"))
    return _usage(
        request,
        subscription_id,
        f"Subscription/{subscription_id}/UsagePoint/{usage_point_id}/MeterReading/1/IntervalBlock/{block_id}",
        kinds=frozenset({"IntervalBlock"}),
        usage_point=usage_point_id,
        interval_block=block_id,
        single=True,
    )


@require_GET
def reading_type(request, reading_type_id: str):
    """ReadingType/{id}: the id is the usage point's key; the token's own authorization is the scope."""
    try:
        token = _token(request)
        authorization = authorization_for(token)
    except PullRefused as refusal:
        return _error(refusal)
    return _usage(
        request,
        authorization.pk,
        f"ReadingType/{reading_type_id}",
        kinds=frozenset({"ReadingType"}),
        usage_point=reading_type_id,
        single=True,
    )


# --- RetailCustomer (ESPI's customer namespace: never in the same message as usage) ---------------

CUSTOMER_KINDS = {"Customer", "CustomerAccount", "CustomerAgreement", "ServiceLocation"}


def _customer(request, subscription_id: int, resource: str, kind: str | None = None, key: str | None = None):
    try:
        token = _token(request)
        if key is not None and kind != "Customer":
            _check_customer_account(token, subscription_id, key)
        view = CustomerView(
            subscription=str(subscription_id),
            self_href=f"{settings.SITE_URL}{RESOURCE}/{resource}",
            kind=kind,
            resource_id=key,
        )
        export = customer_pull(token=token, subscription_id=subscription_id, resource=resource, view=view)
    except PullRefused as refusal:
        return _error(refusal)
    return StreamingHttpResponse(export.chunks(), content_type="application/atom+xml")


def _check_customer_account(token: AccessToken, subscription_id: int, key: str) -> None:
    """An account the member did not choose is refused (and logged), like another subscription."""
    authorization = authorization_for(token)
    if not key.isdigit() or int(key) not in authorization.account_ids or subscription_id != authorization.pk:
        raise pull_refusal(
            403,
            "forbidden",
            f"account {key[:20]} is not part of this authorization",
            authorization=authorization,
            category=DataCategory.CONTACT,
        )


@require_GET
def batch_retail_customer(request, subscription_id: int):
    """Batch/RetailCustomer/{id}: Customer, and per authorized account CustomerAccount, CustomerAgreement
    and ServiceLocation, in one feed."""
    return _customer(request, subscription_id, f"Batch/RetailCustomer/{subscription_id}")


@require_GET
def retail_customer(request, subscription_id: int):
    return _customer(request, subscription_id, f"RetailCustomer/{subscription_id}/Customer/1", "Customer", "1")


@require_GET
def customer_account(request, subscription_id: int, account_id: str):
    return _customer(
        request,
        subscription_id,
        f"RetailCustomer/{subscription_id}/Customer/1/CustomerAccount/{account_id}",
        "CustomerAccount",
        account_id,
    )


@require_GET
def customer_agreement(request, subscription_id: int, account_id: str, agreement_id: str):
    if agreement_id != account_id:  # one agreement per account, under the account's id
        return _error(PullRefused(404, "not_found", "no such CustomerAgreement"))
    return _customer(
        request,
        subscription_id,
        f"RetailCustomer/{subscription_id}/Customer/1/CustomerAccount/{account_id}/CustomerAgreement/{account_id}",
        "CustomerAgreement",
        account_id,
    )


@require_GET
def service_location(request, subscription_id: int, account_id: str, agreement_id: str, location_id: str):
    if not agreement_id == location_id == account_id:
        return _error(PullRefused(404, "not_found", "no such ServiceLocation"))
    return _customer(
        request,
        subscription_id,
        f"RetailCustomer/{subscription_id}/Customer/1/CustomerAccount/{account_id}/CustomerAgreement/"
        f"{account_id}/ServiceLocation/{account_id}",
        "ServiceLocation",
        account_id,
    )


# --- Resources without member data ----------------------------------------------------------------


def _document(entry: str) -> HttpResponse:
    body = '<?xml version="1.0" encoding="UTF-8"?>\n' + entry.replace(
        "<entry>", f'<entry xmlns="{ATOM_NS}" xmlns:espi="{ESPI_NS}">', 1
    )
    return HttpResponse(body.encode(), content_type="application/atom+xml")


def _stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(*, href: str, up: str, kind: str, title: str, content: str) -> str:
    now = _stamp(timezone.now())
    return (
        f"<entry><id>urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, href)}</id>"
        f'<link rel="self" href="{escape(href)}" type="espi-entry/{kind}"/>'
        f'<link rel="up" href="{escape(up)}" type="espi-feed/{kind}"/>'
        f'<title>{escape(title)}</title><content type="xml">{content}</content>'
        f"<published>{now}</published><updated>{now}</updated></entry>"
    )


@require_GET
def local_time_parameters(request, parameters_id: int | None = None):
    try:
        token = _token(request)
        check_rate(token.application.client_id)
    except PullRefused as refusal:
        return _error(refusal)
    if parameters_id not in (None, 1):
        return _error(PullRefused(404, "not_found", "no such LocalTimeParameters"))
    return _document(local_time_parameters_entry(base_url=settings.SITE_URL, now=timezone.now()))


@require_GET
def application_information(request, application_id: int):
    """The third party's own registration. The client secret is never shown again (kept as a hash)."""
    try:
        token = _token(request)
        check_rate(token.application.client_id)
    except PullRefused as refusal:
        return _error(refusal)
    # Every column of the registration (the pull's token resolution reads only what a pull needs).
    third_party = ThirdParty.objects.get(pk=token.application.third_party.pk)
    if application_id != third_party.pk:
        return _error(PullRefused(403, "forbidden", "another third party's registration"))
    site = settings.SITE_URL
    uris = "".join(f"<espi:redirect_uri>{escape(uri)}</espi:redirect_uri>" for uri in third_party.redirect_uri_list)
    notify_uri = third_party.notify_uri or third_party.redirect_uri_list[0]  # where push notifications go
    content = (
        "<espi:ApplicationInformation>"
        f"<espi:dataCustodianId>{escape(settings.COOP_NAME[:64])}</espi:dataCustodianId>"
        "<espi:dataCustodianApplicationStatus>2</espi:dataCustodianApplicationStatus>"
        f"<espi:thirdPartyApplicationDescription>{escape(third_party.purpose[:256])}</espi:thirdPartyApplicationDescription>"
        f"<espi:thirdPartyNotifyUri>{escape(notify_uri)}</espi:thirdPartyNotifyUri>"
        f"<espi:authorizationServerAuthorizationEndpoint>{site}{reverse('portal:connect_authorize')}</espi:authorizationServerAuthorizationEndpoint>"
        f"<espi:authorizationServerTokenEndpoint>{site}{reverse('connect:token')}</espi:authorizationServerTokenEndpoint>"
        f"<espi:dataCustodianBulkRequestURI>{site}{RESOURCE}/Batch/Bulk</espi:dataCustodianBulkRequestURI>"
        f"<espi:dataCustodianResourceEndpoint>{site}{RESOURCE}</espi:dataCustodianResourceEndpoint>"
        "<espi:client_secret>not shown: issued once at approval, kept only as a hash</espi:client_secret>"
        f"<espi:client_name>{escape(third_party.name[:256])}</espi:client_name>"
        f"{uris}"
        f"<espi:client_id>{escape(token.application.client_id)}</espi:client_id>"
        "<espi:software_id>MemberGuard Connect My Data</espi:software_id>"
        "<espi:software_version>1</espi:software_version>"
        f"<espi:client_id_issued_at>{int(token.application.created.timestamp())}</espi:client_id_issued_at>"
        "<espi:client_secret_expires_at>0</espi:client_secret_expires_at>"
        f"<espi:contacts>{escape(third_party.contact_email)}</espi:contacts>"
        "<espi:token_endpoint_auth_method>client_secret_basic</espi:token_endpoint_auth_method>"
        f"<espi:scope>{escape(' '.join(sorted(token.application.third_party.categories)))}</espi:scope>"
        "<espi:grant_types>authorization_code</espi:grant_types><espi:grant_types>refresh_token</espi:grant_types>"
        "<espi:response_types>code</espi:response_types>"
        f"<espi:registration_client_uri>{site}{RESOURCE}/ApplicationInformation/{third_party.pk}</espi:registration_client_uri>"
        "<espi:registration_access_token>not issued: read this resource with any of the client's access tokens"
        "</espi:registration_access_token>"
        "</espi:ApplicationInformation>"
    )
    href = f"{site}{RESOURCE}/ApplicationInformation/{third_party.pk}"
    return _document(
        _entry(
            href=href,
            up=f"{site}{RESOURCE}/ApplicationInformation",
            kind="ApplicationInformation",
            title=third_party.name,
            content=content,
        )
    )


@require_GET
def authorization(request, authorization_id: int | None = None):
    """The token's own authorization: period, status, scope, and where its data is."""
    try:
        token = _token(request)
        check_rate(token.application.client_id)
        current: Authorization = authorization_for(token)
    except PullRefused as refusal:
        return _error(refusal)
    if authorization_id is not None and authorization_id != current.pk:
        return _error(PullRefused(403, "forbidden", "not this token's authorization"))
    site = settings.SITE_URL
    start = int(current.created_at.timestamp())
    data_from = int(
        datetime.combine(current.data_from, datetime.min.time(), tzinfo=timezone.get_current_timezone()).timestamp()
    )
    content = (
        "<espi:Authorization>"
        f"<espi:authorizedPeriod><espi:duration>{int(current.expires_at.timestamp()) - start}</espi:duration>"
        f"<espi:start>{start}</espi:start></espi:authorizedPeriod>"
        f"<espi:publishedPeriod><espi:duration>{int(timezone.now().timestamp()) - data_from}</espi:duration>"
        f"<espi:start>{data_from}</espi:start></espi:publishedPeriod>"
        "<espi:status>1</espi:status>"
        f"<espi:expires_at>{int(token.expires.timestamp())}</espi:expires_at>"
        "<espi:grant_type>authorization_code</espi:grant_type>"
        f"<espi:scope>{escape(current.scope[:256])}</espi:scope>"
        "<espi:token_type>Bearer</espi:token_type>"
        f"<espi:resourceURI>{site}{RESOURCE}/Batch/Subscription/{current.pk}</espi:resourceURI>"
        f"<espi:authorizationURI>{site}{RESOURCE}/Authorization/{current.pk}</espi:authorizationURI>"
        "</espi:Authorization>"
    )
    href = f"{site}{RESOURCE}/Authorization/{current.pk}"
    entry = _entry(
        href=href,
        up=f"{site}{RESOURCE}/Authorization",
        kind="Authorization",
        title=f"Authorization {current.pk}",
        content=content,
    )
    if authorization_id is not None:
        return _document(entry)
    now = _stamp(timezone.now())
    feed = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<feed xmlns="{ATOM_NS}" xmlns:espi="{ESPI_NS}"><id>urn:uuid:{uuid.uuid4()}</id>'
        f"<title>Authorizations</title><updated>{now}</updated>"
        f'<link rel="self" href="{site}{RESOURCE}/Authorization" type="espi-feed/Authorization"/>{entry}</feed>\n'
    )
    return HttpResponse(feed.encode(), content_type="application/atom+xml")
