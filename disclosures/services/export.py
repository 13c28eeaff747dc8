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
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from disclosures import rendering
from disclosures.chain import chain_append
from disclosures.models import (
    Consent,
    DataCategory,
    DisclosureLogEntry,
    LegalBasis,
    MembershipListRequest,
    Purpose,
    Recipient,
)
from disclosures.rendering import CustomerView, EspiView
from disclosures.services.categories import CATEGORY_FIELDS, NOT_HELD, C, clean_categories
from disclosures.services.consents import consent_status_reason
from disclosures.services.export_rows import espi_customer, espi_points, member_rows, released_fields, usage_rows
from disclosures.services.member_copy import CopySection, member_copy_sections
from disclosures.services.parties import recipient_reread
from disclosures.services.planner import Plan, Refusal, authorised_by, plan_release
from disclosures.services.release_notices import release_notices_due
from members import identifiers
from members.actors import Actor, actor_name, signed_in_user
from members.audit import audit_record
from members.notices.services import notice_enqueue

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "json": ("application/json", "json"),
    "espi": ("application/atom+xml", "xml"),
    "espi_cust": ("application/atom+xml", "xml"),  # ESPI RetailCustomer (Connect My Data)
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


def _check_request(*, recipient: Recipient | None, categories: list[str], purpose: str, format: str) -> None:
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
    if format == "espi_cust" and categories != [C.CONTACT]:
        raise Refusal("Green Button RetailCustomer carries contact information only")
    if recipient is not None:
        recipient_reread(recipient)  # a deactivation seconds ago counts
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
    basis_kind: str = "",
) -> DisclosureLogEntry:
    """A refused attempt on the chained log and the audit trail, committed on its own. ``basis_kind``
    names a basis that is not a model (a member's own copy); otherwise it follows ``basis``."""
    named, basis_ref = basis_kind, ""
    if isinstance(basis, Consent):
        basis_kind, basis_ref = "consent", f"consent:{basis.pk}"
    elif isinstance(basis, LegalBasis):
        basis_kind, basis_ref = basis.kind, f"legal_basis:{basis.pk}"
    elif isinstance(basis, MembershipListRequest):
        basis_kind, basis_ref = "membership_list", f"membership_list:{basis.pk}"
    elif basis is None:
        basis_kind = "consent"
    basis_kind = named or basis_kind
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
    usage_start: date | datetime | None = None,
    usage_end: date | datetime | None = None,
    account_ids: Iterable[int] | None = None,
    espi_view: EspiView | CustomerView | None = None,
    note: str = "",
    notify: bool = True,
    on_release: Callable[[], None] | None = None,
) -> Export:
    """THE export path. Returns a streaming ``Export`` or raises ``DisclosureRefused`` (already logged).

    ``basis=None`` means the members' consents: every member released must hold an active consent to
    this recipient for this purpose covering every category; with ``member_ids=None`` the release is
    exactly the members who hold one (e.g. the members who opted in to a partner's program).

    Green Button Connect My Data (connect/) narrows a usage release further: ``account_ids`` (only
    these of the members' accounts), ``espi_view`` (one ESPI resource of the feed instead of all of it),
    ``note`` (the resource and period, kept in the log entry's ``reason``) and ``notify=False`` (the
    member was told once, when authorizing the third party, not at every pull); ``on_release`` runs in
    the release's transaction once it is logged (the authorization's last access).
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
        _check_request(recipient=recipient, categories=cats, purpose=purpose, format=format)
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
    plan.account_ids = sorted({int(a) for a in account_ids}) if account_ids is not None else None
    plan.espi_view = espi_view
    plan.note = note
    plan.notify = notify
    if on_release is not None:
        plan.also_on_release(on_release)
    export._chunks = _stream_release(
        export, plan=plan, actor=actor, format=format, usage_start=usage_start, usage_end=usage_end
    )
    return export


@dataclass
class _Transfer:
    """What a release has sent so far: the members, the rows and the SHA-256 of the exact bytes."""

    released: list[int] = field(default_factory=list)
    rows: int = 0
    digest: Any = field(default_factory=hashlib.sha256)

    def counted(self, rows: Iterator[list]) -> Iterator[list]:
        for row in rows:
            self.rows += 1
            yield row


def _held_back(chunks: Iterator[bytes], digest: Any) -> Iterator[tuple[bytes, bool]]:
    """Each chunk with ``last=True`` on the final one, hashing every chunk as it is produced."""
    previous = None
    for chunk in chunks:
        digest.update(chunk)
        if previous is not None:
            yield previous, False
        previous = chunk
    if previous is not None:
        yield previous, True


def _stream_release(
    export: Export,
    *,
    plan: Plan,
    actor: Actor,
    format: str,
    usage_start: date | datetime | None,
    usage_end: date | datetime | None,
) -> Iterator[bytes]:
    """The release's bytes. The last chunk (a JSON document's closing ``complete`` member) is sent only
    after the release is logged, so a transfer that fails at any point, logging included, never ends
    like a complete file: the response breaks off and the log says ``interrupted``."""
    sent = _Transfer()
    finished = False
    try:
        with transaction.atomic():
            chunks = _render(plan, sent, format=format, start=usage_start, end=usage_end)
            try:
                for chunk, last in _held_back(chunks, sent.digest):
                    if last:
                        export.entry = _log_release(plan, sent, actor=actor, format=format)
                        export.member_ids = sent.released
                    yield chunk
                # Only once the reader came back for more after the last chunk: a reader gone before it
                # rolls the release's entry back, and the interruption is logged instead.
                finished = True
            finally:
                # Close the renderer (and with it the row generators and their server-side cursor) while
                # the transaction that declared the cursor is still open.
                chunks.close()
    finally:
        if not finished:
            _log_interruption(plan, sent, actor=actor, format=format)


def _render(
    plan: Plan, sent: _Transfer, *, format: str, start: date | datetime | None, end: date | datetime | None
) -> Generator[bytes, None, None]:
    """The renderer's chunks for the plan; the readers fill ``sent.released`` as they go."""
    if format == "espi":
        points = espi_points(plan, sent.released, start=start, end=end)
        return rendering.render_espi(points, base_url=settings.SITE_URL, now=timezone.now(), view=plan.espi_view)
    if format == "espi_cust":
        member, accounts = espi_customer(plan, sent.released)
        return rendering.render_espi_customer(
            member=member, accounts=accounts, base_url=settings.SITE_URL, now=timezone.now(), view=plan.espi_view
        )
    if plan.categories == [C.USAGE]:
        header = ["member_number", *CATEGORY_FIELDS[C.USAGE]]
        rows = usage_rows(plan, sent.released, start=start, end=end)
    else:
        header = list(plan.fields)
        rows = member_rows(plan, sent.released)
    if format == "csv":
        return rendering.render_csv(header, sent.counted(rows))
    meta = {"basis": plan.basis_ref, "recipient": plan.recipient_label, "categories": plan.categories}

    def trailer() -> dict:
        return {"members": len(sent.released), "withheld": len(_left_out(plan, sent))}

    return rendering.render_json(header, sent.counted(rows), meta=meta, trailer=trailer)


