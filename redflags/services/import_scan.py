"""Red Flags B6 and B3 for members loaded in bulk (the CIS migration), through the engine.

A migrated member had no opening, so nothing compared its address and phone with other members' (B6)
or its identifiers and bank accounts with the fraud list (B3). One query finds the imported members
where either could fire (an address or phone index another member has; an index or an active bank
account's index on the active fraud list); each is then scored as an ordinary event
(``events.IMPORT_SCAN``, the member's indexes as ``new_indexes``), so the detectors confirm the match by
canonical value and the active rule version, thresholds, review queue, warning and audit apply. The
event key (member and its indexes) makes a re-run a no-op. Evidence names member numbers and fraud-list
entries, never a value.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from django.db import connection, transaction

from members.audit import audit_record
from members.models import Member
from redflags.events import IMPORT_SCAN, Event
from redflags.services.assessments import event_assess

_INDEX_KINDS = {
    "address": "address_index",
    "phone": "phone_index",
    "email": "email_index",
    "tax_id": "tax_id_index",
    "licence": "licence_index",
}
_CANDIDATES_SQL = """
WITH imported AS (SELECT * FROM members_member WHERE id = ANY(%s))
SELECT i.id FROM imported i WHERE
    (i.address_index <> '' AND EXISTS (
        SELECT 1 FROM members_member o
        WHERE o.address_index = i.address_index AND o.address_index <> '' AND o.id <> i.id))
 OR (i.phone_index <> '' AND EXISTS (
        SELECT 1 FROM members_member o
        WHERE o.phone_index = i.phone_index AND o.phone_index <> '' AND o.id <> i.id))
 OR EXISTS (SELECT 1 FROM redflags_knownfraudentry f WHERE f.active AND f.index_value IN
        (i.address_index, i.phone_index, i.email_index, i.tax_id_index, i.licence_index))
 OR EXISTS (SELECT 1 FROM redflags_knownfraudentry f JOIN members_financialaccount b
        ON b.bank_account_index = f.index_value
        WHERE f.active AND f.kind = 'bank_account' AND b.member_id = i.id AND b.is_active)
ORDER BY i.id
"""
# ``o.<index> <> ''`` repeats what ``i.<index> <> ''`` already ensures: the blind indexes are partial on a
# value (members migration 0012), and the planner proves that from a constant, not from another row.
_CODES = ("B6_ADDRESS_OR_PHONE_SHARED", "B3_KNOWN_FRAUD")


def imported_contact_scan(*, member_ids: Iterable[int], actor_label: str = "system:redflags.import_scan") -> dict:
    """Score B6 and B3 for the imported members where either could fire. Returns the counts."""
    started = time.monotonic()
    ids = sorted(set(member_ids))
    with connection.cursor() as cursor:
        cursor.execute(_CANDIDATES_SQL, [ids])
        candidates = [row[0] for row in cursor.fetchall()]
    fired = dict.fromkeys(_CODES, 0)
    assessed = skipped = 0
    with transaction.atomic():
        fields = ["pk", *_INDEX_KINDS.values()]
        for row in Member.objects.filter(pk__in=candidates).values(*fields).iterator(chunk_size=2000):
            indexes = {kind: row[column] for kind, column in _INDEX_KINDS.items() if row[column]}
            signature = ",".join(f"{kind}={value}" for kind, value in sorted(indexes.items()))
            key = uuid.uuid5(uuid.NAMESPACE_URL, f"memberguard:import_scan:{row['pk']}:{signature}")
            event = Event(name=IMPORT_SCAN, member_id=row["pk"], new_indexes=indexes)
            assessment = event_assess(event=event, key=key)
            if assessment is None:
                skipped += 1
                continue
            assessed += 1
            for item in assessment.fired:
                if item["code"] in fired:
                    fired[item["code"]] += 1
        counts = {
            "members_checked": len(ids),
            "candidates": len(candidates),
            "members_assessed": assessed,
            "members_already_scanned": skipped,
            "b6_shared_address_or_phone": fired["B6_ADDRESS_OR_PHONE_SHARED"],
            "b3_known_fraud": fired["B3_KNOWN_FRAUD"],
            "seconds": round(time.monotonic() - started, 2),
        }
        audit_record(
            actor=None,
            actor_label=actor_label,
            action="redflags.import_scan",
            object_type="members.member",
            detail=counts,
        )
    return counts
