"""Issue 19: everything MemberGuard writes stays valid against the strict ESPI 3.3 schema, for every
reading type it now holds, and reads back through the tolerant reader with no warning and the same total."""

from __future__ import annotations

import datetime

from accounts.usage import timegrid
from accounts.usage.espi import espi_validate
from accounts.usage.espi_read import parse_espi
from accounts.usage.models import MeterDay
from accounts.usage.usage_points import UsagePointResolver
from tests.usage.gb_build import MeterReadingSpec, Reading, UsagePointSpec, build_feed

SPRING, FALL = datetime.date(2026, 3, 8), datetime.date(2026, 11, 1)


def _readings(day, minutes, value=7):
    return [
        Reading(int(timegrid.slot_start_utc(day, minutes, slot).timestamp()), value, duration=minutes * 60)
        for slot in range(timegrid.slots_in_day(day, minutes))
    ]


def test_the_members_download_of_every_interval_length_is_strict_espi_and_reads_back_the_same(
    client, make_user, account, ingest
):
    meter = account.premise.meters.first()
    owner = make_user("gb-owner", is_staff=False)
    account.member.user = owner
    account.member.save(update_fields=["user"])
    days = {5: SPRING, 30: FALL, 720: SPRING + datetime.timedelta(days=1), 1440: FALL + datetime.timedelta(days=1)}
    for minutes, day in days.items():
        spec = MeterReadingSpec([_readings(day, minutes)], interval=minutes * 60)
        batch = ingest(build_feed([UsagePointSpec("1", title=meter.meter_number, meter_readings=[spec])]))
        assert batch.bad_row_count == 0 and batch.readings_not_loaded == 0, batch.bad_rows[:3]
    stored = sum(MeterDay.objects.filter(meter_id=meter.pk).values_list("total_wh", flat=True))

    client.force_login(owner)
    response = client.get(
        f"/api/usage/accounts/{account.pk}/greenbutton.xml", {"first_day": "2026-03-01", "last_day": "2026-11-30"}
    )
    document = b"".join(response.streaming_content)
    assert response.status_code == 200 and espi_validate(document) == []

    MeterDay.objects.all().delete()  # read it back as if another utility had sent it
    resolver = UsagePointResolver(meters={}, mappings={("usage_point_id", "1"): meter.pk})
    parsed = parse_espi(document, {}, resolver)
    assert parsed.warning_count == 0 and parsed.bad_row_count == 0 and parsed.readings_not_loaded == 0
    assert sum(v for values, _flags in parsed.groups.values() for v in values if v) == stored
    assert parsed.readings == sum(timegrid.slots_in_day(day, minutes) for minutes, day in days.items())