def _left_out(plan: Plan, sent: _Transfer) -> list[int]:
    """Members the release named but did not send: their consent was no longer in force when their
    page was read (each page re-checks it), or they are no longer on record."""
    if plan.member_ids is None:
        return []
    return sorted(set(plan.member_ids) - set(sent.released))


def _log_left_out(plan: Plan, sent: _Transfer, *, actor: Actor, format: str) -> None:
    """Every member left out of the release is logged as refused, with the reason, in its transaction."""
    left_out = _left_out(plan, sent)
    if not left_out:
        return
    if plan.consent_gate is not None:
        why = consent_status_reason(member_ids=left_out, **plan.consent_gate)
        reason = f"withheld at the moment of release, consent no longer in force: {why}"
    else:
        reason = "withheld at the moment of release: member no longer on record"
    entry = chain_append(
        actor=signed_in_user(actor),
        actor_label=actor_name(actor),
        outcome=DisclosureLogEntry.Outcome.REFUSED,
        recipient=plan.recipient,
        recipient_label=plan.recipient_label,
        basis_kind=plan.basis_kind,
        basis_ref=plan.basis_ref[:300],
        purpose=plan.purpose,
        member_ids=left_out,
        categories=plan.categories,
        fields=[],
        format=format,
        reason=reason,
        notice_withheld=plan.notice_withheld,
    )
    audit_record(
        actor=actor,
        action="disclosure.refused",
        object_type="disclosures.disclosurelogentry",
        object_id=entry.seq,
        reason=reason,
        detail={"member_count": len(left_out), "basis_kind": plan.basis_kind, "at_release": True},
    )


