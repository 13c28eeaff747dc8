"""Every write of Green Button Connect My Data: applications, the Privacy Officer's decisions, members'
authorizations and their end. Each write is atomic and audited in its transaction.

The OAuth side (clients, codes, tokens) is django-oauth-toolkit's; this module only creates the client
when a third party is approved and withdraws tokens when access ends. Ending access withdraws *every*
token of the pair at once (access and refresh), and keeps the SHA-256 of each (``WithdrawnToken``) so
that a later pull with one is refused and logged against the authorization it belonged to.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from oauth2_provider.models import AccessToken, Application, Grant, RefreshToken

from accounts.models import Account
from connect.models import Authorization, ThirdParty, WithdrawnToken
from connect.scopes import CONNECTABLE_CATEGORIES, scopes_for
from disclosures.models import Consent, DataCategory, NoticeText, Purpose, Recipient
from disclosures.services import (
    agreement_record,
    category_words,
    consent_grant,
    consent_revoke,
    recipient_create,
    recipient_deactivate,
    recipient_reactivate,
)
from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import Member
from members.notices.services import notice_enqueue


def _check_redirect_uris(text: str) -> list[str]:
    uris = [uri.strip() for uri in text.split() if uri.strip()]
    if not uris:
        raise ValidationError({"redirect_uris": "Give at least one redirect URI."})
    for uri in uris:
        parts = urlsplit(uri)
        loopback = False
        if parts.hostname:
            try:
                loopback = parts.hostname == "localhost" or ipaddress.ip_address(parts.hostname).is_loopback
            except ValueError:
                loopback = False
        if parts.fragment or not parts.hostname:
            raise ValidationError({"redirect_uris": f"{uri} is not an absolute URI without a fragment."})
        if parts.scheme != "https" and not (
            parts.scheme == "http" and loopback and settings.CONNECT_ALLOW_LOOPBACK_HTTP
        ):
            raise ValidationError({"redirect_uris": f"{uri} must use https."})
    return uris


def _check_notify_uri(uri: str) -> str:
    """The ESPI notification endpoint: optional, under the same rules as a redirect URI (https)."""
    if not uri.strip():
        return ""
    try:
        return _check_redirect_uris(uri.strip())[0]
    except ValidationError as error:
        raise ValidationError({"notify_uri": error.messages}) from None


def _check_categories(categories: list[str]) -> list[str]:
    chosen = sorted(set(categories))
    if not chosen:
        raise ValidationError({"categories": "Choose the data you need."})
    outside = [category for category in chosen if category not in CONNECTABLE_CATEGORIES]
    if outside:
        raise ValidationError({"categories": "Connect My Data offers usage and contact information only."})
    return chosen


@transaction.atomic
def third_party_apply(
    *,
    actor: Actor,
    name: str,
    contact_name: str,
    contact_email: str,
    purpose: str,
    redirect_uris: str,
    categories: list[str],
    frequency: str = ThirdParty.Frequency.DAILY,
    contact_phone: str = "",
    website: str = "",
    notify_uri: str = "",
) -> ThirdParty:
    """A company applies to collect members' data. Nothing is usable until the Privacy Officer approves."""
    if not name.strip() or not contact_name.strip() or not contact_email.strip() or not purpose.strip():
        raise ValidationError("Name, contact and purpose are required.")
    if ThirdParty.objects.filter(name__iexact=name.strip()).exists():
        raise ValidationError({"name": "A third party of this name has already applied."})
    if frequency not in ThirdParty.Frequency.values:
        raise ValidationError({"frequency": "Unknown frequency."})
    third_party = ThirdParty.objects.create(
        name=name.strip(),
        contact_name=contact_name.strip(),
        contact_email=contact_email.strip().lower(),
        contact_phone=contact_phone.strip(),
        website=website.strip(),
        purpose=purpose.strip(),
        redirect_uris="\n".join(_check_redirect_uris(redirect_uris)),
        notify_uri=_check_notify_uri(notify_uri),
        categories=_check_categories(categories),
        frequency=frequency,
    )
    audit_record(
        actor=actor,
        action="connect.third_party_applied",
        obj=third_party,
        fields=["name", "contact_email", "purpose", "redirect_uris", "categories"],
        actor_label="" if signed_in_user(actor) else "third-party application form",
    )
    return third_party


_APPROVAL_LINKS = ("recipient", "agreement", "application")


def _decide(third_party: ThirdParty, *, actor: Actor, status: str, note: str, at=None, also=()) -> None:
    """The Privacy Officer's decision on a third party (approve, decline, suspend, reinstate): its status,
    who decided, when and why, saved with any ``also`` fields the caller set; the caller audits it."""
    third_party.status = status
    third_party.decided_by = signed_in_user(actor)
    third_party.decided_at = at or timezone.now()
    third_party.decision_note = note
    third_party.save(update_fields=["status", "decided_by", "decided_at", "decision_note", *also])


