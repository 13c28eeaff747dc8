"""Reads of the disclosures app: auditor lists with filters, the member's own view, the access log.

Nothing here returns decrypted identifiers: auditors see member ids and member numbers, recipients,
categories, bases and checksums.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.dateparse import parse_date

from accounts.models import Account
from accounts.usage.selectors import monthly_totals_for_accounts
from disclosures.models import (
    MEMBER_DESIGNATABLE,
    Consent,
    DisclosureLogEntry,
    LegalBasis,
    MembershipListRequest,
    Recipient,
)
from members.models import AuditEvent, Member
from members.selectors import access_log as registry_access_log
from members.selectors import member_for_user as registry_member_for_user


def _day_start(value: str | None):
    parsed = parse_date(value or "") if value else None
    return timezone.make_aware(datetime.combine(parsed, time.min)) if parsed else None


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


NOBODY = -1  # the member id of a filter that names nobody: it filters to nothing, never to everything


def member_from_filter(value: str | None) -> int | None:
    """The member an auditor's filter names: a member number, an account number (any case) or, all digits,
    a member id. ``None`` when the filter is empty; ``NOBODY`` when it names no one (typing a member
    number into the old "Member id" box returned every row unfiltered)."""
    text = " ".join((value or "").split())
    if not text:
        return None
    spellings = sorted({text, text.upper()})
    found = Member.objects.filter(member_number__in=spellings).values_list("pk", flat=True).first()
    if found is None:
        found = Account.objects.filter(account_number__in=spellings).values_list("member_id", flat=True).first()
    if found is None and text.isdigit() and len(text) < 10:
        found = Member.objects.filter(pk=int(text)).values_list("pk", flat=True).first()
    return found if found is not None else NOBODY


def disclosure_log(*, filters: dict | None = None) -> QuerySet[DisclosureLogEntry]:
    """Filters (all optional, strings as they come from a query string): outcome, recipient, basis_kind,
    member (id), since / until (dates), q (text in basis reference or reason)."""
    filters = filters or {}
    entries = DisclosureLogEntry.objects.select_related("recipient").defer("member_ids")
    if filters.get("outcome"):
        entries = entries.filter(outcome=filters["outcome"])
    if (recipient_id := _int(filters.get("recipient"))) is not None:
        entries = entries.filter(recipient_id=recipient_id)
    if filters.get("basis_kind"):
        entries = entries.filter(basis_kind=filters["basis_kind"])
    if (member_id := member_from_filter(filters.get("member"))) is not None:
        entries = entries.filter(member_ids__contains=[member_id])
    if since := _day_start(filters.get("since")):
        entries = entries.filter(at__gte=since)
    if until := _day_start(filters.get("until")):
        entries = entries.filter(at__lt=until + timedelta(days=1))
    if filters.get("q"):
        entries = entries.filter(Q(basis_ref__icontains=filters["q"]) | Q(reason__icontains=filters["q"]))
    return entries.order_by("-seq")


def refused_attempts(*, filters: dict | None = None) -> QuerySet[DisclosureLogEntry]:
    return disclosure_log(filters={**(filters or {}), "outcome": DisclosureLogEntry.Outcome.REFUSED})


def consent_list(*, filters: dict | None = None) -> QuerySet[Consent]:
    """Filters: status (active / revoked / expired), recipient, member, channel, purpose."""
    filters = filters or {}
    now = timezone.now()
    consents = Consent.objects.select_related("recipient", "member", "recorded_by", "revoked_by").only(
        "id",
        "categories",
        "purpose",
        "channel",
        "evidence",
        "granted_at",
        "expires_at",
        "revoked_at",
        "revocation_channel",
        "recipient__name",
        "recipient__kind",
        "member__member_number",
        "recorded_by__username",
        "revoked_by__username",
    )
    status = filters.get("status")
    if status == "revoked":
        consents = consents.filter(revoked_at__isnull=False)
    elif status == "expired":
        consents = consents.filter(revoked_at__isnull=True, expires_at__lte=now)
    elif status == "active":
        consents = consents.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    if (recipient_id := _int(filters.get("recipient"))) is not None:
        consents = consents.filter(recipient_id=recipient_id)
    if (member_id := member_from_filter(filters.get("member"))) is not None:
        consents = consents.filter(member_id=member_id)
    if filters.get("channel"):
        consents = consents.filter(channel=filters["channel"])
    if filters.get("purpose"):
        consents = consents.filter(purpose=filters["purpose"])
    return consents.order_by("-granted_at", "-id")


def access_log(*, filters: dict | None = None) -> QuerySet[AuditEvent]:
    """The registry's access trail (``access.*`` audit rows), through the registry's own selector."""
    filters = filters or {}
    events = registry_access_log(
        member=member_from_filter(filters.get("member")),
        since=_day_start(filters.get("since")),
        until=(_day_start(filters.get("until")) + timedelta(days=1)) if filters.get("until") else None,
    )
    # Case-insensitive and partial: "ana" finds analyst-ana, "reveal" finds access.reveal and reveal_denied.
    if filters.get("actor"):
        events = events.filter(actor_label__icontains=filters["actor"].strip())
    if filters.get("action"):
        events = events.filter(action__icontains=filters["action"].strip())
    return events.order_by("-at", "-id")


def recipients_for_members() -> QuerySet[Recipient]:
    """Recipients a member may consent to in the portal (not contractors, not law enforcement)."""
    return Recipient.objects.filter(
        is_active=True,
        kind__in=MEMBER_DESIGNATABLE,
    ).order_by("name")


def member_for_user(user) -> Member:
    """The member record behind a portal login, or PermissionDenied (staff and strangers have none)."""
    member = registry_member_for_user(user)
    if member is None:
        raise PermissionDenied("This login is not linked to a member.")
    return member


def consents_of_member(*, member: Member) -> QuerySet[Consent]:
    return Consent.objects.filter(member=member).select_related("recipient").order_by("-granted_at", "-id")


def consent_of_member(*, member: Member, consent_id: int) -> Consent:
    """The access helper: another member's consent is a 404, never a 403 that confirms it exists."""
    return get_object_or_404(Consent.objects.select_related("recipient"), pk=consent_id, member=member)


