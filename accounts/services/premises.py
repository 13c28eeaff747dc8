"""Premises (service locations, with the encrypted gate code and meter-reading notes) and meters."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Meter, Premise
from accounts.services.common import send_change
from members import validation
from members.actors import Actor
from members.audit import audit_record
from members.crypto import blind_index, nfkc
from members.services import clean_address, next_number

_UNSET: Any = object()


def premise_create(
    *,
    actor: Actor,
    service_line1: str,
    service_line2: str = "",
    service_city: str,
    service_state: str,
    service_postal_code: str,
    premise_number: str | None = None,
    meter_reading_notes: str = "",
    gate_code: str = "",
    dog_warning: bool = False,
) -> Premise:
    collector = validation.Collector()
    address = clean_address(
        collector, "service_", service_line1, service_line2, service_city, service_state, service_postal_code
    )
    if premise_number and Premise.objects.filter(premise_number=premise_number).exists():
        collector.add("premise_number", "A premise with this number already exists.")
    if len(gate_code or "") > 40:
        collector.add("gate_code", "Keep the gate code under 40 characters.")
    address = collector.require(address)
    premise = Premise(
        premise_number=premise_number or "",
        address_index=blind_index("address", address.as_tuple()),
        meter_reading_notes=nfkc(meter_reading_notes) or None,
        gate_code=nfkc(gate_code) or None,
        dog_warning=dog_warning,
    )
    (
        premise.service_line1,
        premise.service_line2,
        premise.service_city,
        premise.service_state,
        premise.service_postal_code,
    ) = address.as_tuple()
    with transaction.atomic():
        if not premise.premise_number:
            premise.premise_number = next_number("accounts_premise_number_seq", "P", 7)
        premise.save(force_insert=True)
        audit_record(
            actor=actor,
            action="premise.created",
            obj=premise,
            fields=[f for f in ("meter_reading_notes", "gate_code", "dog_warning") if getattr(premise, f)],
        )
        send_change("premise.created", actor=actor, fields=["service_address"], new={"address": premise.address_index})
    return premise


def premise_change_field_notes(
    *,
    actor: Actor,
    premise: Premise,
    meter_reading_notes: Any = _UNSET,
    gate_code: Any = _UNSET,
    dog_warning: Any = _UNSET,
) -> Premise:
    fields = []
    if meter_reading_notes is not _UNSET:
        premise.meter_reading_notes = nfkc(meter_reading_notes or "") or None
        fields.append("meter_reading_notes")
    if gate_code is not _UNSET:
        if len(gate_code or "") > 40:
            raise ValidationError({"gate_code": ["Keep the gate code under 40 characters."]})
        premise.gate_code = nfkc(gate_code or "") or None
        fields.append("gate_code")
    if dog_warning is not _UNSET:
        premise.dog_warning = bool(dog_warning)
        fields.append("dog_warning")
    if not fields:
        return premise
    with transaction.atomic():
        premise.save(update_fields=[*fields, "updated_at"])
        audit_record(actor=actor, action="premise.field_notes_changed", obj=premise, fields=fields)
    return premise


def meter_install(
    *,
    actor: Actor,
    premise: Premise,
    meter_number: str,
    has_solar: bool = False,
    installed_on: datetime.date | None = None,
) -> Meter:
    number = nfkc(meter_number).upper()
    if not number:
        raise ValidationError({"meter_number": ["The meter number is required."]})
    if Meter.objects.filter(meter_number=number).exists():
        raise ValidationError({"meter_number": ["A meter with this number already exists."]})
    with transaction.atomic():
        meter = Meter.objects.create(
            premise=premise, meter_number=number, has_solar=has_solar, installed_on=installed_on or timezone.localdate()
        )
        audit_record(
            actor=actor,
            action="meter.installed",
            obj=meter,
            fields=["meter_number", "has_solar"],
            detail={"premise_id": premise.pk},
        )
        send_change("meter.installed", actor=actor, fields=["meter_number"])
    return meter
