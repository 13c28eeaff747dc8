"""Premises, meters, covered accounts and what happens on them (bills, payments, returned mail).

Written only by accounts/services.py, which audits every write and sends the registry signals.
Meter-reading notes and gate codes are encrypted; they are shown only to field roles.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models

from members.fields import EncryptedCharField, EncryptedTextField
from members.models import INSERT_ONLY, FinancialAccount, Member


class Premise(models.Model):
    """A service location."""

    premise_number = models.CharField(max_length=20, unique=True)
    service_line1 = models.CharField(max_length=200)
    service_line2 = models.CharField(max_length=200, blank=True)
    service_city = models.CharField(max_length=100)
    service_state = models.CharField(max_length=2)
    service_postal_code = models.CharField(max_length=10)
    address_index = models.CharField(max_length=16, blank=True)
    # Information kept for meter reading (Privacy Policy A.3): field roles only.
    meter_reading_notes = EncryptedTextField(null=True, blank=True)
    gate_code = EncryptedCharField(max_length=40, null=True, blank=True)
    dog_warning = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["premise_number"]
        indexes = [
            models.Index(fields=["address_index"], name="premise_address_bi_idx"),
            # premise_service_trgm_idx on UPPER(service_line1), for staff search by service address, is
            # created in SQL by migration 0006 (Django 5.2 parenthesises OpClass(Upper(...)) wrongly for GIN),
            # its pending list kept to 64 kB by 0012 (members migration 0016 says why).
        ]
        permissions = [("view_field_notes", "Can see gate codes, dog warnings and meter-reading notes")]

    def __str__(self) -> str:
        return f"{self.premise_number} {self.service_line1}, {self.service_city}"


class Meter(models.Model):
    meter_number = models.CharField(max_length=30, unique=True)
    premise = models.ForeignKey(Premise, on_delete=models.PROTECT, related_name="meters")
    has_solar = models.BooleanField(default=False)
    installed_on = models.DateField(null=True, blank=True)
    removed_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["meter_number"]

    def __str__(self) -> str:
        return self.meter_number


class Account(models.Model):
    """A covered account (Red Flags rule): pending -> open -> closed / suspended, or denied."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"
        SUSPENDED = "suspended", "Suspended"
        DENIED = "denied", "Denied"

    account_number = models.CharField(max_length=20, unique=True)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="accounts")
    premise = models.ForeignKey(Premise, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    status_reason = models.CharField(max_length=200, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)
    # The balance carried over from a legacy CIS at migration (positive: the member owes), and its date.
    balance = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    balance_as_of = models.DateField(null=True, blank=True)
    # The "Red Flag Exists" warning shown on the account to every staff screen.
    red_flag_warning = models.BooleanField(default=False)
    # Opening held pending identity verification (set by the Red Flags receivers).
    on_hold = models.BooleanField(default=False)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_number"]
        indexes = [
            models.Index(fields=["status"], name="account_status_idx"),
            # Staff search by the start or the end of an account number (members/selectors.py): the start through
            # the pattern index Django makes for the unique field; the end through account_number_tail_idx on
            # REVERSE(account_number) text_pattern_ops, created in SQL by migration 0011.
        ]

    def __str__(self) -> str:
        return self.account_number


class AuthorizedParty(models.Model):
    """Someone the member allows to act on an account. Removal keeps the row (history)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="authorized_parties")
    name = models.CharField(max_length=200)
    relationship = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    phone_index = models.CharField(max_length=16, blank=True)
    phone_extension = models.CharField(max_length=8, blank=True)
    email = models.EmailField(blank=True)
    email_index = models.CharField(max_length=16, blank=True)
    # The legacy CIS's own number for the party (migrated rows only): a re-run skips what is there.
    legacy_number = models.CharField(max_length=30, unique=True, null=True, blank=True)
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["account_id", "id"]
        verbose_name_plural = "authorized parties"
        indexes = [
            models.Index(fields=["phone_index"], name="authparty_phone_bi_idx"),
            models.Index(fields=["email_index"], name="authparty_email_bi_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Bill(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="bills")
    statement_number = models.CharField(max_length=30, unique=True)
    period_start = models.DateField()
    period_end = models.DateField()
    issued_on = models.DateField()
    due_on = models.DateField()
    kwh = models.DecimalField(max_digits=12, decimal_places=3, default=0)
    amount_due = models.DecimalField(max_digits=12, decimal_places=2)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    # What the printed bill shows (the member's bill PDF): the meter read and its register at the start
    # and end of the period (kWh = present - previous), and the charges that make up the amount, each
    # {"label": "Energy charge, 577 kWh at $0.1320", "amount": "76.16"}. Empty for bills recorded
    # without them (a migrated history); the PDF then says so.
    meter_number = models.CharField(max_length=30, blank=True)
    previous_read = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    present_read = models.DecimalField(max_digits=12, decimal_places=3, null=True, blank=True)
    charges = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account_id", "-issued_on"]
        indexes = [models.Index(fields=["account", "-issued_on"], name="bill_account_issued_idx")]

    def __str__(self) -> str:
        return self.statement_number


class Payment(models.Model):
    class Method(models.TextChoices):
        CHECK = "check", "Check"
        ACH = "ach", "Bank draft (ACH)"
        CARD = "card", "Card"
        CASH = "cash", "Cash"
        OTHER = "other", "Other"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="payments")
    bill = models.ForeignKey(Bill, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments")
    financial_account = models.ForeignKey(
        FinancialAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    received_at = models.DateTimeField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    method = models.CharField(max_length=10, choices=Method.choices)
    reference = models.CharField(max_length=60, blank=True)
    # The legacy CIS's own payment number (migrated rows only): a re-run skips what is there.
    legacy_number = models.CharField(max_length=30, unique=True, null=True, blank=True)
    returned = models.BooleanField(default=False)
    returned_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account_id", "-received_at"]
        indexes = [models.Index(fields=["account", "-received_at"], name="payment_account_received_idx")]

    def __str__(self) -> str:
        return f"Payment of ${self.amount:,.2f} on {self.account.account_number}"


class ReturnedMail(models.Model):
    """Mail returned as undeliverable although the account is active (a Red Flags notice)."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="returned_mail")
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.PROTECT, related_name="returned_mail")
    returned_on = models.DateField()
    # The address the item was sent to, as a blind index (compare with the current address_index).
    address_index = models.CharField(max_length=16, blank=True)
    # The canonical address it was sent to (mailing addresses are kept in clear), so the index can be
    # recomputed when BLIND_INDEX_KEY rotates.
    sent_to_address = models.CharField(max_length=400, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-returned_on", "-id"]
        verbose_name_plural = "returned mail"

    def __str__(self) -> str:
        return f"Returned mail, {self.returned_on:%b %d, %Y}, {self.member.member_number}"


class StatementNotice(models.Model):
    """A member reports not receiving statements (a Red Flags notice)."""

    class Channel(models.TextChoices):
        PHONE = "phone", "Phone"
        PORTAL = "portal", "Portal"
        MAIL = "mail", "Mail"
        IN_PERSON = "in_person", "In person"

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="statement_notices")
    account = models.ForeignKey(
        Account, null=True, blank=True, on_delete=models.PROTECT, related_name="statement_notices"
    )
    reported_on = models.DateField()
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.PHONE)
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reported_on", "-id"]

    def __str__(self) -> str:
        return f"Statement not received, {self.reported_on:%b %d, %Y}, {self.member.member_number}"