def disclosures_to_member(*, member: Member) -> QuerySet[DisclosureLogEntry]:
    """Who received my data and when: releases naming the member, except those whose notice is withheld by
    legal order, and never refused attempts (nothing left) or auditor exports."""
    return (
        DisclosureLogEntry.objects.filter(member_ids__contains=[member.pk], notice_withheld=False)
        .exclude(outcome=DisclosureLogEntry.Outcome.REFUSED)
        .only("seq", "at", "outcome", "recipient_label", "basis_kind", "purpose", "categories", "format")
        .order_by("-seq")
    )


def usage_groups(*, start_month, end_month, group_by: str = "postal_code") -> dict[str, dict[int, int]]:
    """Delivered Wh per member, grouped by the premise's postal code (or ``"all"``), for an aggregate
    release. The result is member-level data: it only leaves through ``services.aggregate_export``,
    which checks the aggregation standard first."""
    accounts = {
        pk: (member_id, postal or "unknown")
        for pk, member_id, postal in Account.objects.filter(opened_at__isnull=False).values_list(
            "pk", "member_id", "premise__service_postal_code"
        )
    }
    groups: dict[str, dict[int, int]] = {}
    for account_id, _month, channel, wh in monthly_totals_for_accounts(
        account_ids=list(accounts), start_month=start_month, end_month=end_month
    ):
        if channel != "delivered":
            continue
        member_id, postal = accounts[account_id]
        key = postal if group_by == "postal_code" else "all"
        group = groups.setdefault(key, {})
        group[member_id] = group.get(member_id, 0) + wh
    return groups


def lapsed_consents(cutoff=None) -> QuerySet[Consent]:
    """Consents revoked or expired before ``cutoff`` (any time when None): what retention may destroy
    after the evidence period. Wired into retention's registry by config/apps.py (the apps are siblings)."""
    now = timezone.now()
    lapsed = Q(revoked_at__isnull=False) | Q(expires_at__lte=now)
    if cutoff is not None:
        lapsed = Q(revoked_at__date__lt=cutoff) | Q(revoked_at__isnull=True, expires_at__date__lt=cutoff)
    return Consent.objects.filter(lapsed)


def members_under_legal_process() -> QuerySet:
    """Members named in a legal-process basis still in force: retention holds their records."""
    bases = LegalBasis.objects.filter(
        kind=LegalBasis.Kind.LEGAL_PROCESS, revoked_at__isnull=True, valid_until__gt=timezone.now()
    )
    return Member.objects.filter(pk__in=bases.values("members")).values_list("pk", flat=True)


def releases_naming_member(*, member: Member, limit: int = 10) -> list[DisclosureLogEntry]:
    """For staff who may read the log: the latest releases naming the member, withheld notices included."""
    return list(
        DisclosureLogEntry.objects.filter(member_ids__contains=[member.pk])
        .exclude(outcome=DisclosureLogEntry.Outcome.REFUSED)
        .only("seq", "at", "outcome", "recipient_label", "basis_kind", "purpose", "categories", "notice_withheld")
        .order_by("-seq")[:limit]
    )


def membership_list_requests_of_member(*, member: Member) -> QuerySet[MembershipListRequest]:
    """A member's own membership-list requests (seed 000 G), newest first."""
    return MembershipListRequest.objects.filter(requester=member).order_by("-requested_at", "-id")