@transaction.atomic
def third_party_approve(
    *, actor: Actor, third_party: ThirdParty, agreement_reference: str, agreement_expires_on: date, note: str = ""
) -> tuple[ThirdParty, str]:
    """Approve: the recipient, its confidentiality agreement (the categories applied for, seed 000 F.2)
    and the OAuth client. Returns the client secret, shown once and kept only as a hash."""
    third_party = ThirdParty.objects.select_for_update(no_key=True).get(pk=third_party.pk)
    if third_party.status != ThirdParty.Status.APPLIED:
        raise ValidationError(f"This application is {third_party.get_status_display().lower()}, not waiting.")
    if not agreement_reference.strip():
        raise ValidationError({"agreement_reference": "Give the reference of the signed data-access agreement."})
    today = timezone.localdate()
    recipient = recipient_create(
        actor=actor,
        name=third_party.name,
        kind=Recipient.Kind.MEMBER_DESIGNATED,
        contact_name=third_party.contact_name,
        contact_email=third_party.contact_email,
        notes=f"Green Button Connect My Data third party. Purpose: {third_party.purpose}",
    )
    agreement = agreement_record(
        actor=actor,
        recipient=recipient,
        reference=agreement_reference.strip(),
        scope=f"Green Button Connect My Data: {third_party.purpose}",
        categories=list(third_party.categories),
        signed_on=today,
        effective_from=today,
        expires_on=agreement_expires_on,
    )
    secret = secrets.token_urlsafe(40)
    application = Application.objects.create(
        name=third_party.name,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(third_party.redirect_uri_list),
        client_secret=secret,
        hash_client_secret=True,
        skip_authorization=False,
        algorithm="",
    )
    third_party.recipient = recipient
    third_party.agreement = agreement
    third_party.application = application
    _decide(third_party, actor=actor, status=ThirdParty.Status.APPROVED, note=note, also=_APPROVAL_LINKS)
    audit_record(
        actor=actor,
        action="connect.third_party_approved",
        obj=third_party,
        fields=["status", "recipient", "agreement", "application"],
        detail={"recipient_id": recipient.pk, "agreement_id": agreement.pk, "client_id": application.client_id},
    )
    return third_party, secret


@transaction.atomic
def third_party_decline(*, actor: Actor, third_party: ThirdParty, note: str) -> ThirdParty:
    third_party = ThirdParty.objects.select_for_update(no_key=True).get(pk=third_party.pk)
    if third_party.status != ThirdParty.Status.APPLIED:
        raise ValidationError("Only a waiting application can be declined.")
    if not note.strip():
        raise ValidationError({"note": "Say why, for the applicant."})
    _decide(third_party, actor=actor, status=ThirdParty.Status.DECLINED, note=note.strip())
    audit_record(actor=actor, action="connect.third_party_declined", obj=third_party, fields=["status"], reason=note)
    return third_party


@transaction.atomic
def third_party_suspend(*, actor: Actor, third_party: ThirdParty, reason: str) -> int:
    """Stop a third party at once: every token withdrawn, its client unknown to the authorization server,
    its recipient inactive (the export gate refuses it), every live authorization ended. Returns the
    number of tokens withdrawn."""
    third_party = ThirdParty.objects.select_for_update(no_key=True).get(pk=third_party.pk)
    if third_party.status != ThirdParty.Status.APPROVED:
        raise ValidationError("Only an approved third party can be suspended.")
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason (breach, complaint, contract ended)."})
    withdrawn = 0
    now = timezone.now()
    for authorization in third_party.authorizations.select_for_update(no_key=True).filter(ended_at__isnull=True):
        withdrawn += _withdraw_tokens(authorization)
        authorization.ended_at, authorization.end_reason = now, Authorization.EndReason.SUSPENDED
        authorization.save(update_fields=["ended_at", "end_reason"])
    if third_party.application_id is not None:  # tokens of no live authorization, should any be left
        withdrawn += _withdraw_application_tokens(third_party.application_id)
    _decide(third_party, actor=actor, status=ThirdParty.Status.SUSPENDED, note=reason.strip(), at=now)
    if third_party.recipient is not None and third_party.recipient.is_active:
        recipient_deactivate(
            actor=actor, recipient=third_party.recipient, reason=f"Connect My Data suspended: {reason.strip()}"
        )
    audit_record(
        actor=actor,
        action="connect.third_party_suspended",
        obj=third_party,
        fields=["status"],
        reason=reason,
        detail={"tokens_withdrawn": withdrawn},
    )
    return withdrawn


