"""The portal's purgeable category on retention's registry: resolved correction and complaint requests,
whose texts may hold an SSN or a date of birth, go after their period (open ones never)."""

from __future__ import annotations

import datetime as dt

from django.db.models import QuerySet

from portal.models import CorrectionRequest
from retention.models import Category
from retention.registry import Purgeable, register


def _resolved(cutoff: dt.date | None) -> QuerySet[CorrectionRequest]:
    resolved = CorrectionRequest.objects.exclude(status__in=CorrectionRequest.OPEN_STATUSES)
    return resolved if cutoff is None else resolved.filter(resolved_at__date__lt=cutoff)


def _delete(ids: list[int]) -> None:
    CorrectionRequest.objects.filter(pk__in=ids).exclude(status__in=CorrectionRequest.OPEN_STATUSES).delete()


def register_purgeable() -> None:
    register(
        Purgeable(
            category=Category.CORRECTION_REQUESTS,
            pending=_resolved,
            destroy=_delete,
            method="rows deleted with their encrypted texts (the audit trail keeps that they existed)",
            object_type="portal.correctionrequest",
            date_field="resolved_at__date",
            member_field="member_id",
            fields=("requested_correction", "explanation", "resolution_note"),
        )
    )
