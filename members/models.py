from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Q
from django.utils import timezone

from members.fields import EncryptedCharField, EncryptedDateField, EncryptedTextField


class User(AbstractUser):
    """Staff and member logins. Staff act through roles (members/roles.py); members use the portal."""

    class Meta:
        db_table = "members_user"


# How the database protects a table (config/db_roles.py reads this class attribute on every model):
# ``INSERT_ONLY``: the runtime role may INSERT and SELECT only, and a plain trigger refuses UPDATE and
# DELETE to everyone; ``NO_DELETE``: rows are updated in place (a purge run's status, a consent's
# revocation) but the runtime role may not DELETE them and the trigger refuses it to everyone.
INSERT_ONLY = "insert-only"
NO_DELETE = "no-delete"


class ChainAnchor(models.Model):
    """The anchored head of each hash chain (members/hashchain.py): one row per append.

    Insert-only for the runtime role, and a trigger refuses a ``seq`` that does not extend the chain's
    newest anchor, so the head cannot be reset to hide removed entries.
    """

    append_only = INSERT_ONLY

    chain = models.CharField(max_length=20)
    seq = models.BigIntegerField()
    entry_hash = models.CharField(max_length=64)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chain", "seq"], name="chain_anchor_unique_seq")]

    def __str__(self) -> str:
        return f"{self.chain} #{self.seq}"


