"""The shared SSN/TIN scan: Red Flag B5 for members loaded without an opening (the legacy CIS import).

The CIS import loads members by ``COPY``, with no opening and no ``registry_changed``, so B5 never saw
them. The scan groups every member's taxpayer number by value (bulk Fernet decryption, keyset pages),
and each member of a group is scored through the engine like any other event, so the active rule
version, thresholds, review queue, warning and audit apply. Plaintexts live only in the grouping
function's memory; errors and evidence name member ids and numbers, never a taxpayer number.
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Iterable

from django.db import connection, transaction

from members import crypto, fernet_bulk
from members.audit import audit_record
from members.faults import pause_point
from members.models import Member
from redflags.events import TAX_ID_SCAN, Event
from redflags.models import Flag, ReviewItem
from redflags.services.assessments import event_assess

TAX_ID_SCAN_CHUNK = 10_000
_B5 = "B5_SSN_SHARED"


class TaxIdScanError(RuntimeError):
    """The scan cannot read a member's SSN/TIN (it names the member id, never a value)."""


def _canonical_tax_id(plain: bytes) -> bytes | None:
    # Stored values are the validated nine ASCII digits; anything else goes through the canonicaliser.
    if len(plain) == 9 and plain.isdigit():
        return plain
    try:
        return crypto.canonical_tax_id(plain.decode()).encode() if plain else None
    except (crypto.CanonicalisationError, UnicodeDecodeError):
        return None  # not a taxpayer number: it cannot match anyone (B5 would not match it either)


def _decrypt_by_id(keys: list[bytes], pairs: list[tuple[int, bytes]]) -> dict[int, bytes]:
    """``{member id: plaintext}`` for ``(member id, token)`` pairs, in one bulk call."""
    if not pairs:
        return {}
    ids = [pk for pk, _ in pairs]
    try:
        plaintexts, _ = fernet_bulk.decrypt_many(keys, [token for _, token in pairs])
    except fernet_bulk.BulkInvalidToken as exc:
        raise TaxIdScanError(
            f"member id {ids[exc.index]}: its SSN/TIN does not decrypt under any configured Fernet key"
        ) from None
    return dict(zip(ids, plaintexts, strict=True))


def shared_tax_id_groups(*, chunk: int = TAX_ID_SCAN_CHUNK) -> tuple[int, list[list[int]]]:
    """``(members read, groups)``: every set of two or more members with the same SSN/TIN, by member id.

    Set-based: every member's taxpayer number is decrypted in bulk (``members.fernet_bulk``, ~2 µs a
    value; keyset pages by id) and grouped by its canonical form, so a match is confirmed by value, not
    by the 12-bit blind index (which ~25 members share at 100,000 members). The taxpayer number is the
    one the registry indexes, ``ssn or tin`` (members.services), so an SSN and a business TIN with the
    same nine digits are one number, as for B5 at opening. The plaintexts live only in this function's
    memory.
    """
    keys = crypto.derived_fernet_keys()
    first_of: dict[bytes, int] = {}
    groups: dict[int, list[int]] = {}
    read, last_id = 0, 0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT id, ssn, tin FROM members_member "
                "WHERE id > %s AND (ssn IS NOT NULL OR tin IS NOT NULL) ORDER BY id LIMIT %s",
                [last_id, chunk],
            )
            rows = cursor.fetchall()
            if not rows:
                break
            last_id = rows[-1][0]
            read += len(rows)
            values = _decrypt_by_id(keys, [(pk, bytes(ssn)) for pk, ssn, _ in rows if ssn is not None])
            # A member without an SSN is indexed by its TIN (members.services: ``ssn or tin``).
            values.update(
                _decrypt_by_id(
                    keys, [(pk, bytes(tin)) for pk, _, tin in rows if tin is not None and not values.get(pk)]
                )
            )
            for pk, _, _ in rows:
                value = _canonical_tax_id(values.get(pk) or b"")
                if value is None:
                    continue
                first = first_of.setdefault(value, pk)
                if first != pk:
                    groups.setdefault(first, [first]).append(pk)
            values.clear()
    first_of.clear()
    return read, list(groups.values())


