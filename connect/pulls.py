"""A third party's pull of a member's data: checked against the authorization at the moment of the pull,
trimmed to it, released through THE export gate (``disclosures.services.disclosure_export``), which logs
one chained entry per pull with the resource and period; refused and logged when not covered.

Order of checks, each refusal on the disclosure log (``log_refusal``) with the reason:
the token (unknown / expired / withdrawn), the rate limit, the authorization still in force, the
Subscription it names, the scope, the period asked for (inside the authorization's data period), then
the gate's own checks (recipient active, consent in force, categories).
"""

from __future__ import annotations

import functools
import hashlib
import time as time_module
from dataclasses import dataclass
from datetime import datetime, time

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.utils import timezone
from oauth2_provider.models import AccessToken

from accounts.usage.espi import EspiView
from accounts.usage.espi_customer import CustomerView
from connect.models import Authorization, ThirdParty, WithdrawnToken
from connect.scopes import ESPI_USAGE, RETAIL_CUSTOMER
from connect.selectors import token_grant
from connect.services import authorization_touch
from disclosures.models import Consent, DataCategory, Purpose
from disclosures.services import DisclosureRefused, Export, disclosure_export, log_refusal


class PullRefused(Exception):
    """Refused (and logged): ``status`` and ``error`` say how to answer (OAuth bearer or ESPI)."""

    def __init__(self, status: int, error: str, description: str, *, retry_after: int | None = None):
        super().__init__(description)
        self.status, self.error, self.description, self.retry_after = status, error, description, retry_after


@dataclass(frozen=True)
class Pull:
    resource: str  # e.g. "Batch/Subscription/12"
    subscription_id: int
    view: EspiView
    published_min: datetime | None
    published_max: datetime | None


def pull_refusal(
    status: int,
    error: str,
    description: str,
    *,
    authorization: Authorization | None = None,
    third_party: ThirdParty | None = None,
    retry_after: int | None = None,
    category: str = DataCategory.USAGE,
) -> PullRefused:
    third_party = third_party or (authorization.third_party if authorization else None)
    log_refusal(
        actor=None,
        recipient=third_party.recipient if third_party else None,
        basis=authorization.consent if authorization else None,
        categories=[category],
        purpose=Purpose.MEMBER_DESIGNATED,
        member_ids=[authorization.member_id] if authorization else [],
        format="espi",
        reason=f"Connect My Data pull refused ({error}): {description}",
    )
    return PullRefused(status, error, description, retry_after=retry_after)


def token_for(bearer: str) -> AccessToken | None:
    """The live access token, or None. Expired or withdrawn tokens are refused (and logged) by
    ``refuse_bad_token``. One query resolves the token, its third party and the member's authorization
    (``connect.selectors.token_grant``); the authorization rides on the token for the rest of the request."""
    digest = hashlib.sha256(bearer.encode("utf-8")).hexdigest()
    grant = token_grant(token_sha256=digest)
    if grant is None:
        return None
    token, authorization = grant
    if token.is_expired():
        return None
    setattr(token, _RESOLVED, authorization)
    return token


def refuse_bad_token(bearer: str | None) -> PullRefused:
    """Why a bearer token is not good, logged against its authorization when it can be traced."""
    if not bearer:
        return PullRefused(401, "invalid_request", "an access token is required")
    digest = hashlib.sha256(bearer.encode("utf-8")).hexdigest()
    withdrawn = WithdrawnToken.objects.select_related("authorization__third_party__recipient").filter(
        token_sha256=digest
    )
    record = withdrawn.first()
    if record is not None:
        return pull_refusal(
            401,
            "invalid_token",
            "the access token was withdrawn: the authorization ended",
            authorization=record.authorization,
        )
    expired = AccessToken.objects.select_related("application__third_party").filter(token_checksum=digest).first()
    if expired is not None:
        third_party = getattr(expired.application, "third_party", None)
        authorization = _live_authorization(expired)
        return pull_refusal(
            401, "invalid_token", "the access token expired", authorization=authorization, third_party=third_party
        )
    return pull_refusal(401, "invalid_token", "unknown access token")


# The attribute a resolved token carries its authorization under (None: the member has none in force).
_RESOLVED = "_connect_authorization"


def _live_authorization(token: AccessToken) -> Authorization | None:
    if hasattr(token, _RESOLVED):
        return getattr(token, _RESOLVED)
    third_party = getattr(token.application, "third_party", None)
    if third_party is None or token.user_id is None:
        return None
    return (
        Authorization.objects.select_related("third_party__recipient", "consent")
        .filter(third_party=third_party, member__user_id=token.user_id, ended_at__isnull=True)
        .first()
    )


@functools.cache
def _redis() -> redis.Redis:
    """One client per process (the cache backend builds a new one per call, a few hundred microseconds)."""
    return redis.Redis.from_url(str(settings.REDIS_URL))