class AuditEvent(models.Model):
    """The one append-only audit trail (it holds the access log), hash-chained like the disclosure log.

    Written by services in the same transaction as the change it records (members/audit.py).
    Holds field names and identifiers, never decrypted values. The runtime database role may only
    INSERT and SELECT; a plain trigger (config/db_roles.py) refuses UPDATE and DELETE to every role.
    """

    append_only = INSERT_ONLY

    seq = models.BigIntegerField(unique=True)
    # Set once by audit_record before hashing (auto_now_add would overwrite it on save, after the hash).
    at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # For work done by the system (a Celery task, an import): "system:rotate_keys", "import:legacy.csv".
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=64, blank=True, db_index=True)
    fields = models.JSONField(default=list, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    entry_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id", "-at"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}#{self.object_id}"


# --- The member registry -------------------------------------------------------------------------
# Sensitive identifiers and financial numbers are Fernet-encrypted (members/fields.py) and searched
# through blind-index columns (members/crypto.py). Rows are written only by members/services.py.


# (column, index name) of the member's blind indexes and its last four, each partial on a value.
_BLIND_INDEX_NAMES = (
    ("address_index", "member_address_bi_idx"),
    ("phone_index", "member_phone_bi_idx"),
    ("email_index", "member_email_bi_idx"),
    ("tax_id_index", "member_tax_id_bi_idx"),
    ("licence_index", "member_licence_bi_idx"),
    ("passport_index", "member_passport_bi_idx"),
    ("alien_registration_index", "member_alien_reg_bi_idx"),
    ("ssn_last4", "member_ssn_last4_idx"),
)


class Member(models.Model):
    class Kind(models.TextChoices):
        PERSON = "person", "Person"
        BUSINESS = "business", "Business entity"

    class Status(models.TextChoices):
        APPLICANT = "applicant", "Applicant"
        ACTIVE = "active", "Active"
        FORMER = "former", "Former member"

    member_number = models.CharField(max_length=20, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PERSON)
    legal_name = models.CharField(max_length=200)
    # Upper-cased, accent-folded copy for case-insensitive prefix search without a function index.
    name_search = models.CharField(max_length=200, editable=False, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.APPLICANT)
    applied_on = models.DateField(null=True, blank=True)
    joined_on = models.DateField(null=True, blank=True)
    left_on = models.DateField(null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="member"
    )

    # Contact information. Mailing address, phone and email are kept in clear (staff search and mail
    # them); their blind indexes let the Red Flags rules compare them without string games.
    mailing_line1 = models.CharField(max_length=200, blank=True)
    mailing_line2 = models.CharField(max_length=200, blank=True)
    mailing_city = models.CharField(max_length=100, blank=True)
    mailing_state = models.CharField(max_length=2, blank=True)
    mailing_postal_code = models.CharField(max_length=10, blank=True)
    address_index = models.CharField(max_length=16, blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    phone_index = models.CharField(max_length=16, blank=True)
    # Kept apart from the E.164 number (which has no room for one), so an import never drops it.
    phone_extension = models.CharField(max_length=8, blank=True)
    email = models.EmailField(blank=True)
    email_index = models.CharField(max_length=16, blank=True)

    # Identifying information (Red Flags program definition), encrypted at rest.
    ssn = EncryptedCharField(max_length=11, null=True, blank=True, help_text="Nine digits, stored encrypted")
    tin = EncryptedCharField(max_length=11, null=True, blank=True, help_text="Employer/taxpayer id (EIN)")
    date_of_birth = EncryptedDateField(null=True, blank=True)
    drivers_licence_number = EncryptedCharField(max_length=40, null=True, blank=True)
    drivers_licence_state = models.CharField(max_length=2, blank=True)
    passport_number = EncryptedCharField(max_length=40, null=True, blank=True)
    alien_registration_number = EncryptedCharField(max_length=40, null=True, blank=True)
    employer_name = models.CharField(max_length=200, blank=True)
    tax_id_index = models.CharField(max_length=16, blank=True)
    licence_index = models.CharField(max_length=16, blank=True)
    passport_index = models.CharField(max_length=16, blank=True)
    alien_registration_index = models.CharField(max_length=16, blank=True)
    # In clear on purpose: display (***-**-6789) and caller verification need only these.
    ssn_last4 = models.CharField(max_length=4, blank=True)

    # Credit information (billing information in the Privacy Policy), encrypted.
    credit_notes = EncryptedTextField(null=True, blank=True)
    deposit_required = models.DecimalField(max_digits=10, decimal_places=2, default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["member_number"]
        # Plain b-tree indexes declared here rather than db_index=True: for a CharField, db_index also
        # builds a second varchar_pattern_ops index for LIKE, which equality lookups on blind indexes,
        # last-4 and status never use and which every insert and rotation update would pay for.
        indexes = [
            # Staff search matches any part of a name, number, phone or address (LIKE '%WORD%'): trigram
            # indexes (pg_trgm) serve those, and similarity() ranks the results (members/selectors.py).
            # Each GIN index keeps its pending list (entries not yet merged, which every search reads in full)
            # to 64 kB, not the default 4 MB: after an import or a rotation the 4 MB list cost a name search
            # about 2.4 ms of its 6.3 (migration 0016, docs/registry.md).
            GinIndex(
                fields=["name_search"],
                name="member_name_trgm_idx",
                opclasses=["gin_trgm_ops"],
                gin_pending_list_limit=64,
            ),
            # member_number_tail_idx on REVERSE(member_number) text_pattern_ops, created in SQL by migration
            # 0015: the search finds a number by its last digits as a prefix of the reversed number, and by
            # its first characters through the pattern index Django makes for the unique field.
            # member_phone_tail_idx on REVERSE(phone) text_pattern_ops WHERE phone <> '', created in SQL by
            # migration 0014 (the same Django bug). A phone is searched by its ending (the last seven or ten
            # digits: members/selectors.py); reversed, the ending is a prefix, which a b-tree finds in a few
            # pages. A trigram index could not: a co-op's numbers share their area code and exchanges, so
            # every trigram of "555-0042" matched most rows.
            # and member_mailing_trgm_idx on UPPER(mailing_line1) WHERE mailing_line1 <> '', created in SQL by
            # migrations 0007 and 0012 (Django 5.2 parenthesises OpClass(Upper(...)) wrongly for GIN), its
            # pending list kept to 64 kB by 0016.
            models.Index(fields=["status"], name="member_status_idx"),
            # Blind indexes and last-4 hold only the rows that have a value (nobody looks up ''). A purge's
            # redaction clears the identifiers' five, so its new row versions skip them (docs/retention.md:
            # the redaction cannot be a HOT update, so without this it wrote every index of the table).
            *(
                models.Index(fields=[column], name=name, condition=~Q(**{column: ""}))
                for column, name in _BLIND_INDEX_NAMES
            ),
        ]
        permissions = [
            ("reveal_identifiers", "Can reveal full identifying values (with a reason)"),
            ("search_identifiers", "Can search members by exact SSN/TIN or licence"),
            ("import_members", "Can import members from a legacy CIS file"),
            ("rotate_keys", "Can run encryption/blind-index key rotation"),
        ]

    def __str__(self) -> str:
        return f"{self.member_number} {self.legal_name}"


class FinancialAccount(models.Model):
    """A member's bank account or card on file. Numbers encrypted; last four digits in clear."""

    class Kind(models.TextChoices):
        BANK = "bank", "Bank account"
        CARD = "card", "Payment card (token)"

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="financial_accounts")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.BANK)
    institution_name = models.CharField(max_length=200, blank=True)
    routing_number = EncryptedCharField(max_length=20, null=True, blank=True)
    account_number = EncryptedCharField(max_length=40, null=True, blank=True)
    # A processor's token stands in for the card number, which this system never holds.
    card_token = EncryptedCharField(max_length=200, null=True, blank=True)
    last4 = models.CharField(max_length=4, blank=True)
    bank_account_index = models.CharField(max_length=16, blank=True)
    is_active = models.BooleanField(default=True)
    added_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["member_id", "id"]
        indexes = [
            models.Index(fields=["bank_account_index"], name="finacct_bank_bi_idx")
        ]  # no LIKE index (see Member)

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ****{self.last4}"


class CapitalCreditAllocation(models.Model):
    """Patronage capital allocated to a member for a year (kept for former members too)."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="capital_credits")
    year = models.PositiveSmallIntegerField()
    patronage_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    allocated_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    retired_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    allocated_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["member_id", "-year"]
        constraints = [models.UniqueConstraint(fields=["member", "year"], name="capital_credit_member_year")]

    def __str__(self) -> str:
        return f"{self.member.member_number} capital credits {self.year}"


class CapitalCreditRetirement(models.Model):
    """One payment retiring part of a year's allocation (the allocation's ``retired_amount`` is their sum).

    Loaded from a legacy CIS, keyed by its own retirement number, so a re-run never counts one twice."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="capital_credit_retirements")
    year = models.PositiveSmallIntegerField(help_text="The allocation year retired")
    retirement_number = models.CharField(max_length=30, unique=True)
    retired_on = models.DateField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["member_id", "-year", "retired_on"]
        indexes = [models.Index(fields=["member", "year"], name="cc_retirement_member_year_idx")]

    def __str__(self) -> str:
        return f"Retirement {self.retirement_number}: {self.member.member_number} {self.year}"


