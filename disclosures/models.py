"""Who may receive member information, on what basis, and the log of every release.

Design (docs/disclosures.md): member information leaves the co-op only through
``disclosures.services.disclosure_export``, which needs a *basis*: a ``Consent`` the member gave, or a
``LegalBasis`` (the member's own request, a contractor's or another utility's confidentiality
agreement, legal process, an imminent threat approved by a second person, an approved aggregate
release, an approved membership-list request). Every release and every refused attempt is a
``DisclosureLogEntry``: append-only in the database (a trigger refuses UPDATE and DELETE) and chained
by a keyed hash (disclosures/chain.py), so a removed, altered or reordered entry is detectable.

Threat: an insider (or a bug) quietly sending member data out, or rewriting the record of having done
so. Nothing here stores decrypted identifiers; the log holds member ids, categories and checksums.
"""

from __future__ import annotations

import hashlib

import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.utils import timezone

from members.models import INSERT_ONLY, NO_DELETE


class DataCategory(models.TextChoices):
    """The Privacy Policy's categories of information collected (seed 000 section A), a fixed list."""

    CONTACT = "A1_contact", "A.1 Contact information"
    BILLING = "A2_billing", "A.2 Billing information"
    USAGE = "A3_usage", "A.3 Electric usage and service history"
    CAPITAL = "A4_capital", "A.4 Capital and patronage accounts"
    SURVEYS = "A5_surveys", "A.5 Member survey responses"
    SERVICES = "A6_services", "A.6 Information from services offered"
    IMAGING = "A7_imaging", "A.7 Electronic imaging of distribution assets"
    RECORDINGS = "A8_recordings", "A.8 Business telephone recordings"


# Seed 000 F.1: members may authorize disclosure of their information "except imaging and telephone
# recordings"; those two categories can never be the subject of a member's consent.
NOT_CONSENTABLE = frozenset({DataCategory.IMAGING, DataCategory.RECORDINGS})


class Purpose(models.TextChoices):
    """Why the data goes out. Primary purposes serve the member's electric service (seed 001 allows them
    without consent, through a contractor's agreement); every other purpose is secondary and needs the
    member's written consent."""

    # primary
    SERVICE = "service", "Primary: service and maintenance"
    BILLING = "billing", "Primary: billing and payment processing"
    COLLECTION = "collection", "Primary: collection of amounts owed"
    LEGAL_AUDIT = "legal_audit", "Primary: legal and audit services"
    MANAGEMENT = "management", "Primary: management functions"
    OPERATIONS = "operations", "Primary: operational requirements with another utility"
    # secondary
    MEMBER_DESIGNATED = "member_designated", "Secondary: sharing with a third party the member chose"
    ENERGY_SERVICES = "energy_services", "Secondary: energy services / programs offered by others"
    MARKETING = "marketing", "Secondary: marketing by a non-affiliated company"
    RESEARCH = "research", "Secondary: research"
    # legal process, threats, aggregate reporting, membership lists
    LEGAL_PROCESS = "legal_process", "Required by law: warrant, subpoena or court order"
    IMMINENT_THREAT = "imminent_threat", "Imminent threat to life or property"
    AGGREGATE_REPORTING = "aggregate", "Aggregate analysis, reporting or program design"
    MEMBERSHIP_LIST = "membership_list", "Membership list for a proper purpose (seed 000 G)"
    MEMBER_ACCESS = "member_access", "The member's own data, at the member's request"


PRIMARY_PURPOSES = frozenset(
    {Purpose.SERVICE, Purpose.BILLING, Purpose.COLLECTION, Purpose.LEGAL_AUDIT, Purpose.MANAGEMENT, Purpose.OPERATIONS}
)
SECONDARY_PURPOSES = frozenset(
    {Purpose.MEMBER_DESIGNATED, Purpose.ENERGY_SERVICES, Purpose.MARKETING, Purpose.RESEARCH}
)


class Recipient(models.Model):
    """A third party that may receive member information."""

    class Kind(models.TextChoices):
        CONTRACTOR = "contractor", "Contractor or service provider"
        AFFILIATE = "affiliate", "Affiliate"
        OTHER_UTILITY = "other_utility", "Other utility"
        NON_AFFILIATED = "non_affiliated", "Non-affiliated company"
        MEMBER_DESIGNATED = "member_designated", "Member-designated recipient"
        LAW_ENFORCEMENT = "law_enforcement", "Law enforcement or court"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    contact_name = models.CharField(max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)
    address = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"


