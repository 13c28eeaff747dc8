"""The outbox: one ``Notice`` row per message to one address, written in the same transaction as the
change that causes it, so a change never commits without its notice and a rolled-back change sends
nothing. Delivery is a state machine moved only by conditional UPDATEs (members/notices/delivery.py):

    queued -> sending (claimed, with a lease) -> sent
                 |-> queued again (the attempt failed, or the lease ran out: the worker died)
                 |-> failed (out of attempts; staff see it in the delivery log)

Each message carries a Message-ID fixed when the notice is written, so a resend after a worker died
between the SMTP server's acceptance and our "sent" mark is the same message to the receiving side.
``NoticeAttempt`` is the append-only delivery log staff and auditors read.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models

from members.models import INSERT_ONLY, Member


class Notice(models.Model):
    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        LETTER = "letter", "Printed letter"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=40, db_index=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="notices")
    # Where it goes: an e-mail address, or a postal address (lines joined by newlines) for a letter.
    to_email = models.EmailField(blank=True)
    to_name = models.CharField(max_length=200, blank=True)
    to_address = models.TextField(blank=True)
    # Rendered when written: the notice is the record of what the member was told.
    subject = models.CharField(max_length=200)
    body = models.TextField()
    message_id = models.CharField(max_length=200, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    batch = models.ForeignKey("LetterBatch", null=True, blank=True, on_delete=models.PROTECT, related_name="letters")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "channel", "created_at"], name="notice_state_idx")]
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(channel="email") & ~models.Q(to_email=""))
                | (models.Q(channel="letter") & ~models.Q(to_address="")),
                name="notice_has_destination",
            )
        ]
        permissions = [("print_letters", "Can print the queued letters as a PDF batch for the mail room")]

    def __str__(self) -> str:
        return f"{self.kind} by {self.channel} ({self.state})"


class NoticeAttempt(models.Model):
    """One delivery attempt (or a recovery), append-only: the delivery log."""

    append_only = INSERT_ONLY  # the runtime role may only INSERT and SELECT (config/db_roles.py)

    class Outcome(models.TextChoices):
        CLAIMED = "claimed", "Claimed by a worker"
        SENT = "sent", "Sent"
        PRINTED = "printed", "Printed in a letter batch"
        RETRY = "retry", "Failed, will retry"
        FAILED = "failed", "Failed, no more attempts"
        RECOVERED = "recovered", "Lease ran out (worker lost); queued again"

    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, related_name="delivery_log")
    at = models.DateTimeField(auto_now_add=True)
    attempt = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    worker = models.CharField(max_length=100, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        triggers = [
            pgtrigger.Protect(name="notice_attempt_append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"notice {self.notice_id} attempt {self.attempt}: {self.outcome}"


class LetterBatch(models.Model):
    """A PDF of queued letters printed together for the mail room."""

    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    letter_count = models.PositiveIntegerField(default=0)
    pdf = models.BinaryField()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "letter batches"

    def __str__(self) -> str:
        return f"letter batch {self.pk} ({self.letter_count} letters, {self.created_at:%Y-%m-%d %H:%M})"


class AlertPreference(models.Model):
    """A member's choice for one optional alert (absent: the default, which is on)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="alert_preferences")
    kind = models.CharField(max_length=40)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["member", "kind"], name="alert_preference_member_kind")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind}: {'on' if self.enabled else 'off'}"
