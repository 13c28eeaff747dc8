"""Red Flags cases (issue 16 item 6): the program's "database to track past Red Flags" as case work.

Every queued assessment (a ``ReviewItem``: the alert) joins the member's one open ``Case``; a case has
an inbox (the role that works it), an assignee, a status (open, in review, escalated, resolved), a due
date from ``ProgramSettings.case_due_days`` and, once overdue, is escalated to the Program
Administrator by a periodic task. Notes, acknowledgements of the "Red Flag Exists" warning and
attachments (Fernet-encrypted at rest with the project's keys) hang off the case; a resolution carries
a label (confirmed identity theft / false positive) that feeds each rule's precision in the annual
review. Snoozes of a noisy rule are asked by the Program Administrator and take effect only once a
different person approves them (``DualApproval``), as does releasing a held opening.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Case(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_REVIEW = "in_review", "In review"
        ESCALATED = "escalated", "Escalated to the Program Administrator"
        RESOLVED = "resolved", "Resolved"

    class Inbox(models.TextChoices):
        ANALYST = "analyst", "Red Flag Analyst"
        PROGRAM_ADMINISTRATOR = "program_administrator", "Program Administrator"

    class Label(models.TextChoices):
        CONFIRMED = "confirmed", "Confirmed identity theft (or attempt)"
        FALSE_POSITIVE = "false_positive", "False positive"

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    inbox = models.CharField(max_length=24, choices=Inbox.choices, default=Inbox.ANALYST)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField()
    escalated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    label = models.CharField(max_length=16, choices=Label.choices, blank=True)
    resolution = models.TextField(blank=True)
    program_version = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["due_at", "id"]
        permissions = [
            ("work_case", "Work Red Flags cases: assign, review, note, resolve"),
            ("view_unverified_members", "See members with an account but no identity verification on record"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["member"], condition=~models.Q(status="resolved"), name="redflags_case_one_open_per_member"
            ),
        ]
        indexes = [
            # The inbox: open cases of one inbox by due date (partial: resolved cases never appear).
            models.Index(
                fields=["inbox", "due_at", "id"], condition=~models.Q(status="resolved"), name="case_inbox_idx"
            ),
            models.Index(
                fields=["assignee", "due_at"], condition=~models.Q(status="resolved"), name="case_assignee_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"Case #{self.pk} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.RESOLVED


class CaseAlert(models.Model):
    """A queued assessment (review item) that joined a case."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="alerts")
    review_item = models.OneToOneField("redflags.ReviewItem", on_delete=models.PROTECT, related_name="case_alert")
    joined_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Alert {self.review_item_id} on case {self.case_id}"


class CaseNote(models.Model):
    """What happened on a case, by whom: notes, acknowledgements of the warning, assignment, status."""

    class Kind(models.TextChoices):
        NOTE = "note", "Note"
        ACKNOWLEDGEMENT = "acknowledgement", '"Red Flag Exists" warning acknowledged'
        ASSIGNMENT = "assignment", "Assignment"
        STATUS = "status", "Status change"
        ESCALATION = "escalation", "Escalation"
        APPROVAL = "approval", "Second approval"

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="notes")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NOTE)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(default=timezone.now)
    text = models.TextField()
    action = models.CharField(max_length=32, blank=True, help_text="the guarded action acknowledged")

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on case {self.case_id}"


class CaseAttachment(models.Model):
    """A document on a case. The content is Fernet ciphertext (members.crypto keys); never served inline."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments")
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    ciphertext = models.BinaryField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.size} bytes)"


class RuleSnooze(models.Model):
    """A noisy rule silenced until ``expires_at``: it still records its flags but queues nothing."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting a second approver"
        ACTIVE = "active", "Active"
        ENDED = "ended", "Ended"

    rule = models.ForeignKey("redflags.Rule", on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("snooze_rule", "Ask for and approve rule snoozes (Program Administrator)")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("requested_by")),
                name="redflags_snooze_second_approver",
            ),
        ]

    def __str__(self) -> str:
        return f"Snooze of rule {self.rule_id} until {self.expires_at:%Y-%m-%d}"


class HoldReleaseRequest(models.Model):
    """A held opening's release, asked by one person and carried out only when another approves."""

    review_item = models.ForeignKey("redflags.ReviewItem", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    notes = models.TextField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("requested_by")),
                name="redflags_release_second_approver",
            ),
            models.UniqueConstraint(
                fields=["review_item"],
                condition=models.Q(approved_by__isnull=True),
                name="redflags_release_one_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"Release of review item {self.review_item_id}"


class AccessAnomaly(models.Model):
    """C8 from the access log: one staff member's unusual access in one scan window (access_scan.py)."""

    class Kind(models.TextChoices):
        VOLUME = "volume", "Far more records than the role's norm"
        NO_OPEN_WORK = "no_open_work", "Records viewed or revealed with no open work"

    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    role = models.CharField(max_length=150, blank=True)
    records = models.PositiveIntegerField(help_text="distinct member records viewed or revealed in the window")
    role_norm = models.FloatField(null=True, blank=True)
    member_ids = models.JSONField(default=list, blank=True, help_text="records with no open work (never values)")
    detected_at = models.DateTimeField(default=timezone.now)
    parameters = models.JSONField(default=dict, blank=True, help_text="the C8 rule version's thresholds used")
    rule_version = models.ForeignKey("redflags.RuleVersion", null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-detected_at", "-id"]
        verbose_name = "unusual record access"
        verbose_name_plural = "unusual record access"
        constraints = [
            models.UniqueConstraint(fields=["staff", "kind", "window_start"], name="redflags_access_anomaly_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.records} records"


class AccessDailyCount(models.Model):
    """Distinct records each staff member accessed per day: the role norms' baseline, kept by the scan."""

    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    role = models.CharField(max_length=150, blank=True)
    records = models.PositiveIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["staff", "day"], name="redflags_access_daily_once")]
        indexes = [models.Index(fields=["role", "day"], name="access_daily_role_idx")]

    def __str__(self) -> str:
        return f"{self.staff_id} {self.day}: {self.records}"