def _log_release(plan: Plan, sent: _Transfer, *, actor: Actor, format: str) -> DisclosureLogEntry:
    """In the transaction that read the data: the chained entry, the audit row, the basis's own effect,
    and a refusal for every member left out at the moment of release."""
    _log_left_out(plan, sent, actor=actor, format=format)
    entry = _append(
        plan,
        sent,
        actor=actor,
        format=format,
        outcome=DisclosureLogEntry.Outcome.RELEASED,
        basis_ref=authorised_by(plan, sent.released),
        fields=released_fields(plan, format),
        reason=plan.note,
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
            "member_count": len(sent.released),
            "categories": plan.categories,
        },
    )
    _notices_due(plan, sent, entry)
    if plan.on_release:
        plan.on_release()
    return entry


# How a notice names the reason a release was allowed, in the member's words.
_BASIS_IN_PLAIN_WORDS = {
    "consent": "you gave us your consent",
    **{kind.value: kind.label for kind in LegalBasis.Kind},
    "member_request": "you asked us to send it",
}


# Aggregated data carries no member's own data; the membership list (names and mailing addresses to a
# member, as the bylaws allow) is announced to the membership by the co-op, not by a notice per release.
_NOT_NOTIFIED = frozenset({LegalBasis.Kind.AGGREGATED, "membership_list"})


def _notices_due(plan: Plan, sent: _Transfer, entry: DisclosureLogEntry) -> None:
    """Each member whose own data left is told, unless a legal order keeps the release quiet. The notices
    are written after commit (release_notices.py); this transaction records only that they are due, so
    the release and the promise of its notices commit together or not at all."""
    if plan.notice_withheld or plan.basis_kind in _NOT_NOTIFIED or not sent.released or not plan.notify:
        return
    from disclosures import tasks  # the tasks module imports this package: bound when a release commits

    release_notices_due(
        entry=entry,
        recipient=plan.recipient_label or "a recipient the co-op is required to answer",
        categories=[DataCategory(category).label.split(" ", 1)[-1] for category in plan.categories],
        basis=_BASIS_IN_PLAIN_WORDS.get(plan.basis_kind, plan.basis_kind),
        send=tasks.release_notices_write.delay,
    )


def _log_interruption(plan: Plan, sent: _Transfer, *, actor: Actor, format: str) -> None:
    """The transfer stopped part-way (client went away, or an error): the bytes already sent are out of
    our hands, so say so on the log, in a transaction of its own (the release's has rolled back)."""
    with transaction.atomic():
        entry = _append(
            plan,
            sent,
            actor=actor,
            format=format,
            outcome=DisclosureLogEntry.Outcome.INTERRUPTED,
            basis_ref=plan.basis_ref,
            fields=plan.fields,
            reason="transfer interrupted before completion; members listed may have been partly sent",
        )
        audit_record(
            actor=actor,
            action="disclosure.interrupted",
            object_type="disclosures.disclosurelogentry",
            object_id=entry.seq,
            fields=plan.fields,
            detail={"member_count": len(sent.released), "basis_kind": plan.basis_kind},
        )


