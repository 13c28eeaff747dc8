"""THE export path: ``disclosure_export``, the one way member information leaves the co-op.

The gate (seed 000 F, seed 001):

1. checks the request (purpose, format, categories held, recipient active) and resolves the basis
   (planner.py): the member's consent, a ``LegalBasis`` or an approved ``MembershipListRequest``;
   aggregated data goes through ``aggregate_export`` (aggregate.py);
2. trims the data to the categories and fields the basis allows;
3. renders CSV / JSON / Green Button XML as a stream (export_rows.py reads the rows), and in the same
   transaction as the last chunk appends the hash-chained log entry (member ids, categories, basis,
   SHA-256 of the exact bytes sent) and an audit row;
4. refuses anything else, logging the refused attempt with its reason before raising
   ``DisclosureRefused``.

There is no purpose for selling, renting or exchanging member information (seed 000 F.5): ``Purpose``
has no such value and unknown purposes are refused.

Transactions: the release is logged in the transaction that reads the data. A refusal is committed
in its own transaction; callers must not wrap ``disclosure_export`` in an atomic block that they
roll back on ``DisclosureRefused`` (the refusal record would go with it). A stream abandoned half-way
(client disconnect) rolls back and is then logged as ``interrupted`` with what had been sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from disclosures import rendering
from disclosures.chain import chain_append
from disclosures.models import Consent, DisclosureLogEntry, LegalBasis, MembershipListRequest, Purpose, Recipient
from disclosures.services.categories import CATEGORY_FIELDS, NOT_HELD, C, clean_categories
from disclosures.services.consents import active_consents
from disclosures.services.export_rows import espi_points, member_rows, usage_rows
from disclosures.services.planner import Plan, Refusal, plan_release
from members.actors import Actor, actor_name, signed_in_user
from members.audit import audit_record

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "espi": ("application/atom+xml", "xml"),
}


class DisclosureRefused(Exception):
    """The release was refused; ``entry`` is the logged refusal."""

    def __init__(self, reason: str, entry: DisclosureLogEntry | None = None):
        super().__init__(reason)
        self.reason = reason
        self.entry = entry


@dataclass
class Export:
    """A release in progress: iterate ``chunks()`` once (e.g. into a StreamingHttpResponse)."""

    filename: str
    content_type: str
    _chunks: Iterator[bytes]
    entry: DisclosureLogEntry | None = None
    member_ids: list[int] = field(default_factory=list)

    def chunks(self) -> Iterator[bytes]:
        return self._chunks

    def read_all(self) -> bytes:
        """For small exports and tests only: the whole file in memory."""
        return b"".join(self._chunks)


def check_request(*, recipient: Recipient | None, categories: list[str], purpose: str, format: str) -> None:
    """What any release must satisfy whatever its basis, or ``Refusal``. Reads the recipient afresh."""
    if purpose not in Purpose.values:
        raise Refusal(
            f"unknown purpose {purpose!r}: there is no purpose for selling, renting or exchanging member information"
        )
    if format not in FORMATS:
        raise Refusal(f"unknown format {format!r}")
    not_held = sorted(set(categories) & NOT_HELD)
    if not_held:
        raise Refusal(f"categories not held in MemberGuard cannot be exported: {', '.join(not_held)}")
    if C.USAGE in categories and len(categories) > 1:
        raise Refusal("usage data is exported on its own, not combined with other categories")
    if format == "espi" and categories != [C.USAGE]:
        raise Refusal("Green Button XML carries usage data only")
    if recipient is not None:
        recipient.refresh_from_db(fields=["is_active", "kind", "name"])  # a deactivation seconds ago counts
        if not recipient.is_active:
            raise Refusal("the recipient is not active")


def log_refusal(
    *,
    actor: Actor,
    recipient: Recipient | None,
    basis: Consent | LegalBasis | MembershipListRequest | None,
    categories: Iterable[str],
    purpose: str,
    member_ids: Iterable[int] | None,
    format: str,
    reason: str,
) -> DisclosureLogEntry:
    basis_kind, basis_ref = "", ""
    if isinstance(basis, Consent):
        basis_kind, basis_ref = "consent", f"consent:{basis.pk}"
    elif isinstance(basis, LegalBasis):
        basis_kind, basis_ref = basis.kind, f"legal_basis:{basis.pk}"
    elif isinstance(basis, MembershipListRequest):
        basis_kind, basis_ref = "membership_list", f"membership_list:{basis.pk}"
    elif basis is None:
        basis_kind = "consent"
    with transaction.atomic():
        entry = chain_append(
            actor=signed_in_user(actor),
            actor_label=actor_name(actor),
            outcome=DisclosureLogEntry.Outcome.REFUSED,
            recipient=recipient,
            recipient_label=recipient.name if recipient else "",
            basis_kind=basis_kind,
            basis_ref=basis_ref,
            purpose=str(purpose or "")[:20],
            member_ids=sorted(set(member_ids or [])),
            categories=[str(c) for c in categories],
            fields=[],
            format=str(format)[:10],
            reason=reason,
        )
        audit_record(
            actor=actor,
            action="disclosure.refused",
            object_type="disclosures.disclosurelogentry",
            object_id=entry.seq,
            reason=reason,
            detail={"recipient_id": recipient.pk if recipient else None, "basis_kind": basis_kind},
        )
    return entry


def disclosure_export(
    *,
    actor: Actor,
    recipient: Recipient | None,
    categories: Iterable[str],
    purpose: str,
    basis: Consent | LegalBasis | MembershipListRequest | None = None,
    member_ids: Iterable[int] | None = None,
    fields: Iterable[str] | None = None,
    format: str = "csv",
    usage_start: date | None = None,
    usage_end: date | None = None,
) -> Export:
    """THE export path. Returns a streaming ``Export`` or raises ``DisclosureRefused`` (already logged).

    ``basis=None`` means the members' consents: every member released must hold an active consent to
    this recipient for this purpose covering every category; with ``member_ids=None`` the release is
    exactly the members who hold one (e.g. the members who opted in to a partner's program).
    """
    member_list = sorted({int(m) for m in member_ids}) if member_ids is not None else None
    try:
        cats = clean_categories(categories)
    except ValidationError as exc:
        raise DisclosureRefused(
            "; ".join(exc.messages),
            log_refusal(
                actor=actor,
                recipient=recipient,
                basis=basis,
                categories=[],
                purpose=purpose,
                member_ids=member_list,
                format=format,
                reason="; ".join(exc.messages),
            ),
        ) from None
    try:
        check_request(recipient=recipient, categories=cats, purpose=purpose, format=format)
        plan = plan_release(
            basis=basis,
            recipient=recipient,
            categories=cats,
            purpose=purpose,
            member_ids=member_list,
            fields=list(fields) if fields is not None else None,
        )
    except Refusal as refusal:
        reason = str(refusal)
        entry = log_refusal(
            actor=actor,
            recipient=recipient,
            basis=basis,
            categories=cats,
            purpose=purpose,
            member_ids=member_list,
            format=format,
            reason=reason,
        )
        raise DisclosureRefused(reason, entry) from None
    content_type, extension = FORMATS[format]
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    export = Export(
        filename=f"memberguard-{plan.basis_kind}-{stamp}.{extension}", content_type=content_type, _chunks=iter(())
    )
    export._chunks = stream_release(
        export, plan=plan, actor=actor, format=format, usage_start=usage_start, usage_end=usage_end
    )
    return export


def stream_release(
    export: Export, *, plan: Plan, actor: Actor, format: str, usage_start: date | None, usage_end: date | None
) -> Iterator[bytes]:
    digest = hashlib.sha256()
    released: list[int] = []
    rows_sent = 0
    finished = False
    try:
        with transaction.atomic():
            if format == "espi":
                chunks = rendering.render_espi(
                    espi_points(plan, released, start=usage_start, end=usage_end),
                    base_url=settings.SITE_URL,
                    now=timezone.now(),
                )
            else:
                if plan.categories == [C.USAGE]:
                    header = ["member_number", *CATEGORY_FIELDS[C.USAGE]]
                    rows = usage_rows(plan, released, start=usage_start, end=usage_end)
                else:
                    header = list(plan.fields)
                    rows = member_rows(plan, released)

                def counted(rows=rows):
                    nonlocal rows_sent
                    for row in rows:
                        rows_sent += 1
                        yield row

                if format == "csv":
                    chunks = rendering.render_csv(header, counted())
                else:
                    chunks = rendering.render_json(
                        header,
                        counted(),
                        meta={
                            "basis": plan.basis_ref,
                            "recipient": plan.recipient_label,
                            "categories": plan.categories,
                        },
                    )
            try:
                for chunk in chunks:
                    digest.update(chunk)
                    yield chunk
            finally:
                # Close the renderer (and with it the row generators and their server-side cursor) while
                # the transaction that declared the cursor is still open.
                chunks.close()
            basis_ref = plan.basis_ref
            if plan.consent_gate is not None and released:
                # Which consent records authorised this release, read in the same transaction.
                authorising = active_consents(**plan.consent_gate)
                if plan.member_ids is not None:
                    authorising = authorising.filter(member_id__in=plan.member_ids)
                consents = authorising.aggregate(low=Min("pk"), high=Max("pk"), n=Count("pk"))
                if consents["n"]:
                    basis_ref += (
                        f" consent:{consents['low']}"
                        if consents["n"] == 1
                        else f" consents {consents['low']}..{consents['high']} ({consents['n']})"
                    )
            entry = chain_append(
                actor=signed_in_user(actor),
                actor_label=actor_name(actor),
                outcome=DisclosureLogEntry.Outcome.RELEASED,
                recipient=plan.recipient,
                recipient_label=plan.recipient_label,
                basis_kind=plan.basis_kind,
                basis_ref=basis_ref[:300],
                purpose=plan.purpose,
                member_ids=released,
                categories=plan.categories,
                fields=plan.fields if format != "espi" else ["interval_readings"],
                format=format,
                row_count=rows_sent,
                file_sha256=digest.hexdigest(),
                notice_withheld=plan.notice_withheld,
            )
            audit_record(
                actor=actor,
                action="disclosure.released",
                object_type="disclosures.disclosurelogentry",
                object_id=entry.seq,
                fields=plan.fields,
                detail={
                    "recipient_id": plan.recipient.pk if plan.recipient else None,
                    "basis_kind": plan.basis_kind,
                    "member_count": len(released),
                    "categories": plan.categories,
                },
            )
            if plan.on_release:
                plan.on_release()
            export.entry = entry
            export.member_ids = released
            finished = True
    finally:
        if not finished:
            # The transfer stopped part-way (client went away, or an error): the bytes already sent are
            # out of our hands, so say so on the log.
            with transaction.atomic():
                interrupted = chain_append(
                    actor=signed_in_user(actor),
                    actor_label=actor_name(actor),
                    outcome=DisclosureLogEntry.Outcome.INTERRUPTED,
                    recipient=plan.recipient,
                    recipient_label=plan.recipient_label,
                    basis_kind=plan.basis_kind,
                    basis_ref=plan.basis_ref[:300],
                    purpose=plan.purpose,
                    member_ids=released,
                    categories=plan.categories,
                    fields=plan.fields,
                    format=format,
                    row_count=rows_sent,
                    file_sha256=digest.hexdigest(),
                    notice_withheld=plan.notice_withheld,
                    reason="transfer interrupted before completion; members listed may have been partly sent",
                )
                audit_record(
                    actor=actor,
                    action="disclosure.interrupted",
                    object_type="disclosures.disclosurelogentry",
                    object_id=interrupted.seq,
                    fields=plan.fields,
                    detail={"member_count": len(released), "basis_kind": plan.basis_kind},
                )