def check_rate(client_id: str) -> None:
    """At most ``CONNECT_PULLS_PER_MINUTE`` pulls per client per minute: a Redis counter per minute,
    counted and given its expiry in one round trip."""
    now = time_module.time()
    key = f"connect:pulls:{client_id}:{int(now // 60)}"
    pipeline = _redis().pipeline(transaction=False)
    pipeline.incr(key)
    pipeline.expire(key, 120)
    count, _ = pipeline.execute()
    if count > settings.CONNECT_PULLS_PER_MINUTE:
        raise PullRefused(429, "rate_limited", "too many requests from this client", retry_after=60 - int(now % 60))


def authorization_for(token: AccessToken) -> Authorization:
    """The authorization a live token stands for, in force now, or refused (logged)."""
    third_party = getattr(token.application, "third_party", None)
    authorization = _live_authorization(token)
    if authorization is None or not authorization.in_force():
        raise pull_refusal(
            403,
            "authorization_ended",
            "the member's authorization is no longer in force",
            authorization=authorization,
            third_party=third_party,
        )
    return authorization


def _consent_of(authorization: Authorization) -> Consent:
    """The authorization's consent, by id when not read yet: the gate reads it afresh anyway."""
    if Authorization.consent.is_cached(authorization):
        return authorization.consent
    return Consent.from_db(DEFAULT_DB_ALIAS, ["id"], [authorization.consent_id])


def usage_pull(*, token: AccessToken, pull: Pull) -> Export:
    """Release the usage the pull asks for, or raise ``PullRefused`` (already logged)."""
    check_rate(token.application.client_id)
    authorization = authorization_for(token)
    if pull.subscription_id != authorization.pk:
        raise pull_refusal(
            403,
            "forbidden",
            f"Subscription {pull.subscription_id} is not this token's authorization",
            authorization=authorization,
        )
    if ESPI_USAGE not in token.scope.split() or ESPI_USAGE not in authorization.scope.split():
        raise pull_refusal(
            403, "insufficient_scope", "the token's scope does not include usage", authorization=authorization
        )
    earliest = timezone.make_aware(datetime.combine(authorization.data_from, time.min))
    now = timezone.now()
    start = pull.published_min or earliest
    end = pull.published_max or now
    if start < earliest:
        raise pull_refusal(
            403,
            "period_not_authorized",
            f"data before {authorization.data_from:%Y-%m-%d} is outside the member's authorization",
            authorization=authorization,
        )
    if end <= start:
        raise pull_refusal(
            400, "invalid_request", "published-max must be after published-min", authorization=authorization
        )
    end = min(end, now)
    try:
        export = disclosure_export(
            actor=None,
            recipient=authorization.third_party.recipient,
            categories=[DataCategory.USAGE],
            purpose=Purpose.MEMBER_DESIGNATED,
            basis=_consent_of(authorization),
            member_ids=[authorization.member_id],
            format="espi",
            usage_start=start,
            usage_end=end,
            account_ids=authorization.account_ids,
            espi_view=pull.view,
            note=(
                f"Connect My Data pull {pull.resource} (authorization {authorization.pk}), "
                f"period {start:%Y-%m-%dT%H:%M:%S%z} to {end:%Y-%m-%dT%H:%M:%S%z}"
            ),
            notify=False,
            # In the release's transaction: no commit of its own, and only a completed pull counts.
            on_release=lambda: authorization_touch(authorization=authorization, at=now),
        )
    except DisclosureRefused as refusal:
        raise PullRefused(403, "forbidden", refusal.reason) from None
    return export


def customer_pull(*, token: AccessToken, subscription_id: int, resource: str, view: CustomerView) -> Export:
    """Release the member's RetailCustomer data (name, mailing address, phone, e-mail; the authorized
    accounts' numbers and service addresses) or raise ``PullRefused`` (already logged). Only with the
    RetailCustomer scope, on the token and on the authorization, and the contact category in the
    member's consent; the gate releases the contact category's fields and nothing else."""
    check_rate(token.application.client_id)
    authorization = authorization_for(token)
    contact = DataCategory.CONTACT
    if subscription_id != authorization.pk:
        raise pull_refusal(
            403,
            "forbidden",
            f"RetailCustomer {subscription_id} is not this token's authorization",
            authorization=authorization,
            category=contact,
        )
    scopes = token.scope.split()
    if RETAIL_CUSTOMER not in scopes or RETAIL_CUSTOMER not in authorization.scope.split():
        raise pull_refusal(
            403,
            "insufficient_scope",
            "the token's scope does not include RetailCustomer",
            authorization=authorization,
            category=contact,
        )
    now = timezone.now()
    try:
        return disclosure_export(
            actor=None,
            recipient=authorization.third_party.recipient,
            categories=[contact],
            purpose=Purpose.MEMBER_DESIGNATED,
            basis=_consent_of(authorization),
            member_ids=[authorization.member_id],
            format="espi_cust",
            account_ids=authorization.account_ids,
            espi_view=view,
            note=f"Connect My Data pull {resource} (authorization {authorization.pk})",
            notify=False,
            on_release=lambda: authorization_touch(authorization=authorization, at=now),
        )
    except DisclosureRefused as refusal:
        raise PullRefused(403, "forbidden", refusal.reason) from None
