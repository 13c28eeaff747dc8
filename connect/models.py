"""Green Button Connect My Data: third parties and the authorizations members give them (issue 17).

The co-op is the ESPI Data Custodian. A ``ThirdParty`` applies; the Privacy Officer's approval creates
the disclosures ``Recipient`` with its confidentiality agreement and the OAuth client
(django-oauth-toolkit's ``Application``). A member's ``Authorization`` is the ESPI
Authorization/Subscription: it rests on a written ``disclosures.Consent`` (the evidence, with the
exact wording shown) and narrows it to chosen accounts and a data period. Every pull goes through the
disclosures export gate, which re-reads the consent at the moment of the pull.

Threat: a third party reading more than the member chose (other accounts, other periods, other
categories), after the member or the co-op ended its access, or faster than the co-op allows.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from disclosures.models import DataCategory


class ThirdParty(models.Model):
    """A company that asked to collect members' data through Green Button Connect My Data."""

    class Status(models.TextChoices):
        APPLIED = "applied", "Waiting for the Privacy Officer"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"
        SUSPENDED = "suspended", "Suspended"

    class Frequency(models.TextChoices):
        HOURLY = "hourly", "every hour"
        DAILY = "daily", "once a day"
        MONTHLY = "monthly", "once a month"

    name = models.CharField(max_length=200, unique=True)
    contact_name = models.CharField(max_length=200)
    contact_email = models.EmailField()
    contact_phone = models.CharField(max_length=32, blank=True)
    website = models.URLField(blank=True)
    purpose = models.TextField(help_text="What the third party does with the data, in its own words")
    redirect_uris = models.TextField(help_text="One per line; exact match, https (loopback http for testing)")
    notify_uri = models.URLField(
        blank=True, help_text="ESPI thirdPartyNotifyUri: where new data is announced (BatchList); blank: it polls"
    )
    categories = ArrayField(models.CharField(max_length=20, choices=DataCategory.choices))
    frequency = models.CharField(max_length=10, choices=Frequency.choices, default=Frequency.DAILY)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.APPLIED, db_index=True)
    applied_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    recipient = models.OneToOneField(
        "disclosures.Recipient", null=True, blank=True, on_delete=models.PROTECT, related_name="third_party"
    )
    agreement = models.ForeignKey(
        "disclosures.ConfidentialityAgreement", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    application = models.OneToOneField(
        settings.OAUTH2_PROVIDER_APPLICATION_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="third_party",
    )

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "third parties"
        permissions = [("decide_thirdparty", "Can approve, decline or suspend a Connect My Data third party")]

    def __str__(self) -> str:
        return self.name

    @property
    def redirect_uri_list(self) -> list[str]:
        return [uri.strip() for uri in self.redirect_uris.split() if uri.strip()]


class Authorization(models.Model):
    """A member's authorization of one third party (the ESPI Authorization; its id is the Subscription id).

    One in force per member and third party: authorizing again ends the earlier one. ``ended_at`` is set
    when it ends (member revocation, a new authorization, suspension of the third party); the consent
    underneath is revoked at the same moment and the record stays.
    """

    class EndReason(models.TextChoices):
        MEMBER = "member", "Ended by the member"
        REPLACED = "replaced", "Replaced by a newer authorization"
        SUSPENDED = "suspended", "Third party suspended by the co-op"

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="connect_authorizations")
    third_party = models.ForeignKey(ThirdParty, on_delete=models.PROTECT, related_name="authorizations")
    consent = models.OneToOneField(
        "disclosures.Consent", on_delete=models.PROTECT, related_name="connect_authorization"
    )
    account_ids = ArrayField(models.BigIntegerField())
    categories = ArrayField(models.CharField(max_length=20, choices=DataCategory.choices))
    scope = models.TextField(help_text="The OAuth scopes granted, space-separated")
    data_from = models.DateField(help_text="Earliest day of data the third party may read")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=10, choices=EndReason.choices, blank=True)
    last_access_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["member", "third_party"],
                condition=models.Q(ended_at__isnull=True),
                name="connect_one_live_authorization",
            ),
            models.CheckConstraint(
                condition=models.Q(expires_at__gt=models.F("created_at")), name="connect_authorization_expires_later"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.third_party} for member {self.member_id}"

    @property
    def categories_label(self) -> str:
        return ", ".join(DataCategory(category).label.split(" ", 1)[-1] for category in self.categories)

    def in_force(self, at=None) -> bool:
        at = at or timezone.now()
        return self.ended_at is None and self.expires_at > at


class WithdrawnToken(models.Model):
    """The SHA-256 of every token withdrawn with an authorization, so a later pull with it is refused
    *and logged against that authorization* (django-oauth-toolkit deletes revoked tokens)."""

    token_sha256 = models.CharField(max_length=64, unique=True)
    authorization = models.ForeignKey(Authorization, on_delete=models.PROTECT, related_name="+")
    withdrawn_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"token withdrawn with authorization {self.authorization_id}"


class Notification(models.Model):
    """An ESPI push notification: a BatchList of the resource URIs with new data, POSTed to the third
    party's notify URI (connect/notifications.py). An outbox row, written after the usage load commits
    and delivered by a Celery task after its own commit, with retries and a sweep (connect/tasks.py).
    Holds URIs only, never member data: the third party then pulls, through the gate, as usual."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Delivered"
        FAILED = "failed", "Gave up"

    third_party = models.ForeignKey(ThirdParty, on_delete=models.PROTECT, related_name="notifications")
    resources = ArrayField(models.CharField(max_length=500))
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"notification {self.pk} to {self.third_party_id}: {self.state}"
