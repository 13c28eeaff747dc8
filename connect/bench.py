"""Benchmarks of Green Button Connect My Data (issue 17), through the whole HTTP stack in-process
(Django's test client: middleware, the bearer check, the export gate, the chained log, the stream).

- ``cmd.subscription_year_ms_p95`` (floor: ≤ 300): one meter's year of 15-minute data (35,040 readings)
  as a Batch/Subscription feed, read to the last byte; p95 of 20 pulls.
- ``cmd.pulls_per_s`` (floor: ≥ 50): daily-delta pulls (published-min = 24 hours ago) across 1,000
  authorizations of 10 third parties, one after another, each a logged, chained release.

Runs only against a database whose name contains "bench". The data it creates stays: consents and the
disclosure log are append-only by design, so a benchmark cannot take its releases back.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets
import statistics
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import AccessToken

from accounts.models import Account, Meter, Premise
from accounts.usage import timegrid
from accounts.usage.parsers import CSV_HEADER
from accounts.usage.services import usage_ingest_file, usage_partitions_ensure
from connect import services
from connect.models import Authorization
from connect.scopes import ESPI_USAGE
from disclosures.models import Consent, DataCategory, DisclosureLogEntry, NoticeText, Purpose, text_sha256
from disclosures.services import notice_text_current
from members.models import Member

AUTHORIZATIONS = 1_000
THIRD_PARTIES = 10


def _guard() -> bool:
    return "bench" in connection.settings_dict["NAME"]


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) >= 2 else values[0]


def _csv(meter_numbers: list[str], days: list[datetime.date]) -> bytes:
    zone = timegrid.local_zone()
    parts = [",".join(CSV_HEADER) + "\n"]
    for day in days:
        slots = timegrid.slots_in_day(day, 15)
        starts = [timegrid.slot_start_utc(day, 15, slot).astimezone(zone).isoformat() for slot in range(slots)]
        for number in meter_numbers:
            parts.append(
                "".join(f"{number},{start},900,{100 + i % 90},actual,delivered\n" for i, start in enumerate(starts))
            )
    return "".join(parts).encode()


def _third_party(stamp: str, index: int):
    third_party = services.third_party_apply(
        actor=None,
        name=f"Bench app {stamp}-{index}",
        contact_name="Bench",
        contact_email="bench@example.test",
        purpose="benchmark",
        redirect_uris="https://bench.example/callback",
        categories=[DataCategory.USAGE],
    )
    approved, _ = services.third_party_approve(
        actor=None,
        third_party=third_party,
        agreement_reference=f"BENCH-{stamp}-{index}",
        agreement_expires_on=timezone.localdate() + datetime.timedelta(days=365),
    )
    return approved


def _members_with_tokens(
    stamp: str, count: int, third_parties: list, days_back: int
) -> tuple[list[tuple[str, int]], list[str]]:
    """``count`` members, each with a login, an account and meter, a portal consent and an authorization
    of one of ``third_parties``, and a live access token. Rows written in bulk: the benchmark measures
    pulls, not sign-ups. Returns (access token, authorization id)."""
    User = get_user_model()
    notice = notice_text_current(NoticeText.Kind.CONNECT_MY_DATA)
    words = "bench authorization"
    now = timezone.now()
    expires = now + datetime.timedelta(days=365)
    with transaction.atomic():
        users = User.objects.bulk_create(User(username=f"cmd-{stamp}-{i}") for i in range(count))
        members = Member.objects.bulk_create(
            Member(member_number=f"C{stamp[-7:]}{i:05d}", legal_name=f"Bench {i}", status="active", user=user)
            for i, user in enumerate(users)
        )
        premises = Premise.objects.bulk_create(
            Premise(
                premise_number=f"CP{stamp[-7:]}{i:05d}",
                service_line1=f"{i} Bench Rd",
                service_city="B",
                service_state="IL",
                service_postal_code="62700",
            )
            for i in range(count)
        )
        meters = Meter.objects.bulk_create(
            Meter(meter_number=f"CM{stamp[-7:]}{i:05d}", premise=premise) for i, premise in enumerate(premises)
        )
        accounts = Account.objects.bulk_create(
            Account(
                account_number=f"CA{stamp[-7:]}{i:05d}",
                member=member,
                premise=premise,
                status="open",
                opened_at=now - datetime.timedelta(days=800),
            )
            for i, (member, premise) in enumerate(zip(members, premises, strict=True))
        )
        consents = Consent.objects.bulk_create(
            Consent(
                member=member,
                recipient=third_parties[i % len(third_parties)].recipient,
                categories=[DataCategory.USAGE],
                purpose=Purpose.MEMBER_DESIGNATED,
                channel="portal",
                granted_at=now,
                expires_at=expires,
                notice_text=notice,
                notice_shown=words,
                notice_sha256=text_sha256(words),
            )
            for i, member in enumerate(members)
        )
        authorizations = Authorization.objects.bulk_create(
            Authorization(
                member=member,
                third_party=third_parties[i % len(third_parties)],
                consent=consent,
                account_ids=[account.pk],
                categories=[DataCategory.USAGE],
                scope=ESPI_USAGE,
                data_from=timezone.localdate() - datetime.timedelta(days=days_back),
                expires_at=expires,
            )
            for i, (member, consent, account) in enumerate(zip(members, consents, accounts, strict=True))
        )
        tokens = [secrets.token_urlsafe(30) for _ in range(count)]
        AccessToken.objects.bulk_create(
            AccessToken(
                user=user,
                application=third_parties[i % len(third_parties)].application,
                token=token,
                token_checksum=hashlib.sha256(token.encode()).hexdigest(),
                expires=now + datetime.timedelta(hours=2),
                scope=ESPI_USAGE,
            )
            for i, (user, token) in enumerate(zip(users, tokens, strict=True))
        )
    return [(token, authorization.pk) for token, authorization in zip(tokens, authorizations, strict=True)], [
        meter.meter_number for meter in meters
    ]


def _client() -> Client:
    host = next((h for h in settings.ALLOWED_HOSTS if h not in ("*", "")), "localhost")
    return Client(HTTP_HOST=host.lstrip("."))


def bench_subscription_year(quick: bool = False) -> dict[str, float]:
    if not _guard():
        print("connect bench skipped: the database name must contain 'bench'")  # noqa: T201
        return {}
    stamp = timezone.now().strftime("%y%m%d%H%M%S")
    today = timezone.localdate()
    days = [today - datetime.timedelta(days=offset) for offset in range(365, 0, -1)]
    usage_partitions_ensure(months_ahead=14, today=days[0])
    third_party = _third_party(stamp + "y", 0)
    pairs, meters = _members_with_tokens(stamp + "y", 1, [third_party], days_back=366)
    batch = usage_ingest_file(data=_csv(meters, days), source="bench", filename=f"cmd-year-{stamp}.csv")
    if batch.status != "loaded" or batch.bad_row_count:
        raise RuntimeError(f"year of readings not loaded: {batch.rejection_reason}")
    token, authorization_id = pairs[0]
    client = _client()
    url = f"/espi/1_1/resource/Batch/Subscription/{authorization_id}"
    b"".join(client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}").streaming_content)  # warm-up: imports
    timings, cpu = [], []
    for _ in range(5 if quick else 20):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        body = b"".join(response.streaming_content)
        timings.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        if response.status_code != 200 or body.count(b"<espi:IntervalReading>") < 365 * 92:
            raise RuntimeError(f"year pull failed: {response.status_code}")
    return {
        "cmd.subscription_year_ms_p95": round(_p95(timings), 1),
        # This process's own CPU (Django, the gate, the writer), without PostgreSQL's or waiting for a core.
        "cmd.subscription_year_cpu_ms_p95": round(_p95(cpu), 1),
        "cmd.subscription_year_readings": body.count(b"<espi:IntervalReading>"),
        "cmd.subscription_year_load_average_1m": round(os.getloadavg()[0], 1),
    }


def bench_daily_pulls(quick: bool = False) -> dict[str, float]:
    if not _guard():
        return {}
    count = 200 if quick else AUTHORIZATIONS
    stamp = timezone.now().strftime("%y%m%d%H%M%S")
    today = timezone.localdate()
    usage_partitions_ensure(today=today - datetime.timedelta(days=2))
    third_parties = [_third_party(stamp + "d", index) for index in range(THIRD_PARTIES)]
    pairs, meters = _members_with_tokens(stamp + "d", count, third_parties, days_back=30)
    batch = usage_ingest_file(
        data=_csv(meters, [today - datetime.timedelta(days=1)]), source="bench", filename=f"cmd-day-{stamp}.csv"
    )
    if batch.status != "loaded" or batch.bad_row_count:
        raise RuntimeError(f"daily readings not loaded: {batch.rejection_reason}")
    client = _client()
    since = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    before = DisclosureLogEntry.objects.filter(outcome="released").count()
    started, cpu_started = time.perf_counter(), time.process_time()
    for token, authorization_id in pairs:
        response = client.get(
            f"/espi/1_1/resource/Batch/Subscription/{authorization_id}",
            {"published-min": since},
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        body = b"".join(response.streaming_content)
        if response.status_code != 200 or b"<espi:IntervalReading>" not in body:
            raise RuntimeError(f"daily pull failed: {response.status_code}")
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    logged = DisclosureLogEntry.objects.filter(outcome="released").count() - before
    if logged != count:
        raise RuntimeError(f"{count} pulls but {logged} log entries")
    return {
        "cmd.pulls_per_s": round(count / elapsed, 1),
        # This process's own CPU per pull (Django, the gate, the writer), without PostgreSQL's.
        "cmd.pulls_per_cpu_s": round(count / cpu, 1),
        "cmd.pulls_logged": logged,
        "cmd.pulls_load_average_1m": round(os.getloadavg()[0], 1),
    }


BENCHMARKS = [bench_subscription_year, bench_daily_pulls]
