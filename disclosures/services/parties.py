"""Who may receive member information: the recipients register and their confidentiality agreements.

A recipient's kind decides which bases can name it (bases.py, planner.py); an agreement (seed 000 F.2)
is what lets a contractor or another utility receive data without each member's consent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.core.exceptions import ValidationError
from django.db import connection, transaction

from disclosures.models import ConfidentialityAgreement, Recipient
from disclosures.services.categories import clean_categories
from members.actors import Actor, signed_in_user
from members.audit import audit_record


@transaction.atomic
def recipient_create(
    *,
    actor: Actor,
    name: str,
    kind: str,
    contact_name: str = "",
    contact_email: str = "",
    address: str = "",
    notes: str = "",
) -> Recipient:
    if kind not in Recipient.Kind.values:
        raise ValidationError(f"Unknown recipient kind {kind!r}.")
    if not name.strip():
        raise ValidationError("A recipient needs a name.")
    recipient = Recipient(
        name=name.strip(),
        kind=kind,
        contact_name=contact_name,
        contact_email=contact_email,
        address=address,
        notes=notes,
        created_by=signed_in_user(actor),
    )
    recipient.full_clean()
    recipient.save()
    audit_record(
        actor=actor,
        action="disclosures.recipient_created",
        obj=recipient,
        fields=["name", "kind"],
        detail={"kind": kind},
    )
    return recipient


@transaction.atomic
def recipient_deactivate(*, actor: Actor, recipient: Recipient, reason: str) -> Recipient:
    """Stop every release to a recipient (consents and bases stay on record)."""
    recipient = Recipient.objects.select_for_update(no_key=True).get(pk=recipient.pk)
    if not recipient.is_active:
        raise ValidationError("The recipient is already inactive.")
    if not reason.strip():
        raise ValidationError("Give the reason (e.g. contract ended, breach).")
    recipient.is_active = False
    recipient.save(update_fields=["is_active"])
    audit_record(
        actor=actor, action="disclosures.recipient_deactivated", obj=recipient, fields=["is_active"], reason=reason
    )
    return recipient


@transaction.atomic
def recipient_reactivate(*, actor: Actor, recipient: Recipient, reason: str) -> Recipient:
    """Allow releases to a deactivated recipient again (each still needs its own basis in force)."""
    recipient = Recipient.objects.select_for_update(no_key=True).get(pk=recipient.pk)
    if recipient.is_active:
        raise ValidationError("The recipient is already active.")
    if not reason.strip():
        raise ValidationError("Give the reason (e.g. breach resolved, contract renewed).")
    recipient.is_active = True
    recipient.save(update_fields=["is_active"])
    audit_record(
        actor=actor, action="disclosures.recipient_reactivated", obj=recipient, fields=["is_active"], reason=reason
    )
    return recipient


@transaction.atomic
def agreement_record(
    *,
    actor: Actor,
    recipient: Recipient,
    reference: str,
    scope: str,
    categories: Iterable[str],
    signed_on: date,
    effective_from: date,
    expires_on: date,
    document_reference: str = "",
) -> ConfidentialityAgreement:
    cats = clean_categories(categories)
    if expires_on < effective_from:
        raise ValidationError("The agreement expires before it takes effect.")
    if not scope.strip() or not reference.strip():
        raise ValidationError("An agreement needs a reference and the scope of the services.")
    agreement = ConfidentialityAgreement.objects.create(
        recipient=recipient,
        reference=reference.strip(),
        scope=scope.strip(),
        categories=cats,
        signed_on=signed_on,
        effective_from=effective_from,
        expires_on=expires_on,
        document_reference=document_reference,
        recorded_by=signed_in_user(actor),
    )
    audit_record(
        actor=actor,
        action="disclosures.agreement_recorded",
        obj=agreement,
        fields=["categories", "effective_from", "expires_on"],
        detail={"recipient_id": recipient.pk, "categories": cats, "expires_on": expires_on.isoformat()},
    )
    return agreement


def recipient_reread(recipient: Recipient) -> None:
    """The recipient's name, kind and whether it is active, read afresh (one plain query per release)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT is_active, kind, name FROM {Recipient._meta.db_table} WHERE id = %s",  # noqa: S608 - the model's
            [recipient.pk],
        )
        row = cursor.fetchone()
    if row is None:
        raise Recipient.DoesNotExist(f"recipient #{recipient.pk} is not on record")
    recipient.is_active, recipient.kind, recipient.name = row
