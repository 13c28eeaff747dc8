from __future__ import annotations

from django.conf import settings
from django.db import models

from members.fields import EncryptedTextField
from members.models import Member


class CorrectionRequest(models.Model):
    """A member asks the co-op to correct a record it keeps about them (Privacy Policy B.2).

    Contact details the member changes directly in the portal; records that need the co-op to check
    evidence (legal name, date of birth, identifiers, billing, capital credits) come here for staff.
    The requested value may itself be sensitive, so it is stored encrypted and shown to staff only.
    """

    class Topic(models.TextChoices):
        LEGAL_NAME = "legal_name", "Legal name"
        DATE_OF_BIRTH = "date_of_birth", "Date of birth"
        IDENTIFIERS = "identifiers", "SSN, driver's licence or other identification"
        BILLING = "billing", "Bills, payments or payment history"
        CAPITAL_CREDITS = "capital_credits", "Capital credits / patronage"
        SERVICE = "service", "Service history or premises"
        OTHER = "other", "Something else"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CORRECTED = "corrected", "Corrected"
        DECLINED = "declined", "Declined (with explanation)"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="correction_requests")
    topic = models.CharField(max_length=20, choices=Topic.choices)
    requested_correction = EncryptedTextField()
    explanation = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-submitted_at"]

    def __str__(self) -> str:
        return f"{self.member.member_number}: {self.get_topic_display()} ({self.get_status_display()})"


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