class MigrationRun(models.Model):
    """The reconciliation of one ``manage.py cis_migrate`` run: per entity rows read, loaded, rejected and
    already present, and per amount the files' total against what is stored. Written once when the run
    ends (finished or interrupted) and never changed: UPDATE and DELETE are refused by a trigger. The
    migration lead signs it off with a ``MigrationSignOff`` (accounts/cis_migrate/services.py)."""

    append_only = INSERT_ONLY

    class Outcome(models.TextChoices):
        COMPLETE = "complete", "Complete"
        INTERRUPTED = "interrupted", "Interrupted (re-run to resume)"

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(auto_now_add=True)
    run_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_label = models.CharField(max_length=150)
    source = models.CharField(max_length=500, help_text="The directory the files were read from")
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    # {"members.csv": {"encoding": "cp1252", "sha256": "..."}, ...}
    files = models.JSONField(default=dict)
    # {"members": {"read": n, "loaded": n, "rejected": n, "already_present": n, "complete": true}, ...}
    entities = models.JSONField(default=dict)
    # {"bills.amount_due": {"file": "123.45", "stored": "123.45", "difference": "0.00"}, ...}
    sums = models.JSONField(default=dict)
    balanced = models.BooleanField(help_text="Every entity complete and every sum equal to the cent")
    problems = models.PositiveIntegerField(default=0)
    # The first problems (file, line, field, reason; never a value), for the admin.
    problem_sample = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-finished_at", "-id"]
        triggers = [pgtrigger.Protect(name="migration_run_append_only", operation=pgtrigger.Update | pgtrigger.Delete)]
        permissions = [("sign_off_migrationrun", "Can sign off a CIS migration's reconciliation")]

    def __str__(self) -> str:
        return f"migration {self.pk} of {self.source} ({self.outcome})"


class MigrationSignOff(models.Model):
    """The migration lead's sign-off of a run's reconciliation (one per run, append-only)."""

    append_only = INSERT_ONLY  # the runtime role may only INSERT and SELECT (config/db_roles.py)

    run = models.OneToOneField(MigrationRun, on_delete=models.PROTECT, related_name="sign_off")
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    signed_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True)

    class Meta:
        verbose_name = "migration sign-off"
        verbose_name_plural = "migration sign-offs"
        ordering = ["-signed_at"]
        triggers = [
            pgtrigger.Protect(name="migration_signoff_append_only", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"sign-off of migration {self.run_id}"
