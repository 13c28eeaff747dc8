"""The Identity Theft Prevention Program (seed 002) as data.

Design: a ``Rule`` is one Red Flag of the program (stable ``code`` such as ``B5_SSN_SHARED``, its
category and the seed's wording). What a rule *does* lives in ``redflags/engine.py`` (one detector per
code); how much it counts lives in an immutable ``RuleVersion`` (weight, minimum outcome, parameters),
drafted, dry-run against past events, activated and retired by the Program Administrator. Every
``RiskAssessment`` and every ``Flag`` references the exact version that fired, so a decision can be
explained years later even after the rule changed.

Threat: this app stores *about* identifiers, never identifiers. Evidence is readable text that names
members by member number and matches by kind ("SSN matches member M000123"); fraud-list entries and
observed changes hold blind-index values only; caller-verification attempts record match / no match
per item, never what the caller said.
"""

from __future__ import annotations

import uuid

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone

from members.fields import EncryptedCharField
from members.models import INSERT_ONLY


class Category(models.TextChoices):
    SUSPICIOUS_DOCUMENTS = "A", "A. Suspicious documents"
    SUSPICIOUS_IDENTIFYING_INFORMATION = "B", "B. Suspicious identifying information"
    UNUSUAL_ACCOUNT_ACTIVITY = "C", "C. Unusual use of, or suspicious activity related to, a covered account"
    NOTICE_OF_IDENTITY_THEFT = "D", "D. Notice regarding possible identity theft"
    CONSUMER_REPORTING_AGENCY = (
        "E",
        "CRA. Alerts from consumer reporting agencies (FTC Supplement A, not in the program)",
    )


class Outcome(models.TextChoices):
    # Ordered from least to most severe; ``Outcome.rank`` relies on this order.
    RECORD = "record", "Record only"
    WARN = "warn", '"Red Flag Exists" warning and review queue'
    HOLD = "hold", "Hold the opening pending identity verification"

    @classmethod
    def rank(cls, value: str) -> int:
        return [choice.value for choice in cls].index(value)


class Rule(models.Model):
    code = models.CharField(max_length=64, unique=True)
    category = models.CharField(max_length=1, choices=Category.choices)
    title = models.CharField(max_length=200)
    # The seed's own words for this Red Flag (or the FTC Supplement A wording for the CRA category).
    wording = models.TextField()
    # Where the detector looks (for operators): "opening", "change", "notice", ...
    detects_on = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["category", "code"]
        permissions = [("manage_rules", "Draft, dry-run, activate and retire Red Flag rules")]

    def __str__(self) -> str:
        return self.code

    @property
    def active_version(self) -> RuleVersion | None:
        return self.versions.filter(status=RuleVersion.Status.ACTIVE).first()


class RuleVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    rule = models.ForeignKey(Rule, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    weight = models.PositiveSmallIntegerField()
    # The least this rule's firing leads to, whatever the score (B5 shared SSN: hold).
    minimum_outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RECORD)
    parameters = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    retired_at = models.DateTimeField(null=True, blank=True)
    # The last dry run against past events (services.rule_version_dry_run).
    dry_run = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["rule__code", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "number"], name="redflags_rule_version_number"),
            models.UniqueConstraint(
                fields=["rule"], condition=models.Q(status="active"), name="redflags_one_active_version"
            ),
        ]
        triggers = [
            # A version that has ever been live is immutable: decisions reference it. Only its status
            # (active -> retired) and retirement time may still change. Enforced by the database so
            # neither the admin nor a bug can rewrite what a past decision was based on.
            pgtrigger.Protect(
                name="rule_version_immutable",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__status__in=["active", "retired"])
                & (
                    pgtrigger.Q(old__weight__df=pgtrigger.F("new__weight"))
                    | pgtrigger.Q(old__minimum_outcome__df=pgtrigger.F("new__minimum_outcome"))
                    | pgtrigger.Q(old__parameters__df=pgtrigger.F("new__parameters"))
                    | pgtrigger.Q(old__rule_id__df=pgtrigger.F("new__rule_id"))
                    | pgtrigger.Q(old__number__df=pgtrigger.F("new__number"))
                ),
            ),
            pgtrigger.Protect(
                name="rule_version_no_delete",
                operation=pgtrigger.Delete,
                condition=pgtrigger.Q(old__status__in=["active", "retired"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule.code} v{self.number} ({self.status})"


class ProgramSettings(models.Model):
    """The program's current version and thresholds (one row), set by the Program Administrator."""

    program_version = models.CharField(max_length=32, default="2008.1")
    # Score at or above which the account gets the warning and a review item.
    warn_threshold = models.PositiveSmallIntegerField(default=40)
    # Score at or above which an opening is held pending identity verification.
    hold_threshold = models.PositiveSmallIntegerField(default=70)
    # Failed caller verifications within the window that raise B8.
    caller_failures_to_flag = models.PositiveSmallIntegerField(default=3)
    caller_failure_window_hours = models.PositiveSmallIntegerField(default=24)
    # Cases (redflags/cases): days from opening to the due date; an overdue case escalates.
    case_due_days = models.PositiveSmallIntegerField(default=5)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = "program settings"
        verbose_name_plural = "program settings"
        permissions = [
            ("manage_program", "Set thresholds, program version, training and program changes"),
            ("view_annual_review", "See the annual review report"),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="redflags_settings_singleton")]

    def __str__(self) -> str:
        return f"Program {self.program_version} (warn ≥ {self.warn_threshold}, hold ≥ {self.hold_threshold})"


class ObservedEvent(models.Model):
    """Every event the program saw (openings, registry changes, notices): its memory and dry-run corpus.

    Holds names, ids and blind-index values only.
    """

    key = models.UUIDField(default=uuid.uuid4, unique=True)
    event = models.CharField(max_length=64, db_index=True)
    member_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    account_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    fields = models.JSONField(default=list, blank=True)
    old_indexes = models.JSONField(default=dict, blank=True)
    new_indexes = models.JSONField(default=dict, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    actor_id = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["member_id", "event", "-occurred_at"], name="redflags_event_member_idx")]

    def __str__(self) -> str:
        return f"{self.event} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class UnscoredChange(models.Model):
    """A registry change written in the change's own transaction, waiting to be scored (a transactional
    outbox): if Redis or the worker is down when the change commits, the sweep (``redflags.sweep_unscored``)
    scores it once they are back. Removed once scored; the record of the event is its ``ObservedEvent``."""

    key = models.UUIDField(unique=True)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.payload.get('event', '?')} waiting since {self.created_at:%Y-%m-%d %H:%M}"


class RiskAssessment(models.Model):
    event = models.ForeignKey(
        ObservedEvent, null=True, blank=True, on_delete=models.PROTECT, related_name="assessments"
    )
    event_name = models.CharField(max_length=64, db_index=True)
    member = models.ForeignKey("members.Member", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    score = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RECORD)
    # [{"code", "version", "version_id", "weight", "evidence": [...]}]: readable, never plaintext identifiers.
    fired = models.JSONField(default=list, blank=True)
    program_version = models.CharField(max_length=32)
    warn_threshold = models.PositiveSmallIntegerField()
    hold_threshold = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        event = self.event_name.replace("_", " ")
        return f"Assessment {self.pk}: {event} scored {self.score}, {self.get_outcome_display()}"

    @property
    def evidence_text(self) -> str:
        return "; ".join(f"{item['code']} v{item['version']}: {' / '.join(item['evidence'])}" for item in self.fired)


