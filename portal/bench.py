"""Portal benchmarks (issue 14): the home page and the usage page of signed-in members.

``portal_load_sessions`` builds the members (each with a login, an open account, a meter, a year of
bills, and 15-minute readings from the usage store's bench loader) and returns one signed-in session per
member with the two pages it reads; ``config/loadtest.py`` drives them at a fixed arrival rate against
gunicorn (the open-loop figures ``portal.home_ms_p95``, ``portal.usage_page_ms_p95``,
``portal.errors`` and ``portal.max_rps_p95_under_100ms``; the portal cannot import the harness, which is
in the layer above it).

``bench_portal_pages`` here is the in-process figure (Django's test client, one request at a time, no
network): what one page costs the server alone, the floor the open-loop p95 stands on.

Scale: the issue asks for members drawn from 10,000 with a year of 15-minute data. ``PORTAL_BENCH_MEMBERS``
and ``PORTAL_BENCH_DAYS`` set it (defaults 10,000 and 365; quick: 100 and 35): loading a year for
10,000 meters goes through the real ingest path and takes a long time on a small machine.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.test import Client

from accounts.models import Account, Bill, Meter, Premise
from members.bench import percentile
from members.models import Member, User
from portal.bench_full_copy import bench_full_copy

PREFIX = "PORTALBENCH"


def _scale(quick: bool) -> tuple[int, int]:
    members = int(os.environ.get("PORTAL_BENCH_MEMBERS", 100 if quick else 10_000))
    days = int(os.environ.get("PORTAL_BENCH_DAYS", 35 if quick else 365))
    return members, days


def _members(count: int, last_day: date) -> list[Member]:
    """``count`` members with a login, an open account, a meter and a bill per 30 days (idempotent)."""
    have = Member.objects.filter(member_number__startswith=PREFIX).count()
    with transaction.atomic():
        for start in range(have, count, 1_000):
            indexes = range(start, min(count, start + 1_000))
            users = User.objects.bulk_create(User(username=f"portal-bench-{i}") for i in indexes)
            premises = Premise.objects.bulk_create(
                Premise(
                    premise_number=f"PBP{i:07d}",
                    service_line1=f"{i} Bench Rd",
                    service_city="Benchville",
                    service_state="IL",
                    service_postal_code="62700",
                )
                for i in indexes
            )
            Meter.objects.bulk_create(
                Meter(meter_number=f"{PREFIX}-{i:07d}", premise=premise)
                for i, premise in zip(indexes, premises, strict=True)
            )
            members = Member.objects.bulk_create(
                Member(member_number=f"{PREFIX}{i:07d}", legal_name=f"Bench Member {i}", status="active", user=user)
                for i, user in zip(indexes, users, strict=True)
            )
            accounts = Account.objects.bulk_create(
                Account(
                    account_number=f"PBA{i:07d}",
                    member=member,
                    premise=premise,
                    status="open",
                    opened_at=datetime(2000, 1, 1, tzinfo=UTC),
                )
                for i, member, premise in zip(indexes, members, premises, strict=True)
            )
            Bill.objects.bulk_create(
                Bill(
                    account=account,
                    statement_number=f"PBS{account.pk:08d}{n:02d}",
                    period_start=last_day - timedelta(days=30 * n + 29),
                    period_end=last_day - timedelta(days=30 * n),
                    issued_on=last_day - timedelta(days=30 * n - 2),
                    due_on=last_day - timedelta(days=30 * n - 22),
                    kwh=Decimal(900),
                    amount_due=Decimal("142.80"),
                    status=Bill.Status.OPEN if n == 0 else Bill.Status.PAID,
                )
                for account in accounts
                for n in range(12)
            )
    return list(Member.objects.filter(member_number__startswith=PREFIX).select_related("user")[:count])


def _readings(members: int, first_day: date, days: int) -> None:
    """15-minute readings for every bench meter over ``days`` days, through the real ingest path."""
    from accounts.usage.bench import _day_file
    from accounts.usage.models import MeterDay
    from accounts.usage.services import meter_ids_by_number, usage_ingest_file, usage_partitions_ensure

    usage_partitions_ensure(months_ahead=1)
    meters = [(f"{PREFIX}-{i:07d}", False) for i in range(members)]
    lookup = meter_ids_by_number()
    loaded = set(
        MeterDay.objects.filter(meter_id=lookup[meters[-1][0]], day__gte=first_day).values_list("day", flat=True)
    )
    rng = random.Random(14)  # noqa: S311 - synthetic data
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        if day not in loaded:
            data = _day_file(day, meters, rng)
            usage_ingest_file(data=data, source="bench", filename=f"portal-{day}.csv", meters=lookup)


def portal_load_sessions(*, quick: bool, session_cookie) -> dict[str, list[dict]]:
    """Signed-in sessions for the two portal scenarios, {"portal.home": [...], "portal.usage_page": [...]}.

    ``session_cookie(user)`` makes a signed-in session (the harness's, which knows the sign-in's marks)."""
    count, days = _scale(quick)
    yesterday = date.today() - timedelta(days=1)  # noqa: DTZ011 - the bench data's own calendar
    members = _members(count, yesterday)
    _readings(count, yesterday - timedelta(days=days - 1), days)
    home, usage = [], []
    for member in members:
        cookie = session_cookie(member.user)
        number = f"PBA{int(member.member_number[len(PREFIX) :]):07d}"
        home.append({"cookie": cookie, "paths": ["/portal/"]})
        usage.append({"cookie": cookie, "paths": [f"/portal/accounts/{number}/usage/"]})
    return {"portal.home": home, "portal.usage_page": usage}


def bench_portal_pages(quick: bool = False) -> dict[str, float]:
    """In-process p50/p95 of the home and usage pages (one request at a time, no network, no gunicorn)."""
    sessions = portal_load_sessions(quick=quick, session_cookie=lambda user: user)
    results: dict[str, float] = {}
    rng = random.Random(3)  # noqa: S311
    for name, entries in sessions.items():
        client, timings = Client(), []
        for _ in range(60 if quick else 300):
            entry = rng.choice(entries)
            client.force_login(entry["cookie"])
            started = time.perf_counter()
            response = client.get(entry["paths"][0])
            timings.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{entry['paths'][0]} answered {response.status_code}")
        results[f"{name}_inprocess_ms_p50"] = statistics.median(timings)
        results[f"{name}_inprocess_ms_p95"] = percentile(timings, 95)
    return results


# The full copy's benchmark lives beside this one (portal/bench_full_copy.py): its own data, its own clean-up.
BENCHMARKS = [bench_portal_pages, bench_full_copy]
