"""Meter interval data: one row per meter x local day x channel x interval length.

Fifteen-minute readings for 100,000 meters over five years are about 17 billion values, so a row per
reading (~87 bytes each) is out of the question. ``usage_meter_day`` holds a whole local day of one
channel in an ``integer[]`` of watt-hours plus a one-character-per-interval quality string that is
NULL when every interval is an actual read (the common case), and the day's total. The table is
RANGE-partitioned by month on ``day`` (created in migration 0001 with raw SQL because Django cannot
declare partitioned tables); ``MeterDay`` below is an unmanaged model over it for reads only. All
writes go through ``accounts.usage.loader`` (COPY + one merge) and ``accounts.usage.services``.

Usage data reveals when a household sleeps, leaves and comes home (seed 000, A.3): every read path
goes through ``selectors.py`` and the API access helper, and staff reads are audited.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower

CHANNEL_DELIVERED = 1
CHANNEL_RECEIVED = 2
CHANNEL_NAMES = {CHANNEL_DELIVERED: "delivered", CHANNEL_RECEIVED: "received"}

# Quality characters stored per interval (NULL quality string = all actual).
QUALITY_ACTUAL = "A"
QUALITY_ESTIMATED = "E"
QUALITY_MISSING = "M"
QUALITY_EDITED = "D"
QUALITY_NAMES = {
    QUALITY_ACTUAL: "actual",
    QUALITY_ESTIMATED: "estimated",
    QUALITY_MISSING: "missing",
    QUALITY_EDITED: "edited",
}


class MeterDay(models.Model):
    """Read-only view of the partitioned ``usage_meter_day`` table (see the module docstring)."""

    pk = models.CompositePrimaryKey("meter_id", "day", "channel", "interval_minutes")
    meter_id = models.IntegerField()  # int4 keeps the row at 448 bytes: 18 rows per 8 kB page instead of 17
    day = models.DateField()
    channel = models.SmallIntegerField()
    interval_minutes = models.SmallIntegerField()
    total_wh = models.IntegerField()
    vals = ArrayField(models.IntegerField(null=True))
    quality = models.TextField(null=True)  # noqa: DJ001  (NULL means "every interval actual", distinct from "")

    class Meta:
        managed = False
        db_table = "usage_meter_day"

    def __str__(self) -> str:
        return f"meter {self.meter_id} {self.day} channel {self.channel} every {self.interval_minutes} min"


class MeterMonth(models.Model):
    """Monthly rollup per meter, channel and interval length, updated by each ingest with the difference it made."""

    # No separate index on meter: the unique constraint below starts with it.
    meter = models.ForeignKey("accounts.Meter", on_delete=models.PROTECT, related_name="+", db_index=False)
    month = models.DateField(help_text="First day of the month (local calendar).")
    channel = models.SmallIntegerField()
    interval_minutes = models.SmallIntegerField()
    total_wh = models.BigIntegerField()
    days_with_data = models.SmallIntegerField()
    intervals_estimated = models.IntegerField(default=0)
    intervals_missing = models.IntegerField(default=0)

    class Meta:
        db_table = "usage_meter_month"
        constraints = [
            models.UniqueConstraint(
                fields=["meter", "month", "channel", "interval_minutes"], name="usage_month_unique"
            ),
        ]
        indexes = [models.Index(fields=["month"], name="usage_month_month_idx")]

    def __str__(self) -> str:
        return f"meter {self.meter_id} {self.month:%Y-%m} channel {self.channel}: {self.total_wh} Wh"


class IngestBatch(models.Model):
    """One file received from the meter data management system: who sent it, what it did, what was wrong."""

    class Status(models.TextChoices):
        LOADED = "loaded", "Loaded"
        REJECTED = "rejected", "Rejected (nothing loaded)"

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=20, help_text="api, command, demo or bench")
    filename = models.CharField(max_length=255, blank=True)
    sha256 = models.CharField(max_length=64, db_index=True)
    file_format = models.CharField(max_length=10, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    rejection_reason = models.TextField(blank=True)
    readings_received = models.IntegerField(default=0)
    meter_days_inserted = models.IntegerField(default=0)
    meter_days_changed = models.IntegerField(default=0)
    meter_days_unchanged = models.IntegerField(default=0)
    corrections = models.IntegerField(default=0)
    bad_row_count = models.IntegerField(default=0)
    # The first BAD_ROWS_KEPT bad rows as {"line": n, "reason": "..."}; bad_row_count is always the full count.
    bad_rows = models.JSONField(default=list, blank=True)
    # Accepted deviations (Green Button envelope details, ignored summaries ...), one per distinct reason:
    # {"line": first line, "reason", "count", "lines": the first 20}; warning_count counts every occurrence.
    warning_count = models.IntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    # Readings read but not loaded (an unknown UsagePoint, a reading type the store cannot hold), per
    # MeterReading: {"line", "usage_point": {identifiers}, "reason", "readings"}.
    readings_not_loaded = models.IntegerField(default=0)
    not_loaded = models.JSONField(default=list, blank=True)
    elapsed_ms = models.IntegerField(default=0)

    class Meta:
        db_table = "usage_ingest_batch"
        verbose_name = "meter-reading file"
        verbose_name_plural = "meter-reading files"
        ordering = ["-received_at", "-id"]
        permissions = [
            ("ingest_readings", "Can send meter reading files (MDMS integration)"),
            ("view_account_usage", "Can view any account's meter usage"),
            ("manage_usage_point_mappings", "Can maintain which meter each Green Button UsagePoint is (usage admin)"),
        ]

    def __str__(self) -> str:
        return f"{self.filename or 'upload'} ({self.status}, {self.readings_received} readings)"


class Correction(models.Model):
    """One interval whose value or quality changed because a later file corrected it."""

    batch = models.ForeignKey(IngestBatch, on_delete=models.PROTECT, related_name="correction_rows")
    meter = models.ForeignKey("accounts.Meter", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    channel = models.SmallIntegerField()
    interval_minutes = models.SmallIntegerField()
    slot = models.SmallIntegerField(
        help_text="Index of the interval within the local day (0 = starting at local midnight)."
    )
    old_value_wh = models.IntegerField(null=True)
    new_value_wh = models.IntegerField(null=True)
    old_quality = models.CharField(max_length=1)
    new_quality = models.CharField(max_length=1)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "usage_correction"
        indexes = [models.Index(fields=["meter", "day"], name="usage_correction_meter_day")]

    def __str__(self) -> str:
        return f"meter {self.meter_id} {self.day} slot {self.slot}: {self.old_value_wh} -> {self.new_value_wh}"


class UsagePointMapping(models.Model):
    """The co-op's word on which meter a Green Button UsagePoint is (accounts/usage/usage_points.py).

    One identifier of one kind names one meter; a meter may have several (a new MDMS, a renamed title).
    """

    class Kind(models.TextChoices):
        SDP = "sdp", "Service delivery point name or number"
        USAGE_POINT_ID = "usage_point_id", "UsagePoint id (last segment of its self link)"
        TITLE = "title", "UsagePoint title"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.CharField(max_length=256, help_text="Matched ignoring case and surrounding spaces.")
    meter = models.ForeignKey("accounts.Meter", on_delete=models.PROTECT, related_name="usage_point_mappings")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "usage_point_mapping"
        ordering = ["kind", "value"]
        constraints = [
            models.UniqueConstraint("kind", Lower("value"), name="usage_point_mapping_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.value!r} -> meter {self.meter_id}"