class Flag(models.Model):
    """One Red Flag that fired in an assessment: the Red Flags database of response (2)."""

    assessment = models.ForeignKey(RiskAssessment, on_delete=models.CASCADE, related_name="flags")
    rule_version = models.ForeignKey(RuleVersion, on_delete=models.PROTECT, related_name="flags")
    code = models.CharField(max_length=64, db_index=True)
    category = models.CharField(max_length=1, choices=Category.choices)
    weight = models.PositiveSmallIntegerField()
    evidence = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.code}: {self.evidence}"


class ReviewItem(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    assessment = models.OneToOneField(RiskAssessment, on_delete=models.PROTECT, related_name="review_item")
    member = models.ForeignKey("members.Member", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name = "review queue item"
        verbose_name_plural = "review queue"
        ordering = ["status", "-created_at"]
        permissions = [("work_queue", "Work the Red Flags review queue and record responses")]

    def __str__(self) -> str:
        return f"Review item {self.pk}: {self.get_outcome_display()} ({self.get_status_display()})"


class Response(models.Model):
    """A response of the program (seed 002, responses 1-7), plus releasing a hold after verification."""

    class Kind(models.TextChoices):
        MONITOR = "monitor", '1. Continue to monitor with the "Red Flag Exists" warning'
        TRACK = "track", "2. Track in the Red Flags database"
        CONTACT_CUSTOMER = "contact_customer", "3. Contact the customer"
        DO_NOT_OPEN = "do_not_open", "4. Do not open the account"
        CLOSE_ACCOUNT = "close_account", "5. Close the account"
        NOTIFY_LAW_ENFORCEMENT = "notify_law_enforcement", "6. Notify law enforcement"
        NO_RESPONSE = "no_response", "7. No response warranted"
        RELEASE_HOLD = "release_hold", "Identity verified: release the hold and open"

    append_only = INSERT_ONLY

    review_item = models.ForeignKey(ReviewItem, on_delete=models.PROTECT, related_name="responses")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    notes = models.TextField(blank=True)
    agency = models.CharField(max_length=200, blank=True)
    case_number = models.CharField(max_length=100, blank=True)
    justification = models.TextField(blank=True)
    # The rule versions behind the decision, copied from the assessment.
    rule_versions = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        triggers = [pgtrigger.Protect(name="response_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor} at {self.at:%Y-%m-%d %H:%M}"


class VerificationChecklist(models.Model):
    """Identity verification at opening (detection steps 1-4) and Suspicious Documents A1-A4, by staff.

    Stated values (SSN last 4, date of birth) are compared at recording time and only the result kept.
    """

    account = models.OneToOneField("accounts.Account", on_delete=models.PROTECT, related_name="redflags_checklist")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    # Detection at opening, steps (1)-(4).
    identifying_information_obtained = models.BooleanField(
        default=False, help_text="(1) name, DOB, address, SSN last 4, licence or other ID"
    )
    identity_document_reviewed = models.BooleanField(
        default=False, help_text="(2) a driver's licence or other ID copied and reviewed"
    )
    identity_document_type = models.CharField(max_length=60, blank=True)
    # Document types seen (accounts.services.IDENTITY_DOCUMENT_TYPES), e.g. ["drivers_licence"].
    documents_seen = models.JSONField(default=list, blank=True)
    business_documentation_reviewed = models.BooleanField(
        default=False, help_text="(3) documentation showing the business entity exists"
    )
    customer_contacted_independently = models.BooleanField(
        default=False, help_text="(4) contacted at a number/address not given on the application"
    )
    # Suspicious documents A1-A4.
    document_appears_forged = models.BooleanField(default=False, help_text="A1")
    photo_or_description_mismatch = models.BooleanField(default=False, help_text="A2")
    other_documents_inconsistent = models.BooleanField(default=False, help_text="A3 (signature, recent check)")
    application_altered = models.BooleanField(
        default=False, help_text="A4 (altered, forged, destroyed and reassembled)"
    )
    # Suspicious identifying information B1, B2, B4, B7, B8 as staff observe them.
    inconsistent_with_other_sources = models.BooleanField(default=False, help_text="B1")
    stated_ssn_last4_matches = models.BooleanField(
        null=True, blank=True, help_text="B2: the SSN last 4 the applicant wrote vs. the one given"
    )
    stated_date_of_birth_matches = models.BooleanField(
        null=True, blank=True, help_text="B2: the birth date the applicant stated vs. the record"
    )
    ssn_issued_before_birth = models.BooleanField(
        default=False, help_text="B2: SSN issue year (from SSA verification) is before the birth year"
    )
    # Compared by the software at opening: the name and birth date read from the identity document
    # against the registry (only the result is kept, never the values).
    document_name_matches = models.BooleanField(null=True, blank=True, help_text="B1: name on the ID vs. the record")
    document_date_of_birth_matches = models.BooleanField(
        null=True, blank=True, help_text="B2: birth date on the ID vs. the record"
    )
    address_appears_fictitious = models.BooleanField(default=False, help_text="B4")
    reminded_of_missing_information = models.BooleanField(
        default=False, help_text="B7: applicant was reminded of missing items"
    )
    missing_items = models.JSONField(default=list, blank=True, help_text="B7: items still missing after the reminder")
    inconsistent_with_file = models.BooleanField(
        default=False, help_text="B8: differs from what is on file for an existing member"
    )
    notes = models.TextField(blank=True)

    class Meta:
        permissions = [("record_checklist", "Record identity-verification checklists and notices")]

    def __str__(self) -> str:
        return f"Checklist for account {self.account_id}"


class KnownFraudEntry(models.Model):
    """Identifying information found on fraudulent applications (B3) or known fictitious (B4).

    Looked up by blind index (kind + index_value); the canonical value is kept encrypted only to
    confirm a candidate match (the indexes are short on purpose) and is never displayed.
    """

    class Kind(models.TextChoices):
        TAX_ID = "tax_id", "SSN / TIN"
        LICENCE = "licence", "Driver's licence"
        PHONE = "phone", "Phone"
        EMAIL = "email", "Email"
        ADDRESS = "address", "Address"
        BANK_ACCOUNT = "bank_account", "Bank account"

    class Listing(models.TextChoices):
        FRAUDULENT_APPLICATION = "fraudulent_application", "B3: on an application found to be fraudulent"
        FICTITIOUS = "fictitious", "B4: invalid or fictitious (mail drop, vacant lot, disconnected)"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    index_value = models.CharField(max_length=64)
    value = EncryptedCharField(max_length=300, null=True, blank=True)
    listing = models.CharField(max_length=30, choices=Listing.choices, default=Listing.FRAUDULENT_APPLICATION)
    source = models.CharField(max_length=200, help_text="Case, report or incident this came from")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(default=timezone.now)
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "known fraud entries"
        indexes = [models.Index(fields=["index_value"], name="redflags_fraud_value_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_listing_display()}) from {self.source}"


class ConsumerReportAlert(models.Model):
    """Alerts from consumer reporting agencies (FTC Supplement A category 1; the program omits it)."""

    class Kind(models.TextChoices):
        FRAUD_ALERT = "fraud_alert", "Fraud alert"
        ACTIVE_DUTY_ALERT = "active_duty_alert", "Active-duty alert"
        CREDIT_FREEZE = "credit_freeze", "Credit freeze"
        ADDRESS_DISCREPANCY = "address_discrepancy", "Notice of address discrepancy"
        INCONSISTENT_PATTERN = "inconsistent_pattern", "Report pattern inconsistent with history"

    class Source(models.TextChoices):
        STAFF = "staff", "Recorded by staff"
        API = "api", "Received through the API"

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    agency = models.CharField(max_length=100)
    received_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.STAFF)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["member", "-received_at"], name="redflags_cra_member_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} from {self.agency}"


class IdentityTheftNotice(models.Model):
    """Red Flag D: notice from a customer, a victim, law enforcement or anyone else."""

    class Reporter(models.TextChoices):
        CUSTOMER = "customer", "The customer"
        VICTIM = "victim", "A victim of identity theft"
        LAW_ENFORCEMENT = "law_enforcement", "Law enforcement"
        OTHER = "other", "Another person"

    member = models.ForeignKey("members.Member", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey("accounts.Account", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reporter = models.CharField(max_length=20, choices=Reporter.choices)
    received_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    summary = models.TextField()

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"Notice from {self.get_reporter_display()} on {self.received_at:%Y-%m-%d}"


class SecurityIncident(models.Model):
    """C6 (notice of unauthorized activity), C7 (the co-op's systems breached), C8 (unauthorized access)."""

    class Kind(models.TextChoices):
        UNAUTHORIZED_ACTIVITY = "unauthorized_activity", "C6: notice that an account has unauthorized activity"
        SYSTEM_BREACH = "system_breach", "C7: the co-op's computer system is breached"
        UNAUTHORIZED_ACCESS = "unauthorized_access", "C8: unauthorized access to or use of account information"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    accounts = models.ManyToManyField("accounts.Account", blank=True, related_name="+")
    occurred_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    description = models.TextField()

    class Meta:
        ordering = ["-recorded_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.occurred_at:%Y-%m-%d})"


class CallerVerificationAttempt(models.Model):
    """Internal procedure 7: the caller states, staff type, the system answers per item.

    ``results`` maps item name to true/false; what the caller said is never stored.
    """

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+")
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)
    results = models.JSONField(default=dict)
    passed = models.BooleanField()

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["member", "-at"], name="redflags_caller_member_idx")]
        permissions = [("verify_caller", "Use the caller verification screen")]

    def __str__(self) -> str:
        return f"Caller verification {'passed' if self.passed else 'failed'} at {self.at:%Y-%m-%d %H:%M}"


class TrainingAcknowledgement(models.Model):
    """The signed Identity Theft Program Acknowledgement (Staff Training and Reports)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="redflags_acknowledgements"
    )
    program_version = models.CharField(max_length=32)
    acknowledged_at = models.DateTimeField(default=timezone.now)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-acknowledged_at"]
        constraints = [models.UniqueConstraint(fields=["user", "program_version"], name="redflags_one_ack_per_version")]

    def __str__(self) -> str:
        return f"{self.user} acknowledged program {self.program_version}"


class ProgramChange(models.Model):
    """A change to the program recommended by the Program Administrator and the board's decision."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Awaiting the board"
        ACCEPTED = "accepted", "Accepted"
        MODIFIED = "modified", "Accepted as modified"
        REJECTED = "rejected", "Rejected"

    title = models.CharField(max_length=200)
    recommendation = models.TextField()
    recommended_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recommended_at = models.DateTimeField(default=timezone.now)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    decided_on = models.DateField(null=True, blank=True)
    board_reference = models.CharField(max_length=100, blank=True, help_text="Ordinance / minutes reference")
    decision_notes = models.TextField(blank=True)
    new_program_version = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["-recommended_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.get_decision_display()})"


class AnnualReview(models.Model):
    """The Program Administrator's yearly consideration (seed 002, periodic review)."""

    year = models.PositiveSmallIntegerField(unique=True)
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    prepared_at = models.DateTimeField(default=timezone.now)
    experiences = models.TextField(blank=True, help_text="The co-op's experiences with identity theft")
    changes_in_methods = models.TextField(blank=True, help_text="Changes in identity theft methods")
    changes_in_detection = models.TextField(blank=True, help_text="Changes in detection and prevention methods")
    changes_in_accounts = models.TextField(blank=True, help_text="Changes in the types of accounts maintained")
    changes_in_arrangements = models.TextField(
        blank=True, help_text="Changes in business arrangements with other entities"
    )
    recommended_changes = models.TextField(blank=True)
    changes_warranted = models.BooleanField(default=False)
    report = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-year"]

    def __str__(self) -> str:
        return f"Annual review {self.year}"
