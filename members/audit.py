"""Write audit rows, always inside the caller's transaction.

``audit_record`` refuses to run outside an atomic block: an audit row committed separately from the
change it describes could survive a rolled-back change, or be lost when the change commits. Callers
pass field *names* and identifiers; a guard rejects values that look like plaintext identifiers.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import connection, models
from django.http import HttpRequest

from members.actors import Actor, actor_name, signed_in_user
from members.models import AuditEvent

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
    return AuditEvent.objects.create(
        actor=signed_in_user(actor),
        actor_label=actor_label or actor_name(actor),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        fields=sorted(fields),
        detail=detail,
        reason=reason,
        ip_address=ip_address,
    )