# The recipients a member may direct their own data to, by request or by consent in the portal: not a
# contractor (bound by the co-op's agreement, not the member's choice), not law enforcement (legal process).
MEMBER_DESIGNATABLE = frozenset(
    {
        Recipient.Kind.MEMBER_DESIGNATED,
        Recipient.Kind.NON_AFFILIATED,
        Recipient.Kind.AFFILIATE,
        Recipient.Kind.OTHER_UTILITY,
    }
)


class ConfidentialityAgreement(models.Model):
    """A recipient's written promise to keep member information confidential and secure (seed 000 F.2),
    limited to the data categories the service needs. Expired = no more releases under it."""

    recipient = models.ForeignKey(Recipient, on_delete=models.PROTECT, related_name="agreements")
    reference = models.CharField(max_length=100, help_text="Contract / agreement number")
    scope = models.TextField(help_text="The services the recipient renders")
    categories = ArrayField(models.CharField(max_length=20, choices=DataCategory.choices))
    signed_on = models.DateField()
    effective_from = models.DateField()
    expires_on = models.DateField()
    document_reference = models.CharField(max_length=200, blank=True, help_text="Where the signed copy is filed")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["recipient_id", "-expires_on"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_on__gte=models.F("effective_from")), name="agreement_dates_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"Agreement {self.reference} with {self.recipient.name}, until {self.expires_on:%b %d, %Y}"

    def in_force(self, on=None) -> bool:
        on = on or timezone.localdate()
        return self.effective_from <= on <= self.expires_on


