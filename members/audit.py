"""Write audit rows, always inside the caller's transaction, chained like the disclosure log.

``audit_record`` refuses to run outside an atomic block: an audit row committed separately from the
change it describes could survive a rolled-back change, or be lost when the change commits. Callers
pass field *names* and identifiers; a guard rejects values that look like plaintext identifiers.

Every row is a link of the ``audit`` hash chain (members/hashchain.py): ``verify_audit_chain`` names a
deleted, altered or reordered row and, through the chain's anchor, removed newest rows.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.http import HttpRequest
from django.utils import timezone

from members import hashchain
from members.actors import Actor, actor_name, signed_in_user
from members.models import AuditEvent

CHAIN = "audit"
# The order of an audit row's content in its canonical form; also the column order the verifier selects.
CANONICAL_COLUMNS = (
    "seq",
    "at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "fields",
    "detail",
    "reason",
    "ip_address",
)

# Nine digits in a row (an SSN/TIN), with or without dashes. Cheap insurance against a caller
# putting a decrypted identifier into the audit detail.
_LOOKS_LIKE_SSN = re.compile(r"(?<!\d)\d{3}-?\d{2}-?\d{4}(?!\d)")


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind ``TRUSTED_PROXY_COUNT`` proxies the entry of
    ``X-Forwarded-For`` the outermost trusted proxy appended (entries left of it are the client's claim and
    can be forged). The same rule feeds allauth's rate limits (``ALLAUTH_TRUSTED_PROXY_COUNT``)."""
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if count > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        if len(hops) >= count:
            candidate = hops[-count]
            try:
                return str(ipaddress.ip_address(candidate))
            except ValueError:
                return None
    return request.META.get("REMOTE_ADDR")


class AuditOutsideTransaction(RuntimeError):
    pass


def _assert_no_identifiers(value: Any) -> None:
    if isinstance(value, str):
        if _LOOKS_LIKE_SSN.search(value):
            raise ValueError("audit detail must not contain identifier values")
    elif isinstance(value, dict):
        for item in value.values():
            _assert_no_identifiers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _assert_no_identifiers(item)


def audit_record(
    *,
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str | int = "",
    fields: Iterable[str] = (),
    detail: dict | None = None,
    reason: str = "",
    actor_label: str = "",
    ip_address: str | None = None,
) -> AuditEvent:
    if not connection.in_atomic_block:
        raise AuditOutsideTransaction(f"audit_record({action!r}) must run inside transaction.atomic()")
    detail = detail or {}
    _assert_no_identifiers(detail)
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    user = signed_in_user(actor)
    event = AuditEvent(
        actor=user,
        actor_label=actor_label or actor_name(actor),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        fields=sorted(fields),
        # As jsonb will give it back (dates as strings, tuples as lists), so the hash recomputes from the row.
        detail=json.loads(json.dumps(detail, cls=DjangoJSONEncoder)),
        reason=reason,
        ip_address=hashchain.ip_text(ip_address),
        at=timezone.now(),
    )
    key = hashchain.chain_key(CHAIN)
    head_seq, head_hash = hashchain.lock_head(CHAIN)
    event.seq = head_seq + 1
    event.prev_hash = head_hash
    event.entry_hash = hashchain.entry_hash(key, head_hash, _content(event))
    event.save(force_insert=True)
    return event


def _content(event: AuditEvent) -> list:
    values = [getattr(event, column) for column in CANONICAL_COLUMNS]
    values[1] = hashchain.iso(event.at)
    return values


def _rows(chunk: int = 5000) -> Iterator[tuple]:
    columns = ", ".join(
        "host(ip_address)" if column == "ip_address" else column for column in (*CANONICAL_COLUMNS, "prev_hash")
    )
    sql = f"SELECT {columns}, entry_hash FROM {AuditEvent._meta.db_table} ORDER BY seq"  # noqa: S608 - the model's table
    connection.ensure_connection()
    with transaction.atomic(), connection.connection.cursor(name="verify_audit_chain") as cursor:
        cursor.itersize = chunk
        cursor.execute(sql)
        for row in cursor:
            # Django has psycopg hand jsonb over as text; the canonical form wants the values.
            yield (*row[:7], _json(row[7]), _json(row[8]), *row[9:])


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def verify_audit_chain() -> hashchain.ChainReport:
    """Verify the whole audit trail against its chain and its anchored head."""
    key = hashchain.chain_key(CHAIN)
    report = hashchain.verify_rows(_rows(), key=key)
    return hashchain.check_anchor(report, CHAIN)
