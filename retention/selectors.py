"""Reads of retention: what holds protect, what a purge would destroy (the four-eyes preview)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Min, Q, QuerySet
from django.utils import timezone

from accounts.models import Account, Meter
from accounts.usage.services import usage_partitions
from members.models import Member
from retention.models import Category, HeldMeterDay, Hold, PendingChange, RetentionPolicy
from retention.registry import PURGEABLES, Purgeable


def active_holds(*, exclude_hold: int | None = None) -> QuerySet[Hold]:
    holds = Hold.objects.filter(released_at=None)
    return holds.exclude(pk=exclude_hold) if exclude_hold else holds


def held_member_ids(*, exclude_hold: int | None = None) -> QuerySet:
    """Members held directly, or through a held account (an account's records name its member)."""
    holds = active_holds(exclude_hold=exclude_hold)
    return Member.objects.filter(
        Q(pk__in=holds.filter(scope=Hold.Scope.MEMBER).values("member_id"))
        | Q(accounts__in=holds.filter(scope=Hold.Scope.ACCOUNT).values("account_id"))
    ).values("pk")


def held_account_ids(*, exclude_hold: int | None = None) -> QuerySet:
    holds = active_holds(exclude_hold=exclude_hold)
    return Account.objects.filter(
        Q(pk__in=holds.filter(scope=Hold.Scope.ACCOUNT).values("account_id"))
        | Q(member_id__in=holds.filter(scope=Hold.Scope.MEMBER).values("member_id"))
    ).values("pk")


def held_meter_ids(*, exclude_hold: int | None = None) -> list[int]:
    """Meters at the premises of held accounts: their interval readings are held too."""
    accounts = Account.objects.filter(pk__in=held_account_ids(exclude_hold=exclude_hold), premise__isnull=False)
    return list(Meter.objects.filter(premise__in=accounts.values("premise_id")).values_list("pk", flat=True))


def held_ranges(category: str, *, exclude_hold: int | None = None) -> list[tuple[dt.date, dt.date]]:
    holds = active_holds(exclude_hold=exclude_hold).filter(scope=Hold.Scope.CATEGORY, category=category)
    return [(hold.date_from or dt.date.min, hold.date_to or dt.date.max) for hold in holds]


def candidates(purgeable: Purgeable, cutoff: dt.date | None, *, exclude_hold: int | None = None) -> QuerySet:
    """What a purge of the category at ``cutoff`` destroys: past the period, not yet destroyed, not held.

    Holds are excluded as four small anti-joins (held members, members of held accounts, held accounts,
    accounts of held members), each read through an index from the few hold rows. ``held_member_ids()``
    (members joined to every account) was a scan of both tables in every batch of every category."""
    queryset = purgeable.pending(cutoff)
    holds = active_holds(exclude_hold=exclude_hold)
    member_holds = holds.filter(scope=Hold.Scope.MEMBER, member__isnull=False).values("member_id")
    account_holds = holds.filter(scope=Hold.Scope.ACCOUNT, account__isnull=False).values("account_id")
    if purgeable.member_field:
        members_of_held_accounts = Account.objects.filter(pk__in=account_holds, member_id__isnull=False).values(
            "member_id"
        )
        queryset = queryset.exclude(**{f"{purgeable.member_field}__in": member_holds})
        queryset = queryset.exclude(**{f"{purgeable.member_field}__in": members_of_held_accounts})
    if purgeable.account_field:
        accounts_of_held_members = Account.objects.filter(member_id__in=member_holds).values("pk")
        queryset = queryset.exclude(**{f"{purgeable.account_field}__in": account_holds})
        queryset = queryset.exclude(**{f"{purgeable.account_field}__in": accounts_of_held_members})
    for start, end in held_ranges(purgeable.category, exclude_hold=exclude_hold):
        queryset = queryset.exclude(**{f"{purgeable.date_field}__range": (start, end)})
    return queryset


def cutoff_for(retain_days: int, *, now: dt.datetime | None = None) -> dt.date:
    return timezone.localdate(now or timezone.now()) - dt.timedelta(days=retain_days)


def _as_date(value) -> str | None:
    if value is None:
        return None
    return (value.date() if isinstance(value, dt.datetime) else value).isoformat()


def preview_category(category: str, cutoff: dt.date, *, hold: Hold | None = None) -> dict:
    """Count and oldest date of what would go: at ``cutoff``, or (``hold``) what only that hold protects."""
    if category == Category.USAGE_INTERVALS:
        return usage_preview(cutoff, hold=hold)
    purgeable = PURGEABLES[category]
    queryset = candidates(purgeable, cutoff, exclude_hold=hold.pk if hold else None)
    if hold is not None:
        under = _only_under(queryset, purgeable, hold)
        if under is None:
            return {"count": 0, "oldest": None}
        queryset = under
    queryset = queryset.order_by()
    return {
        "count": queryset.values("pk").distinct().count(),
        "oldest": _as_date(queryset.aggregate(oldest=Min(purgeable.date_field))["oldest"]),
    }


def _only_under(queryset: QuerySet, purgeable: Purgeable, hold: Hold) -> QuerySet | None:
    if hold.scope == Hold.Scope.CATEGORY:
        if hold.category != purgeable.category:
            return None
        return queryset.filter(**{f"{purgeable.date_field}__range": (hold.date_from, hold.date_to or dt.date.max)})
    if hold.scope == Hold.Scope.MEMBER and hold.member_id is not None:
        member_ids = [hold.member_id]
    else:
        member_ids = list(Account.objects.filter(pk=hold.account_id or 0).values_list("member_id", flat=True))
    account_ids = list(Account.objects.filter(member_id__in=member_ids).values_list("pk", flat=True))
    scope = Q()
    if purgeable.member_field:
        scope |= Q(**{f"{purgeable.member_field}__in": member_ids})
    if purgeable.account_field:
        scope |= Q(**{f"{purgeable.account_field}__in": account_ids})
    return queryset.filter(scope) if scope else None


def preview_policy(category: str, retain_days: int) -> dict:
    return {"categories": {category: preview_category(category, cutoff_for(retain_days))}}


def preview_all(*, hold: Hold | None = None, only: str = "") -> dict:
    """Per category with a policy: what a run now (or the release of ``hold``) would destroy."""
    policies = RetentionPolicy.objects.filter(enabled=True)
    if only:
        policies = policies.filter(category=only)
    return {
        "categories": {
            policy.category: preview_category(policy.category, cutoff_for(policy.retain_days), hold=hold)
            for policy in policies
            if policy.category in PURGEABLES or policy.category == Category.USAGE_INTERVALS
        }
    }


def usage_preview(cutoff: dt.date, *, hold: Hold | None = None) -> dict:
    """Whole months before the cutoff's month go (estimated meter-days); a hold's preview counts the
    held copies of its meters' readings (retention_held_meter_day) that its release would let go."""
    month = cutoff.replace(day=1)
    if hold is None:
        doomed = [partition for partition in usage_partitions() if partition.month < month]
        return {
            "count": sum(partition.estimated_rows for partition in doomed),
            "oldest": doomed[0].month.isoformat() if doomed else None,
        }
    still_held = set(held_meter_ids(exclude_hold=hold.pk))
    released = [pk for pk in held_meter_ids() if pk not in still_held]
    rows = HeldMeterDay.objects.filter(meter_id__in=released, day__lt=month)
    return {"count": rows.count(), "oldest": _as_date(rows.aggregate(oldest=Min("day"))["oldest"])}


def holds_of_member(member: Member) -> QuerySet[Hold]:
    accounts = Account.objects.filter(member=member).values("pk")
    return Hold.objects.filter(Q(member=member) | Q(account__in=accounts)).select_related("placed_by", "released_by")


def pending_changes() -> QuerySet[PendingChange]:
    return PendingChange.objects.filter(status=PendingChange.Status.PENDING)