class NoticeText(models.Model):
    """One version of the words a member reads before consenting (issue 14.5: consent with its evidence).

    The Privacy Officer writes a new version in the admin; the portal always shows the newest version of
    its kind, and each consent keeps the version it showed (``Consent.notice_text``) with a SHA-256 of the
    words. A version is immutable once a consent points at it: a database trigger
    (migration 0004) refuses UPDATE and DELETE of a used version to every role, so the evidence of what a
    member agreed to cannot be rewritten afterwards. Unused drafts may still be corrected.
    """

    class Kind(models.TextChoices):
        PORTAL_CONSENT = "portal_consent", "Sharing consent in the member portal"
        CONNECT_MY_DATA = "connect_my_data", "Green Button Connect My Data authorization"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    version = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(
        help_text="The exact words shown to the member. Placeholders in braces ({recipient}, {categories}, "
        "{period}, {frequency}) are filled in on the screen; the filled-in text is what the consent keeps."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["kind", "-version"]
        constraints = [models.UniqueConstraint(fields=["kind", "version"], name="notice_text_one_version")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}, version {self.version}"


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# The only columns a revocation may set, once, on a consent that is not revoked yet; every other
# column is frozen at the grant (tests/disclosures/test_consent_evidence.py checks the two lists cover
# every column, so a new column has to be placed in one of them).
CONSENT_REVOCATION_COLUMNS = ("revoked_at", "revoked_by_id", "revocation_channel")
CONSENT_FROZEN_COLUMNS = (
    "id",
    "member_id",
    "recipient_id",
    "categories",
    "purpose",
    "purpose_detail",
    "channel",
    "evidence",
    "granted_at",
    "expires_at",
    "recorded_by_id",
    "notice_text_id",
    "notice_shown",
    "notice_sha256",
)


def _consent_row(alias: str) -> str:
    return "ROW(" + ", ".join(f'{alias}."{column}"' for column in CONSENT_FROZEN_COLUMNS) + ")"


class Consent(models.Model):
    """A member's consent to release named categories to one recipient for one purpose.

    Append-only like the disclosure log: never deleted (the runtime database role has no DELETE on the
    table and a trigger refuses it to every role), and never edited. The one change a row may take is
    its revocation, once: a pgtrigger refuses any UPDATE that touches another column or a consent
    already revoked. A consent recorded in the portal keeps the notice version shown, the words as the
    member read them (``notice_shown``) and their SHA-256.
    """

    append_only = NO_DELETE

    class Channel(models.TextChoices):
        PORTAL = "portal", "Member portal (electronic signature)"
        WRITTEN = "written", "Written form"
        PHONE = "phone", "Telephone"

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="consents")
    recipient = models.ForeignKey(Recipient, on_delete=models.PROTECT, related_name="consents")
    categories = ArrayField(models.CharField(max_length=20, choices=DataCategory.choices))
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    purpose_detail = models.TextField(blank=True)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    evidence = models.CharField(max_length=300, blank=True, help_text="Form reference, call id, portal session")
    granted_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revocation_channel = models.CharField(max_length=10, choices=Channel.choices, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Evidence of what the member read (issue 14.5): the version, the words as shown, their digest.
    notice_text = models.ForeignKey(
        NoticeText, null=True, blank=True, on_delete=models.PROTECT, related_name="consents"
    )
    notice_shown = models.TextField(blank=True)
    notice_sha256 = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-granted_at", "-id"]
        indexes = [models.Index(fields=["recipient", "member"], name="consent_recipient_member")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=models.F("granted_at")),
                name="consent_expires_after_grant",
            ),
            # Every consent given in the portal carries the notice the member read.
            models.CheckConstraint(
                condition=~models.Q(channel="portal")
                | (models.Q(notice_text__isnull=False) & ~models.Q(notice_sha256="")),
                name="consent_portal_keeps_notice",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="consent_revocation_only",
                operation=pgtrigger.Update,
                condition=pgtrigger.Condition(
                    f'OLD."revoked_at" IS NOT NULL OR {_consent_row("OLD")} IS DISTINCT FROM {_consent_row("NEW")}'
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"Consent of {self.member.member_number} to {self.recipient.name} ({self.get_purpose_display()})"

    @property
    def status(self) -> str:
        if self.revoked_at:
            return "revoked"
        if self.expires_at and self.expires_at <= timezone.now():
            return "expired"
        return "active"


class LegalBasis(models.Model):
    """A ground for release other than consent, with its evidence.

    One row per request or standing arrangement; valid between ``valid_from`` and ``valid_until`` and
    until revoked. ``members`` empty means "any member" and is allowed only for the standing bases
    (contractor, other utility) that are limited by their confidentiality agreement instead.
    """

    class Kind(models.TextChoices):
        MEMBER_REQUEST = "member_request", "The member's own request"
        CONTRACTOR = "contractor", "Contractor for a primary purpose"
        OTHER_UTILITY = "other_utility", "Other utility, operational requirement"
        LEGAL_PROCESS = "legal_process", "Legal process (warrant, subpoena, court order)"
        IMMINENT_THREAT = "imminent_threat", "Imminent threat to life or property"
        AGGREGATED = "aggregated", "Sufficiently aggregated data"

    class ProcessType(models.TextChoices):
        WARRANT = "warrant", "Search warrant"
        SUBPOENA = "subpoena", "Subpoena"
        COURT_ORDER = "court_order", "Court or law-enforcement order"

    kind = models.CharField(max_length=20, choices=Kind.choices, db_index=True)
    recipient = models.ForeignKey(
        Recipient, null=True, blank=True, on_delete=models.PROTECT, related_name="legal_bases"
    )
    agreement = models.ForeignKey(
        ConfidentialityAgreement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    members = models.ManyToManyField("members.Member", blank=True, related_name="+")
    categories = ArrayField(models.CharField(max_length=20, choices=DataCategory.choices))
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    description = models.TextField(blank=True)
    # Evidence
    request_reference = models.CharField(max_length=200, blank=True, help_text="Member request / ticket id")
    process_type = models.CharField(max_length=20, choices=ProcessType.choices, blank=True)
    document_reference = models.CharField(max_length=200, blank=True)
    issuing_authority = models.CharField(max_length=200, blank=True)
    document_date = models.DateField(null=True, blank=True)
    notice_withheld = models.BooleanField(default=False, help_text="Notice to the member withheld by order")
    justification = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    valid_from = models.DateTimeField(default=timezone.now)
    valid_until = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revocation_reason = models.TextField(blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at", "-id"]
        verbose_name_plural = "legal bases"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(valid_until__gt=models.F("valid_from")), name="legal_basis_valid_range"
            ),
            # A second approver who is not the requester (imminent threat); enforced by the service too.
            models.CheckConstraint(
                condition=~models.Q(kind="imminent_threat")
                | models.Q(approved_by__isnull=True)
                | ~models.Q(approved_by=models.F("requested_by")),
                name="threat_second_approver",
            ),
        ]
        permissions = [("approve_legalbasis", "Can approve an imminent-threat release (second approver)")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} (legal basis no. {self.pk})"

    @property
    def status(self) -> str:
        now = timezone.now()
        if self.revoked_at:
            return "revoked"
        if self.valid_until <= now:
            return "expired"
        if self.kind == self.Kind.IMMINENT_THREAT and not self.approved_at:
            return "awaiting approval"
        return "active"


class MembershipListRequest(models.Model):
    """Seed 000 G: a member asks for the membership list for a proper purpose (e.g. an election)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending Privacy Officer review"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        WITHDRAWN = "withdrawn", "Withdrawn"
        RELEASED = "released", "Released"

    requester = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+")
    purpose = models.TextField()
    requested_at = models.DateTimeField(default=timezone.now)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    valid_until = models.DateTimeField(null=True, blank=True, help_text="Approval lapses after this time")
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        permissions = [("approve_membershiplistrequest", "Can approve or deny a membership-list request")]

    def __str__(self) -> str:
        return f"Membership-list request from {self.requester.member_number} {self.requester.legal_name}"


class DisclosureLogEntry(models.Model):
    """One release, or one refused attempt, of member information. Append-only and hash-chained."""

    append_only = INSERT_ONLY

    class Outcome(models.TextChoices):
        RELEASED = "released", "Released"
        REFUSED = "refused", "Refused"
        INTERRUPTED = "interrupted", "Interrupted during transfer"

    seq = models.BigIntegerField(unique=True)
    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices, db_index=True)
    recipient = models.ForeignKey(Recipient, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    recipient_label = models.CharField(max_length=200, blank=True)
    basis_kind = models.CharField(max_length=20, blank=True, db_index=True)
    # "consent:12", "legal_basis:7 subpoena 2026-CV-118", "membership_list:3", "" when refused without one.
    basis_ref = models.CharField(max_length=300, blank=True)
    purpose = models.CharField(max_length=20, blank=True)
    member_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    member_count = models.IntegerField(default=0)
    categories = ArrayField(models.CharField(max_length=20), default=list, blank=True)
    fields = ArrayField(models.CharField(max_length=60), default=list, blank=True)
    format = models.CharField(max_length=10, blank=True)
    row_count = models.IntegerField(default=0)
    file_sha256 = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    notice_withheld = models.BooleanField(default=False)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-seq"]
        verbose_name_plural = "disclosure log entries"
        indexes = [GinIndex(fields=["member_ids"], name="disclosure_member_ids_gin")]
        permissions = [
            ("verify_chain", "Can verify the disclosure log's hash chain"),
            ("release_disclosure", "Can release member information through the export service"),
            ("view_access_log", "Can view the access log and auditor pages"),
        ]

    def __str__(self) -> str:
        return f"Log entry {self.seq}: {self.get_outcome_display()}, {self.recipient_label or 'no recipient'}"


class ReleaseNoticeDue(models.Model):
    """The members of a release are owed their "your information was shared" notices (a transactional
    outbox). Written in the release's own transaction, beside the chained log entry it points at (the
    entry is append-only and names the members); after commit a task writes the notices in bulk and marks
    this row done in one transaction, and the periodic sweep (``disclosures.release_notices_sweep``)
    takes any row whose task was lost (broker down at commit, worker killed). Only the wording the
    notice needs is kept here: who received the data, which categories, on what basis."""

    # No foreign-key constraint in the database: the log is append-only (nothing deletes an entry), and a
    # constraint would make TRUNCATE of the log (an owner's tamper drill, tests/test_platform_db_roles.py)
    # fail instead of being detected by the chain check.
    entry = models.OneToOneField(
        DisclosureLogEntry,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="notice_due",
        to_field="seq",
        db_column="entry_seq",
    )
    recipient_words = models.CharField(max_length=200)
    category_words = ArrayField(models.CharField(max_length=80), default=list)
    basis_words = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    notices = models.IntegerField(default=0)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["created_at"], name="release_notice_pending_idx", condition=models.Q(done_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        state = f"done ({self.notices} notices)" if self.done_at else "due"
        return f"release notices for log entry {self.entry_id}: {state}"