def _append(
    plan: Plan,
    sent: _Transfer,
    *,
    actor: Actor,
    format: str,
    outcome: str,
    basis_ref: str,
    fields: list[str],
    reason: str = "",
) -> DisclosureLogEntry:
    return chain_append(
        actor=signed_in_user(actor),
        actor_label=actor_name(actor),
        outcome=outcome,
        recipient=plan.recipient,
        recipient_label=plan.recipient_label,
        basis_kind=plan.basis_kind,
        basis_ref=basis_ref[:300],
        purpose=plan.purpose,
        member_ids=sent.released,
        categories=plan.categories,
        fields=fields,
        format=format,
        row_count=sent.rows,
        file_sha256=sent.digest.hexdigest(),
        notice_withheld=plan.notice_withheld,
        reason=reason,
    )


# --- The member's full copy of their own data (seed 000 B.2, seed 001 timely access) -------------------

COPY_FORMATS = {"json": ("application/json", "json"), "pdf": ("application/pdf", "pdf")}
# What a full copy carries, as categories on the log: everything held (A.1-A.4).
COPY_CATEGORIES = sorted({DataCategory.CONTACT, DataCategory.BILLING, DataCategory.USAGE, DataCategory.CAPITAL})


def member_copy_export(*, actor: Actor, member, format: str, extra: Iterable[CopySection] = ()) -> Export:
    """A full copy of everything held about ``member``, to the member's own login only.

    Built in memory (one member), then in one transaction: the chained log entry (a release to the member,
    basis ``member_copy``, with the SHA-256 of the exact file), an ``access.member_copy`` audit row (the
    copy shows the member's identifiers in full: a reveal, to the member) and a security notice to the
    member (a stolen session downloading everything should not go unnoticed). Anyone else is refused
    and the refusal logged. The caller (the portal) has checked a fresh password or MFA check.
    """
    user = signed_in_user(actor)
    if format not in COPY_FORMATS:
        reason = f"unknown format {format!r} for a member's copy"
    elif user is None or member.user_id is None or member.user_id != user.pk:
        reason = "a member's full copy goes only to the member's own login"
    else:
        reason = ""
    if reason:
        entry = log_refusal(
            actor=actor,
            recipient=None,
            basis=None,
            categories=COPY_CATEGORIES,
            purpose=Purpose.MEMBER_ACCESS,
            member_ids=[member.pk],
            format=str(format)[:10],
            reason=reason,
            basis_kind="member_copy",
        )
        raise DisclosureRefused(reason, entry)
    content_type, extension = COPY_FORMATS[format]
    now = timezone.now()
    with transaction.atomic():
        sections = member_copy_sections(member=member, extra=extra)
        meta = {
            "coop": settings.COOP_NAME,
            "member_number": member.member_number,
            "prepared_at": now,
            "prepared_at_text": timezone.localtime(now).strftime("%B %d, %Y at %I:%M %p"),
        }
        if format == "json":
            document = rendering.render_member_copy_json(meta=meta, sections=sections)
        else:
            document = rendering.render_member_copy_pdf(meta=meta, sections=sections)
        rows = sum(len(section.rows) for section in sections)
        entry = chain_append(
            actor=user,
            actor_label=actor_name(actor),
            outcome=DisclosureLogEntry.Outcome.RELEASED,
            recipient=None,
            recipient_label="the member (full copy, member portal)",
            basis_kind="member_copy",
            basis_ref="member portal: the member's own full copy after a fresh sign-in check",
            purpose=Purpose.MEMBER_ACCESS,
            member_ids=[member.pk],
            categories=COPY_CATEGORIES,
            fields=[section.key for section in sections],
            format=format,
            row_count=rows,
            file_sha256=hashlib.sha256(document).hexdigest(),
        )
        audit_record(
            actor=actor,
            action="access.member_copy",
            obj=member,
            fields=[field.name for field in identifiers.fields_of("members.Member") if field.encrypted],
            detail={"channel": "portal", "format": format, "disclosure_seq": entry.seq, "rows": rows},
        )
        notice_enqueue(
            actor=actor,
            kind="data_copy_downloaded",
            member=member,
            context={"when": now, "format": "a PDF document" if format == "pdf" else "a JSON data file"},
        )
    stamp = timezone.localtime(now).strftime("%Y%m%d-%H%M")
    return Export(
        filename=f"my-information-{stamp}.{extension}",
        content_type=content_type,
        _chunks=iter([document]),
        entry=entry,
        member_ids=[member.pk],
    )
