from __future__ import annotations

import datetime

from accounts.usage import selectors
from accounts.usage.models import MeterMonth
from accounts.usage.services import usage_rollups_rebuild
from tests.factories import MeterFactory, OpenAccountFactory
from tests.usage.conftest import OPENED, csv_bytes, day_lines

OCT = [datetime.date(2026, 10, day) for day in range(1, 32)]


def _month_lines(number, channel="delivered", value=10):
    lines = []
    for day in OCT:
        lines += day_lines(number, day, [value] * 96, channel=channel)
    return lines


def _rollups():
    return sorted(
        MeterMonth.objects.values_list(
            "meter_id",
            "month",
            "channel",
            "interval_minutes",
            "total_wh",
            "days_with_data",
            "intervals_estimated",
            "intervals_missing",
        )
    )


def test_rollups_kept_during_ingest_equal_a_rebuild_from_the_day_rows_after_corrections(meter, ingest):
    lines = _month_lines(meter.meter_number)
    ingest(csv_bytes(lines[: 96 * 10]))
    ingest(csv_bytes(lines[96 * 5 :]))  # overlaps 5 days already loaded
    fixes = [
        lines[0].replace(",10,actual,", ",55,edited,"),
        lines[200].replace(",10,actual,", ",,missing,"),
        lines[300].replace(",10,actual,", ",12,estimated,"),
    ]
    ingest(csv_bytes(fixes))
    kept = _rollups()
    assert kept[0][4:] == (31 * 960 + 45 - 10 + 2, 31, 1, 1)

    usage_rollups_rebuild(month=datetime.date(2026, 10, 1))

    assert _rollups() == kept


def test_daily_and_monthly_reads_give_the_accounts_totals(account, meter, ingest):
    ingest(csv_bytes(_month_lines(meter.meter_number)))
    days = selectors.daily_totals_for_account(account=account, first_day=OCT[0], last_day=OCT[-1])
    assert len(days) == 31 and {d.wh for d in days} == {960} and days[0].channel == "delivered"
    (month,) = selectors.monthly_totals_for_account(account=account, start_month=OCT[0], end_month=OCT[0])
    assert (month.month, month.wh, month.days_with_data) == (OCT[0], 31 * 960, 31)


def test_usage_for_account_picks_the_granularity_for_the_period(account, meter, ingest):
    ingest(csv_bytes(_month_lines(meter.meter_number)))
    assert selectors.usage_for_account(account=account, period="day", day=OCT[3])["granularity"] == "interval"
    month = selectors.usage_for_account(account=account, period="month", day=OCT[3])
    assert month["granularity"] == "day" and len(month["points"]) == 31
    year = selectors.usage_for_account(account=account, period="year", day=OCT[3])
    assert year["granularity"] == "day" and [m["wh"] for m in year["months"]] == [31 * 960]
    long_range = selectors.usage_for_account(
        account=account, period="range", first_day=datetime.date(2025, 1, 1), last_day=OCT[-1]
    )
    assert long_range["granularity"] == "month"


def test_an_account_never_sees_usage_from_before_it_opened(meter, ingest):
    ingest(csv_bytes(_month_lines(meter.meter_number)))
    newcomer = OpenAccountFactory(
        premise=meter.premise, opened_at=datetime.datetime(2026, 10, 16, 5, tzinfo=datetime.UTC)
    )
    days = selectors.daily_totals_for_account(account=newcomer, first_day=OCT[0], last_day=OCT[-1])
    assert [d.day for d in days] == OCT[15:]
    (month,) = selectors.monthly_totals_for_account(account=newcomer, start_month=OCT[0], end_month=OCT[0])
    assert month.wh == 16 * 960
    readings = list(selectors.interval_readings_for_account(account=newcomer, start=OCT[0], end=OCT[-1]))
    assert readings[0][0] == datetime.datetime(2026, 10, 16, 5, tzinfo=datetime.UTC)


def test_interval_readings_stream_in_time_order_interleaving_channels(db, ingest):
    solar = MeterFactory(meter_number="MTR-S-0009", has_solar=True)
    account = OpenAccountFactory(premise=solar.premise, opened_at=OPENED)
    ingest(csv_bytes(_month_lines(solar.meter_number, "received", 3)[:192] + _month_lines(solar.meter_number)[:192]))
    stream = selectors.interval_readings_for_account(account=account, start=OCT[0], end=OCT[2])
    first_four = [next(stream) for _ in range(4)]
    assert [r[4] for r in first_four] == ["delivered", "received", "delivered", "received"]
    assert first_four[0][:4] == (datetime.datetime(2026, 10, 1, 5, tzinfo=datetime.UTC), 900, 10, "actual")
    assert len(list(stream)) == 4 * 96 - 4


def test_monthly_totals_for_accounts_serves_aggregation_reports(account, meter, ingest):
    other = MeterFactory()
    other_account = OpenAccountFactory(premise=other.premise, opened_at=OPENED)
    never_opened = OpenAccountFactory(premise=other.premise, opened_at=None)
    ingest(csv_bytes(_month_lines(meter.meter_number) + _month_lines(other.meter_number, value=20)))
    rows = list(
        selectors.monthly_totals_for_accounts(
            account_ids=[account.pk, other_account.pk, never_opened.pk], start_month=OCT[0], end_month=OCT[-1]
        )
    )
    assert rows == [(account.pk, OCT[0], "delivered", 31 * 960), (other_account.pk, OCT[0], "delivered", 31 * 1920)]


def test_a_pending_account_sees_no_usage(meter, ingest):
    ingest(csv_bytes(_month_lines(meter.meter_number)[:96]))
    pending = OpenAccountFactory(premise=meter.premise, opened_at=None)
    assert list(selectors.interval_readings_for_account(account=pending, start=OCT[0], end=OCT[1])) == []
    assert selectors.daily_totals_for_account(account=pending, first_day=OCT[0], last_day=OCT[1]) == []