@transaction.atomic
def third_party_reinstate(*, actor: Actor, third_party: ThirdParty, reason: str) -> ThirdParty:
    """The Privacy Officer lets a suspended third party back (the breach resolved, the contract renewed):
    its client is known to the authorization server again and its recipient active, as long as its
    data-access agreement is still in force. Nothing of what the suspension ended comes back: the tokens
    stay withdrawn (a pull with one is still refused and logged) and the authorizations stay ended, so
    each member decides afresh, on the consent screen, whether to authorize it again."""
    third_party = (
        ThirdParty.objects.select_for_update(of=("self",), no_key=True)
        .select_related("agreement")
        .get(pk=third_party.pk)
    )
    if third_party.status != ThirdParty.Status.SUSPENDED:
        raise ValidationError("Only a suspended third party can be reinstated.")
    if not reason.strip():
        raise ValidationError({"reason": "Give the reason (breach resolved, contract renewed)."})
    agreement = third_party.agreement
    if agreement is None or not agreement.in_force(timezone.localdate()):
        raise ValidationError("Its data-access agreement is no longer in force: a new application is needed.")
    _decide(third_party, actor=actor, status=ThirdParty.Status.APPROVED, note=reason.strip())
    if third_party.recipient is not None and not third_party.recipient.is_active:
        recipient_reactivate(
            actor=actor, recipient=third_party.recipient, reason=f"Connect My Data reinstated: {reason.strip()}"
        )
    audit_record(
        actor=actor,
        action="connect.third_party_reinstated",
        obj=third_party,
        fields=["status"],
        reason=reason,
        detail={"authorizations_restored": 0, "members_must_reauthorize": True},
    )
    return third_party


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _withdraw(token_sha256s: list[str], authorization: Authorization | None) -> None:
    if authorization is None:
        return
    WithdrawnToken.objects.bulk_create(
        [WithdrawnToken(token_sha256=digest, authorization=authorization) for digest in token_sha256s],
        ignore_conflicts=True,
    )


def _withdraw_tokens(authorization: Authorization) -> int:
    """Every token of the member and the third party: recorded, then deleted (access, refresh, codes)."""
    application_id = authorization.third_party.application_id
    user_id = authorization.member.user_id
    if application_id is None or user_id is None:
        return 0
    access = AccessToken.objects.filter(application_id=application_id, user_id=user_id)
    refresh = RefreshToken.objects.filter(application_id=application_id, user_id=user_id)
    digests = list(access.values_list("token_checksum", flat=True))
    digests += [_sha256(token) for token in refresh.values_list("token", flat=True)]
    _withdraw(digests, authorization)
    Grant.objects.filter(application_id=application_id, user_id=user_id).delete()
    refresh.delete()
    access.delete()
    return len(digests)


def _withdraw_application_tokens(application_id: int) -> int:
    access = AccessToken.objects.filter(application_id=application_id)
    refresh = RefreshToken.objects.filter(application_id=application_id)
    count = access.count() + refresh.filter(revoked__isnull=True).count()
    Grant.objects.filter(application_id=application_id).delete()
    refresh.delete()
    access.delete()
    return count


