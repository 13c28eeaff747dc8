"""Retention schedules and the record of every purge.

Privacy Policy D.3 keeps member information "for such periods of time as required by law or regulation
or as reasonably necessary to provide services" under the co-op's Records Retention policy; the Red
Flags program (internal procedure B.1) requires "complete and secure destruction ... including
documentation of such destruction". A ``RetentionPolicy`` row is the co-op's schedule for one category;
a ``PurgeRun`` is the documentation of one destruction, and each batch it destroyed also leaves an
immutable ``AuditEvent`` with the ids it touched (never the values).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from members.models import NO_DELETE


class Category(models.TextChoices):
    FORMER_MEMBER_IDENTIFIERS = "former_member_identifiers", "Identifying information of former members"
    DENIED_APPLICANT_IDENTIFIERS = "denied_applicant_identifiers", "Identifying information of denied applicants"
    INACTIVE_FINANCIAL_ACCOUNTS = "inactive_financial_accounts", "Bank accounts and card tokens no longer in use"
    VACANT_PREMISE_FIELD_NOTES = "vacant_premise_field_notes", "Gate codes and meter-reading notes of vacant premises"
    RETURNED_MAIL = "returned_mail", "Returned-mail records"
    STATEMENT_NOTICES = "statement_notices", "Statement-not-received notices"
    USAGE_INTERVALS = "usage_intervals", "Meter interval readings (monthly partitions)"


# Defaults a co-op adjusts to its Records Retention policy (No. 105 in the seed). Days.
DEFAULT_RETENTION_DAYS: dict[str, int] = {
    Category.FORMER_MEMBER_IDENTIFIERS: 2 * 365,
    Category.DENIED_APPLICANT_IDENTIFIERS: 2 * 365,
    Category.INACTIVE_FINANCIAL_ACCOUNTS: 90,
    Category.VACANT_PREMISE_FIELD_NOTES: 365,
    Category.RETURNED_MAIL: 3 * 365,
    Category.STATEMENT_NOTICES: 3 * 365,
    Category.USAGE_INTERVALS: 5 * 365,
}


class RetentionPolicy(models.Model):
    category = models.CharField(max_length=40, choices=Category.choices, unique=True)
    retain_days = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    basis = models.TextField(help_text="The law, regulation or co-op policy that sets this period.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["category"]
        verbose_name_plural = "retention policies"
        permissions = [("run_purge", "Can run a retention purge now")]

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {self.retain_days} days"


class PurgeRun(models.Model):
    # A run's status is updated in place while it runs; no role may delete a run (config/db_roles.py).
    append_only = NO_DELETE

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    category = models.CharField(max_length=40, choices=Category.choices, db_index=True)
    cutoff = models.DateField(help_text="Records older than this were destroyed.")
    retain_days = models.PositiveIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    records_destroyed = models.PositiveIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    method = models.CharField(max_length=200, help_text="How the records were destroyed.")
    error = models.CharField(max_length=200, blank=True)
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.category} {self.started_at:%Y-%m-%d} ({self.records_destroyed})"
