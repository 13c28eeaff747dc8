"""Aggregated data (seed 000 D.2, F.3; seed 001): group totals leave only when every group meets the
aggregation standard, so no individual's habits can be read from them.

The standard is at least ``AGGREGATION_MIN_MEMBERS`` members per group and no member above
``AGGREGATION_MAX_SHARE_PERCENT`` of the group's total. A failing group refuses the whole release, logged
(never a silent partial release). The log entry carries no member ids, only ``member_count``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from disclosures import rendering
from disclosures.chain import chain_append
from disclosures.models import DisclosureLogEntry, LegalBasis, Purpose, Recipient
from disclosures.services.categories import C
from disclosures.services.export import FORMATS, DisclosureRefused, Export, log_refusal
from members.actors import Actor, actor_name, signed_in_user
from members.audit import audit_record


def aggregation_problems(
    groups: dict[str, dict[int, Decimal | int | float]],
    *,
    min_members: int | None = None,
    max_share_percent: int | None = None,
) -> list[str]:
    """Every group that fails the aggregation standard, with why. Empty list = releasable."""
    min_members = settings.AGGREGATION_MIN_MEMBERS if min_members is None else min_members
    max_share = (
        Decimal(settings.AGGREGATION_MAX_SHARE_PERCENT if max_share_percent is None else max_share_percent) / 100
    )
    problems = []
    if not groups:
        problems.append("there are no groups to release")
    for name, contributions in groups.items():
        members = len(contributions)
        total = sum((Decimal(str(v)) for v in contributions.values()), Decimal(0))
        if members < min_members:
            problems.append(f"group {name!r} has {members} members; the standard needs at least {min_members}")
            continue
        if total > 0:
            largest = max(Decimal(str(v)) for v in contributions.values())
            if largest / total > max_share:
                problems.append(
                    f"group {name!r}: one member contributes {largest / total:.0%} of the total; "
                    f"the standard allows at most {max_share:.0%}"
                )
    return problems


def aggregate_export(
    *,
    actor: Actor,
    basis: LegalBasis,
    recipient: Recipient | None,
    groups: dict[str, dict[int, Decimal | int | float]],
    metric: str = "kwh",
    format: str = "csv",
) -> Export:
    """Release group totals only when every group meets the standard; otherwise refuse, logged, with the
    reason (never a silent partial release)."""
    basis = LegalBasis.objects.get(pk=basis.pk)
    now = timezone.now()
    reason = ""
    if basis.kind != LegalBasis.Kind.AGGREGATED:
        reason = "aggregate releases need an aggregated-data basis"
    elif basis.revoked_at:
        reason = f"legal_basis:{basis.pk} revoked {basis.revoked_at:%Y-%m-%d}"
    elif basis.valid_until <= now:
        reason = f"legal_basis:{basis.pk} expired {basis.valid_until:%Y-%m-%d}"
    elif basis.recipient_id != (recipient.pk if recipient else None):
        reason = f"legal_basis:{basis.pk} is for another recipient"
    elif format not in ("csv", "json"):
        reason = f"unknown format {format!r}"
    else:
        problems = aggregation_problems(groups)
        if problems:
            reason = "aggregation standard not met: " + "; ".join(problems)
    if reason:
        entry = log_refusal(
            actor=actor,
            recipient=recipient,
            basis=basis,
            categories=[C.USAGE],
            purpose=Purpose.AGGREGATE_REPORTING,
            member_ids=[],
            format=format,
            reason=reason,
        )
        raise DisclosureRefused(reason, entry)
    rows = []
    for name in sorted(groups):
        contributions = groups[name]
        total = sum((Decimal(str(v)) for v in contributions.values()), Decimal(0))
        rows.append([name, len(contributions), total, (total / len(contributions)).quantize(Decimal("0.001"))])
    header = ["group", "members", f"total_{metric}", f"mean_{metric}"]
    member_count = sum(len(c) for c in groups.values())

    def _stream() -> Iterator[bytes]:
        digest = hashlib.sha256()
        with transaction.atomic():
            chunks = (
                rendering.render_csv(header, rows)
                if format == "csv"
                else rendering.render_json(header, rows, meta={"basis": f"legal_basis:{basis.pk}"})
            )
            for chunk in chunks:
                digest.update(chunk)
                yield chunk
            entry = chain_append(
                actor=signed_in_user(actor),
                actor_label=actor_name(actor),
                outcome=DisclosureLogEntry.Outcome.RELEASED,
                recipient=recipient,
                recipient_label=recipient.name if recipient else "",
                basis_kind=LegalBasis.Kind.AGGREGATED,
                basis_ref=f"legal_basis:{basis.pk} aggregated",
                purpose=Purpose.AGGREGATE_REPORTING,
                member_ids=[],
                member_count=member_count,
                categories=[C.USAGE],
                fields=header,
                format=format,
                row_count=len(rows),
                file_sha256=digest.hexdigest(),
            )
            audit_record(
                actor=actor,
                action="disclosure.released",
                object_type="disclosures.disclosurelogentry",
                object_id=entry.seq,
                fields=header,
                detail={"legal_basis_id": basis.pk, "groups": len(rows), "member_count": member_count},
            )
            export.entry = entry

    export = Export(
        filename=f"memberguard-aggregate-{timezone.localtime():%Y%m%d-%H%M%S}.{format}",
        content_type=FORMATS[format][0],
        _chunks=iter(()),
    )
    export._chunks = _stream()
    return export