@transaction.atomic
def authorization_grant(
    *,
    actor: Actor,
    member: Member,
    third_party: ThirdParty,
    account_numbers: list[str],
    categories: list[str],
    data_from: date,
    ends_on: date,
    notice_text: NoticeText,
    notice_shown: str,
) -> Authorization:
    """A member authorizes a third party: a written (portal) consent with the words shown, narrowed to
    the chosen accounts, categories and data period, until ``ends_on``. An earlier live authorization of
    the same third party ends (its tokens withdrawn). The member gets a notice."""
    third_party = ThirdParty.objects.select_for_update(no_key=True).get(pk=third_party.pk)
    if third_party.status != ThirdParty.Status.APPROVED or third_party.recipient is None:
        raise ValidationError("This third party is not approved by the co-op.")
    user = signed_in_user(actor)
    if member.user_id is None or user is None or user.pk != member.user_id:
        raise ValidationError("Only the member, signed in, can authorize a third party.")
    cats = sorted(set(categories))
    if not cats or not set(cats) <= set(third_party.categories):
        raise ValidationError({"categories": "Choose among the information this third party asked for."})
    accounts = list(
        Account.objects.filter(member=member, account_number__in=account_numbers).values_list("pk", flat=True)
    )
    if DataCategory.USAGE in cats and (not accounts or len(accounts) != len(set(account_numbers))):
        raise ValidationError({"accounts": "Choose one or more of your own accounts."})
    today = timezone.localdate()
    if ends_on <= today:
        raise ValidationError({"ends_on": "The end date must be in the future."})
    if ends_on > today + timedelta(days=3 * 366):
        raise ValidationError({"ends_on": "An authorization lasts at most three years; you can renew it."})
    if data_from > today or data_from < today - timedelta(days=settings.CONNECT_MAX_HISTORY_DAYS):
        raise ValidationError({"data_from": "Choose a start of history within the data the co-op keeps."})
    if notice_text.kind != NoticeText.Kind.CONNECT_MY_DATA:
        raise ValidationError("The notice shown must be the Connect My Data notice.")
    expires_at = timezone.make_aware(datetime.combine(ends_on, datetime.max.time()))
    for earlier in Authorization.objects.select_for_update(no_key=True).filter(
        member=member, third_party=third_party, ended_at__isnull=True
    ):
        _end(actor=actor, authorization=earlier, reason=Authorization.EndReason.REPLACED)
    consent = consent_grant(
        actor=actor,
        member=member,
        recipient=third_party.recipient,
        categories=cats,
        purpose=Purpose.MEMBER_DESIGNATED,
        purpose_detail=f"Green Button Connect My Data: {third_party.purpose}"[:2000],
        channel=Consent.Channel.PORTAL,
        evidence="Connect My Data authorization screen",
        expires_at=expires_at,
        notice_text=notice_text,
        notice_shown=notice_shown,
    )
    authorization = Authorization.objects.create(
        member=member,
        third_party=third_party,
        consent=consent,
        account_ids=sorted(accounts),
        categories=cats,
        scope=" ".join(scopes_for(cats)),
        data_from=data_from,
        expires_at=expires_at,
    )
    audit_record(
        actor=actor,
        action="connect.authorized",
        obj=authorization,
        fields=["account_ids", "categories", "scope", "data_from", "expires_at"],
        detail={"third_party_id": third_party.pk, "consent_id": consent.pk, "member_id": member.pk},
    )
    notice_enqueue(
        actor=actor,
        kind="connect_authorized",
        member=member,
        context={
            "third_party": third_party.name,
            "what": category_words(cats),
            "accounts": len(accounts),
            "data_from": data_from,
            "frequency": third_party.get_frequency_display(),
            "ends_on": ends_on,
            "when": timezone.now(),
        },
    )
    return authorization


def _end(*, actor: Actor, authorization: Authorization, reason: str) -> int:
    withdrawn = _withdraw_tokens(authorization)
    authorization.ended_at, authorization.end_reason = timezone.now(), reason
    authorization.save(update_fields=["ended_at", "end_reason"])
    consent = authorization.consent
    if consent.revoked_at is None:
        consent_revoke(
            actor=actor,
            consent=consent,
            channel=Consent.Channel.PORTAL,
            reason=f"Connect My Data authorization ended: {Authorization.EndReason(reason).label}",
        )
    audit_record(
        actor=actor,
        action="connect.authorization_ended",
        obj=authorization,
        fields=["ended_at", "end_reason"],
        detail={"reason": reason, "tokens_withdrawn": withdrawn},
    )
    return withdrawn


@transaction.atomic
def authorization_revoke(*, actor: Actor, authorization: Authorization) -> Authorization:
    """The member ends an authorization: tokens withdrawn now, consent revoked, record kept, notice sent."""
    authorization = (
        Authorization.objects.select_for_update(no_key=True)
        .select_related("third_party", "member")
        .get(pk=authorization.pk)
    )
    if authorization.ended_at is not None:
        raise ValidationError("This authorization has already ended.")
    _end(actor=actor, authorization=authorization, reason=Authorization.EndReason.MEMBER)
    notice_enqueue(
        actor=actor,
        kind="connect_ended",
        member=authorization.member,
        context={"third_party": authorization.third_party.name, "when": authorization.ended_at},
    )
    return authorization


# The member's list shows the last access to the minute: a pull within a minute of the last one recorded
# writes nothing (a third party collecting every few seconds does not rewrite the row each time).
TOUCH_EVERY = timedelta(minutes=1)


def authorization_touch(*, authorization: Authorization, at: datetime) -> None:
    """Last access for the member's list (a plain timestamp, not evidence: the disclosure log is, one
    entry per pull). Written only when the one on record is older than ``TOUCH_EVERY``; one statement,
    and the condition is checked again in it, so concurrent pulls never move it backwards."""
    last = authorization.last_access_at
    if last is not None and at - last < TOUCH_EVERY:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Authorization._meta.db_table} SET last_access_at = %s"  # noqa: S608 - the model's table
            " WHERE id = %s AND (last_access_at IS NULL OR last_access_at < %s)",
            [at, authorization.pk, at - TOUCH_EVERY],
        )
    authorization.last_access_at = at