def _already_flagged(group_of: dict[int, list[int]]) -> set[int]:
    """Members the scan leaves alone: an open B5 review item, or a B5 flag raised after every other
    member of their group existed (the opening or an earlier scan already reported this group, and a
    resolved item stays resolved). A new member joining the group makes it news again."""
    ids = list(group_of)
    if not ids:
        return set()
    open_items = set(
        ReviewItem.objects.filter(
            member_id__in=ids, status=ReviewItem.Status.OPEN, assessment__flags__code=_B5
        ).values_list("member_id", flat=True)
    )
    latest: dict[int, datetime.datetime] = {}
    for member_id, at in Flag.objects.filter(code=_B5, assessment__member_id__in=ids).values_list(
        "assessment__member_id", "assessment__created_at"
    ):
        latest[member_id] = max(at, latest.get(member_id, at))
    created = dict(
        Member.objects.filter(pk__in={pk for group in group_of.values() for pk in group}).values_list(
            "pk", "created_at"
        )
    )
    covered = {
        pk
        for pk, at in latest.items()
        if all(created.get(other) and created[other] <= at for other in group_of[pk] if other != pk)
    }
    return open_items | covered


def shared_tax_id_scan(
    *, member_ids: Iterable[int] | None = None, actor_label: str = "system:redflags.tax_id_scan"
) -> dict:
    """Red Flag B5 for members who never had an opening scored (bulk-loaded by the CIS import).

    Finds every group of members sharing one SSN/TIN across the whole registry
    (``shared_tax_id_groups``); ``member_ids`` limits which members are *reported* (those just
    imported), matching is always against everyone. Each reported member gets an ordinary event
    (``events.TAX_ID_SCAN``) scored by the engine, so B5 confirms the match again by its own candidate
    lookup and the active rule version, thresholds, review queue, account warning and audit apply as
    for any flag; the evidence names the other member numbers, never the number. Members with an open
    B5 item, or already flagged for this group, are skipped, and the event key (member and group) makes
    a concurrent re-run a no-op. One audit row with the counts, in the transaction of everything the
    scan writes.
    """
    started = time.monotonic()
    members_checked, groups = shared_tax_id_groups()
    wanted = None if member_ids is None else set(member_ids)
    group_of = {pk: group for group in groups for pk in group if wanted is None or pk in wanted}
    flagged = assessed = skipped = 0
    with transaction.atomic():
        already = _already_flagged(group_of)
        for pk in sorted(group_of):
            if pk in already:
                skipped += 1
                continue
            group = sorted(group_of[pk])
            key = uuid.uuid5(uuid.NAMESPACE_URL, f"memberguard:tax_id_scan:{pk}:{','.join(map(str, group))}")
            event = Event(name=TAX_ID_SCAN, member_id=pk, payload={"group_size": len(group)})
            assessment = event_assess(event=event, key=key)
            if assessment is None:
                skipped += 1
                continue
            assessed += 1
            if any(item["code"] == _B5 for item in assessment.fired):
                flagged += 1
            pause_point("redflags.tax_id_scan_member")  # the kill tests stop a worker here
        counts = {
            "members_checked": members_checked,
            "groups_found": len(groups),
            "members_in_groups": sum(len(group) for group in groups),
            "members_reported": len(group_of),
            "members_assessed": assessed,
            "members_flagged": flagged,
            "members_already_flagged": skipped,
            "limited_to_members": None if wanted is None else len(wanted),
            "seconds": round(time.monotonic() - started, 2),
        }
        audit_record(
            actor=None,
            actor_label=actor_label,
            action="redflags.tax_id_scan",
            object_type="members.member",
            detail=counts,
        )
    return counts