class RevealGrant(models.Model):
    """A time-limited permission to see one full value, given after a typed reason (audited)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    field_name = models.CharField(max_length=50)
    reason = models.TextField()
    granted_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-granted_at"]

    def __str__(self) -> str:
        return f"{self.field_name} of member {self.member_id} until {self.expires_at:%H:%M}"


class KeyRotationRun(models.Model):
    """Progress of one ``rotate_keys`` run, so an interrupted run resumes where it stopped."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # {"members.member": 12345, ...}: the last primary key done per table.
    cursors = models.JSONField(default=dict, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    rotate_indexes = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"key rotation started {self.started_at:%Y-%m-%d %H:%M}"


class DisagreementStatement(models.Model):
    """A member's statement of disagreement, kept with their record when the co-op declines to correct it
    (Privacy Policy B.2). Staff see it on the member's page beside the record it disputes; it is filed by
    the member (in the portal) or by staff on the member's behalf, and never edited afterwards.

    The member's own words may quote the disputed value (a date of birth, an identifier), so the text is
    encrypted at rest like a correction request's requested value.
    """

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="disagreement_statements")
    about = models.CharField(max_length=200, help_text="What the statement disputes, in plain words")
    statement = EncryptedTextField()
    filed_at = models.DateTimeField(auto_now_add=True)
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-filed_at"]

    def __str__(self) -> str:
        return f"statement of disagreement of member {self.member_id} ({self.filed_at:%Y-%m-%d})"
