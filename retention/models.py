"""Retention schedules, holds, four-eyes changes and the record of every destruction.

Privacy Policy D.3 keeps member information "for such periods of time as required by law or regulation
or as reasonably necessary to provide services" under the co-op's Records Retention policy; the Red
Flags program (internal procedure B.1) requires "complete and secure destruction ... including
documentation of such destruction".

- ``RetentionPolicy``: the co-op's period for one category, the *only* source of retention periods.
- ``Hold``: where something must be kept longer (litigation, an open balance, unretired capital
  credits): a record with a scope and a stated reason, placed and released by the Privacy Officer or
  by the software itself (``automatic``), never a date set as a side effect.
- ``PendingChange``: what destroys more (a shorter period, a released hold, a purge run by hand) waits
  for a second Privacy Officer, with a preview of what it would destroy.
- ``PurgeRun`` + ``DestructionCertificate`` + ``DestructionLedgerEntry``: the documentation of each
  destruction, append-only in the database (triggers), and the ledger that re-applies it to a restore.

The schedule of defaults and where each comes from is docs/retention.md.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from members.models import INSERT_ONLY, NO_DELETE


class Category(models.TextChoices):
    FORMER_MEMBER_IDENTIFIERS = "former_member_identifiers", "Identifying information of former members"
    DENIED_APPLICANT_IDENTIFIERS = "denied_applicant_identifiers", "Identifying information of denied applicants"
    INACTIVE_FINANCIAL_ACCOUNTS = "inactive_financial_accounts", "Bank accounts and card tokens no longer in use"
    VACANT_PREMISE_FIELD_NOTES = "vacant_premise_field_notes", "Gate codes and meter-reading notes of vacant premises"
    RETURNED_MAIL = "returned_mail", "Returned-mail records"
    STATEMENT_NOTICES = "statement_notices", "Statement-not-received notices"
    USAGE_INTERVALS = "usage_intervals", "Meter interval readings (monthly partitions)"
    FORMER_MEMBER_LOGINS = "former_member_logins", "Portal logins of former members whose identifiers were purged"
    CORRECTION_REQUESTS = "correction_requests", "Resolved correction and complaint requests (their texts)"
    LAPSED_CONSENTS = "lapsed_consents", "Expired and revoked consents, after their evidence period"
    BILLS = "bills", "Bills (settled or void)"
    PAYMENTS = "payments", "Payments"
    REDFLAGS_EVIDENCE = "redflags_evidence", "Red Flags evidence of assessments (aggregates kept)"


YEAR = 365
# Defaults a co-op adjusts to its Records Retention policy (General Policy No. 105 in seed 000), in days,
# and the legal minimum below which the service refuses a period. docs/retention.md gives the source
# of every number; they are defaults for the co-op's counsel to confirm, not legal advice.
DEFAULT_RETENTION_DAYS: dict[str, int] = {
    Category.FORMER_MEMBER_IDENTIFIERS: 2 * YEAR,
    Category.DENIED_APPLICANT_IDENTIFIERS: 2 * YEAR,
    Category.INACTIVE_FINANCIAL_ACCOUNTS: 90,
    Category.VACANT_PREMISE_FIELD_NOTES: YEAR,
    Category.RETURNED_MAIL: 3 * YEAR,
    Category.STATEMENT_NOTICES: 3 * YEAR,
    Category.USAGE_INTERVALS: 5 * YEAR,
    Category.FORMER_MEMBER_LOGINS: 2 * YEAR,
    Category.CORRECTION_REQUESTS: 3 * YEAR,
    Category.LAPSED_CONSENTS: 3 * YEAR,
    Category.BILLS: 7 * YEAR,
    Category.PAYMENTS: 7 * YEAR,
    Category.REDFLAGS_EVIDENCE: 5 * YEAR,
}
LEGAL_MINIMUM_DAYS: dict[str, int] = {
    Category.FORMER_MEMBER_IDENTIFIERS: 0,
    Category.DENIED_APPLICANT_IDENTIFIERS: 25 * 30,  # ECOA / Reg. B 12 CFR 1002.12(b): 25 months after notice
    Category.INACTIVE_FINANCIAL_ACCOUNTS: 0,
    Category.VACANT_PREMISE_FIELD_NOTES: 0,
    Category.RETURNED_MAIL: 0,
    Category.STATEMENT_NOTICES: 0,
    Category.USAGE_INTERVALS: 2 * YEAR,  # billing disputes: usage behind a bill stays while the bill may be disputed
    Category.FORMER_MEMBER_LOGINS: 0,
    Category.CORRECTION_REQUESTS: YEAR,
    Category.LAPSED_CONSENTS: 2 * YEAR,
    Category.BILLS: 3 * YEAR,  # IRS 26 CFR 1.6001-1(e) / IRS Pub. 583: 3 years after the return
    Category.PAYMENTS: 3 * YEAR,
    Category.REDFLAGS_EVIDENCE: 2 * YEAR,  # the program's annual review looks back over the past years
}
DEFAULT_BASIS = "Default schedule (docs/retention.md); the Privacy Officer sets it per Records Retention policy 105."


class RetentionPolicy(models.Model):
    category = models.CharField(max_length=40, choices=Category.choices, unique=True)
    retain_days = models.PositiveIntegerField()
    enabled = models.BooleanField(default=True)
    basis = models.TextField(help_text="The law, regulation or co-op policy that sets this period.")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Who approved the period now in force (a second Privacy Officer when it was shortened); empty: default.
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["category"]
        verbose_name_plural = "retention policies"
        permissions = [
            ("run_purge", "Can ask for a retention purge now"),
            ("approve_retention_change", "Can approve another Privacy Officer's retention change"),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()}: {self.retain_days} days"


class Hold(models.Model):
    """Keep something past its period, for a stated reason. Protects every category in its scope."""

    class Scope(models.TextChoices):
        MEMBER = "member", "A member (all their records)"
        ACCOUNT = "account", "An account (and its member's records)"
        CATEGORY = "category", "A category, for records dated in a range"

    class Kind(models.TextChoices):
        MANUAL = "manual", "Placed by the Privacy Officer"
        MIGRATED = "migrated", "Migrated retention date"
        OPEN_BALANCE = "open_balance", "Open balance on the account"
        REDFLAGS_REVIEW = "redflags_review", "Open Red Flags review item"
        CAPITAL_CREDITS = "capital_credits", "Unretired capital credits (TIN needed to pay and report them)"
        LEGAL_PROCESS = "legal_process", "Disclosure under legal process"

    scope = models.CharField(max_length=10, choices=Scope.choices)
    member = models.ForeignKey("members.Member", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    category = models.CharField(max_length=40, choices=Category.choices, blank=True)
    date_from = models.DateField(null=True, blank=True)
    date_to = models.DateField(null=True, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.MANUAL, db_index=True)
    reason = models.TextField()
    legal_reference = models.CharField(max_length=200, blank=True, help_text="Case number, statute, order")
    placed_at = models.DateTimeField(auto_now_add=True)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    release_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-placed_at", "-id"]
        permissions = [("place_hold", "Can place and ask to release a retention hold")]
        constraints = [
            models.CheckConstraint(condition=~models.Q(reason=""), name="retention_hold_has_reason"),
            models.CheckConstraint(
                condition=(
                    models.Q(scope="member", member__isnull=False, account__isnull=True)
                    | models.Q(scope="account", account__isnull=False, member__isnull=True)
                    | models.Q(scope="category", member__isnull=True, account__isnull=True, date_from__isnull=False)
                    & ~models.Q(category="")
                ),
                name="retention_hold_scope_matches",
            ),
        ]
        indexes = [
            models.Index(
                fields=["scope", "member"], name="retention_hold_member_idx", condition=models.Q(released_at=None)
            ),
            models.Index(
                fields=["scope", "account"], name="retention_hold_account_idx", condition=models.Q(released_at=None)
            ),
        ]

    def __str__(self) -> str:
        target = {
            self.Scope.MEMBER: f"member #{self.member_id}",
            self.Scope.ACCOUNT: f"account #{self.account_id}",
            self.Scope.CATEGORY: f"{self.category} {self.date_from}..{self.date_to or ''}",
        }[self.Scope(self.scope)]
        return f"Hold on {target}: {self.reason[:60]}"

    @property
    def is_active(self) -> bool:
        return self.released_at is None


class PendingChange(models.Model):
    """A change that destroys more, waiting for a second Privacy Officer."""

    class Kind(models.TextChoices):
        SHORTEN_PERIOD = "shorten_period", "Shorten (or enable) a retention period"
        RELEASE_HOLD = "release_hold", "Release a hold"
        MANUAL_PURGE = "manual_purge", "Run a purge by hand"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved and applied"
        REJECTED = "rejected", "Rejected"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    category = models.CharField(max_length=40, choices=Category.choices, blank=True)
    hold = models.ForeignKey(Hold, null=True, blank=True, on_delete=models.PROTECT, related_name="changes")
    retain_days = models.PositiveIntegerField(null=True, blank=True)
    enabled = models.BooleanField(null=True, blank=True)
    basis = models.TextField(blank=True)
    reason = models.TextField()
    # {"categories": {category: {"count": n, "oldest": "yyyy-mm-dd" | None}}}, computed when asked.
    preview = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decision_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(reason=""), name="retention_change_has_reason"),
            models.CheckConstraint(
                condition=models.Q(decided_by__isnull=True) | ~models.Q(decided_by=models.F("requested_by")),
                name="retention_change_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.category} ({self.get_status_display()})"


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
    # Who allowed this destruction: the approver of a hand-run purge, else the approver of the period.
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    change = models.ForeignKey(PendingChange, null=True, blank=True, on_delete=models.PROTECT, related_name="runs")
    # SHA-256 over the destroyed ids, in the order destroyed (one per line, "<object_type>:<id>").
    digest = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["category"], condition=models.Q(status="running"), name="retention_one_running_run"
            )
        ]
        triggers = [
            # The record of a destruction is written while it runs and frozen once it ends.
            pgtrigger.Protect(
                name="purgerun_append_only",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status__in=["done", "failed"]),
            ),
            pgtrigger.Protect(name="purgerun_no_delete", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"{self.category} {self.started_at:%Y-%m-%d} ({self.records_destroyed})"


class DestructionCertificate(models.Model):
    """What a finished run destroyed, as issued (append-only). Rendered as CSV and PDF by the admin."""

    append_only = INSERT_ONLY  # the runtime role may only INSERT and SELECT (config/db_roles.py)

    run = models.OneToOneField(PurgeRun, on_delete=models.PROTECT, related_name="certificate")
    number = models.CharField(max_length=30, unique=True)
    category = models.CharField(max_length=40, choices=Category.choices)
    cutoff = models.DateField()
    records_destroyed = models.PositiveIntegerField()
    digest = models.CharField(max_length=64)
    method = models.CharField(max_length=200)
    approved_by_label = models.CharField(max_length=150)
    approved_at = models.DateTimeField(null=True, blank=True)
    triggered_by_label = models.CharField(max_length=150)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    issued_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-issued_at"]
        triggers = [pgtrigger.Protect(name="certificate_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"Certificate {self.number}"


class DestructionLedgerEntry(models.Model):
    """One destroyed record, by blind digest (never its id in clear), for re-applying to a restore."""

    append_only = INSERT_ONLY

    run = models.ForeignKey(PurgeRun, on_delete=models.PROTECT, related_name="+")
    category = models.CharField(max_length=40, choices=Category.choices)
    digest = models.CharField(max_length=32)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "destruction ledger entries"
        # No index on (category, digest): nothing looks a digest up (re-application reads the whole ledger
        # into a set), and a random 32-hex-digit key made every destroyed record a random B-tree insert,
        # the purge's most expensive statement (perfa, docs/benchmarks.md).
        triggers = [pgtrigger.Protect(name="ledger_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.category} {self.digest}"


class HeldMeterDay(models.Model):
    """Interval readings of held meters, copied out of a monthly partition before it is dropped.

    Same columns as ``usage_meter_day`` (accounts/usage/models.py). Kept while a hold covers the meter;
    the next usage purge destroys the rows of meters no longer held once they are past the period.
    """

    pk = models.CompositePrimaryKey("meter_id", "day", "channel", "interval_minutes")
    meter_id = models.IntegerField()
    day = models.DateField()
    channel = models.SmallIntegerField()
    interval_minutes = models.SmallIntegerField()
    total_wh = models.IntegerField()
    vals = ArrayField(models.IntegerField(null=True))
    quality = models.TextField(null=True)  # noqa: DJ001  (as in usage_meter_day: NULL means all actual)
    held_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "retention_held_meter_day"

    def __str__(self) -> str:
        return f"held meter {self.meter_id} {self.day}"
