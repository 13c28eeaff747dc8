from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone

from members.fields import EncryptedTextField
from members.models import AuditEvent, DisagreementStatement, Member


def default_due_on() -> dt.date:
    """A request is due an answer ``CORRECTION_DUE_DAYS`` after the day it arrives."""
    return timezone.localdate() + dt.timedelta(days=settings.CORRECTION_DUE_DAYS)


class CorrectionRequest(models.Model):
    """A member asks the co-op to correct a record it keeps about them, or complains about how their
    information was handled (Privacy Policy B.2; seed 001's complaint process).

    Contact details the member changes directly in the portal; records that need the co-op to check
    evidence (legal name, date of birth, identifiers, billing, capital credits) come here for staff.
    The requested value may itself be sensitive, so it is stored encrypted and shown to staff only.

    Its life: received -> in review -> corrected (linked to the audit row of the registry change that
    settled it) or declined with a reason -> disputed, when the member files a statement of
    disagreement, which the registry keeps with the member's record (members.DisagreementStatement).
    Each request is due an answer ``CORRECTION_DUE_DAYS`` after it arrives; the member is told of each
    outcome (members/notices).
    """

    class Kind(models.TextChoices):
        CORRECTION = "correction", "Correction request"
        COMPLAINT = "complaint", "Complaint"

    class Topic(models.TextChoices):
        LEGAL_NAME = "legal_name", "Legal name"
        DATE_OF_BIRTH = "date_of_birth", "Date of birth"
        IDENTIFIERS = "identifiers", "SSN, driver's licence or other identification"
        BILLING = "billing", "Bills, payments or payment history"
        CAPITAL_CREDITS = "capital_credits", "Capital credits / patronage"
        SERVICE = "service", "Service history or premises"
        PRIVACY = "privacy", "How my information was used or shared"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        IN_REVIEW = "in_review", "In review"
        CORRECTED = "corrected", "Corrected"
        DECLINED = "declined", "Declined (with reason)"
        DISPUTED = "disputed", "Disputed (your statement is on file)"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="correction_requests")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.CORRECTION, db_index=True)
    topic = models.CharField(max_length=20, choices=Topic.choices)
    requested_correction = EncryptedTextField()
    explanation = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_on = models.DateField(default=default_due_on, db_index=True, help_text="An answer is due by this day")
    review_started_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    # The audit row of the registry change that made the correction (members services wrote it).
    settled_by = models.ForeignKey(
        AuditEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name="settled by change"
    )
    statement = models.OneToOneField(
        DisagreementStatement,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="correction_request",
        verbose_name="statement of disagreement",
    )

    class Meta:
        ordering = ["-submitted_at"]
        permissions = [
            (
                "file_statement_for_member",
                "Can file a member's statement of disagreement on their behalf (given by phone or letter)",
            ),
        ]

    OPEN_STATUSES = (Status.RECEIVED, Status.IN_REVIEW)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk}: {self.get_topic_display()} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class Enrollment(models.Model):
    """A member's self-enrollment for online access: the login stays inactive until the e-mail given is
    verified. The record says which account was proven, from where, and when it was verified."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="enrollments")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="enrollment")
    account = models.ForeignKey("accounts.Account", on_delete=models.PROTECT, related_name="+")
    # Which proofs matched (names only: "service_zip", "ssn_last4", "last_bill_amount"), never values.
    proofs = models.JSONField(default=list)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return (
            f"Online access enrollment of {self.member.member_number} ({'verified' if self.verified_at else 'pending'})"
        )
