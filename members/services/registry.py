"""Every way a member's record can change. The only write path for members/ models.

Each service validates first (all field errors at once, nothing written), then in one transaction
saves with ``update_fields``, writes its ``audit_record`` (field names, never values) and sends
``registry_changed`` with old/new blind-index values, so the Red Flags program sees the change
without the caller remembering. Reveals and record views are access events (``access.*``) in the same
audit trail.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from members import validation
from members.audit import audit_record
from members.crypto import blind_index, blind_index_or_empty, nfkc
from members.models import CapitalCreditAllocation, FinancialAccount, Member, RevealGrant
from members.signals import RegistryChange, registry_changed

# How long a revealed value stays visible, and how long a former member's record is kept by default
# (capital credits are owed to former members; the retention app may shorten or extend this).
REVEAL_SECONDS = 300
FORMER_MEMBER_RETENTION_YEARS = 7
MINIMUM_REASON_LENGTH = 10

# Fields a reveal may expose, with the permission each needs (all the same today; one place to split).
REVEALABLE_FIELDS = {
    "ssn": "members.reveal_identifiers",
    "tin": "members.reveal_identifiers",
    "date_of_birth": "members.reveal_identifiers",
    "drivers_licence_number": "members.reveal_identifiers",
    "passport_number": "members.reveal_identifiers",
    "alien_registration_number": "members.reveal_identifiers",
}

_UNSET: Any = object()
_LOOKS_LIKE_IDENTIFIER = re.compile(r"[0-9][0-9 \-]{6,}[0-9]")


@dataclass(frozen=True)
class Address:
    line1: str
    line2: str
    city: str
    state: str
    postal_code: str

    def as_tuple(self) -> tuple[str, str, str, str, str]:
        return (self.line1, self.line2, self.city, self.state, self.postal_code)


def actor_id_of(actor) -> int | None:
    return actor.pk if getattr(actor, "is_authenticated", False) else None


def _send(
    event: str,
    *,
    actor,
    member_id: int | None = None,
    account_id: int | None = None,
    fields: Iterable[str] = (),
    old: dict | None = None,
    new: dict | None = None,
) -> None:
    registry_changed.send(
        sender=Member,
        change=RegistryChange(
            event=event,
            member_id=member_id,
            account_id=account_id,
            fields=tuple(sorted(fields)),
            old_indexes=dict(old or {}),
            new_indexes=dict(new or {}),
            actor_id=actor_id_of(actor),
        ),
    )


def name_search_form(name: str) -> str:
    return " ".join(nfkc(name).upper().split())


def clean_address(
    collector: validation.Collector, prefix: str, line1: str, line2: str, city: str, state: str, postal_code: str
) -> Address | None:
    cleaned = [
        collector.clean(f"{prefix}line1", validation.clean_address_line, line1),
        collector.clean(f"{prefix}line2", validation.clean_address_line, line2 or "", required=False),
        collector.clean(f"{prefix}city", validation.clean_address_line, city),
        collector.clean(f"{prefix}state", validation.clean_state, state),
        collector.clean(f"{prefix}postal_code", validation.clean_postal_code, postal_code),
    ]
    if any(value is None for value in cleaned):
        return None
    return Address(*cleaned)


def _clean_identifiers(
    collector: validation.Collector,
    *,
    kind: str,
    ssn,
    tin,
    date_of_birth,
    drivers_licence_number,
    drivers_licence_state,
    passport_number,
    alien_registration_number,
) -> dict[str, Any]:
    """Cleans the identifiers that were passed (``_UNSET`` = leave alone, ``""``/None = clear)."""
    out: dict[str, Any] = {}

    def optional(field: str, cleaner, value) -> None:
        if value is _UNSET:
            return
        if value in (None, ""):
            out[field] = None
            return
        result = collector.clean(field, cleaner, value)
        if result is not None:
            out[field] = result

    optional("ssn", validation.clean_ssn, ssn)
    optional("tin", validation.clean_ein, tin)
    optional("date_of_birth", validation.clean_date_of_birth, date_of_birth)
    optional("drivers_licence_number", validation.clean_licence_number, drivers_licence_number)
    optional("passport_number", validation.clean_passport_number, passport_number)
    optional("alien_registration_number", validation.clean_alien_registration_number, alien_registration_number)
    if drivers_licence_state is not _UNSET:
        if drivers_licence_state in (None, ""):
            out["drivers_licence_state"] = ""
        else:
            state = collector.clean("drivers_licence_state", validation.clean_state, drivers_licence_state)
            if state is not None:
                out["drivers_licence_state"] = state
    if kind == Member.Kind.BUSINESS and out.get("ssn"):
        collector.add("ssn", "A business member is identified by its employer identification number (TIN), not an SSN.")
    return out


def _identifier_indexes(member: Member) -> dict[str, str]:
    tax_id = member.ssn or member.tin
    tax_kind = "ssn" if member.ssn else "tin"
    return {
        "tax_id": blind_index(tax_kind, tax_id) if tax_id else "",
        "licence": blind_index("licence", (member.drivers_licence_number, member.drivers_licence_state))
        if member.drivers_licence_number and member.drivers_licence_state
        else "",
        "passport": blind_index_or_empty("passport", member.passport_number),
        "alien_registration": blind_index_or_empty("alien_registration", member.alien_registration_number),
    }


def _apply_identifier_indexes(member: Member) -> None:
    indexes = _identifier_indexes(member)
    member.tax_id_index = indexes["tax_id"]
    member.licence_index = indexes["licence"]
    member.passport_index = indexes["passport"]
    member.alien_registration_index = indexes["alien_registration"]
    tax_id = member.ssn or member.tin
    member.ssn_last4 = tax_id[-4:] if tax_id else ""


def next_number(sequence: str, prefix: str, width: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [sequence])
        (value,) = cursor.fetchone()
    return f"{prefix}{value:0{width}d}"


def member_create(
    *,
    actor,
    legal_name: str,
    kind: str = Member.Kind.PERSON,
    member_number: str | None = None,
    status: str = Member.Status.APPLICANT,
    mailing_line1: str = "",
    mailing_line2: str = "",
    mailing_city: str = "",
    mailing_state: str = "",
    mailing_postal_code: str = "",
    phone: str = "",
    email: str = "",
    ssn: str | None = None,
    tin: str | None = None,
    date_of_birth: datetime.date | str | None = None,
    drivers_licence_number: str | None = None,
    drivers_licence_state: str = "",
    passport_number: str | None = None,
    alien_registration_number: str | None = None,
    employer_name: str = "",
    user=None,
    actor_label: str = "",
    validate_only: bool = False,
) -> Member | None:
    """Create a member. ``validate_only=True`` runs every check and returns ``None`` (forms use it)."""
    collector = validation.Collector()
    if kind not in Member.Kind.values:
        collector.add("kind", "Choose person or business.")
    name = " ".join(nfkc(legal_name).split())
    if not name:
        collector.add("legal_name", "The legal name is required.")
    if status not in (Member.Status.APPLICANT, Member.Status.ACTIVE):
        collector.add("status", "A new member is an applicant or active.")
    address = None
    if any([mailing_line1, mailing_city, mailing_state, mailing_postal_code]):
        address = clean_address(
            collector, "mailing_", mailing_line1, mailing_line2, mailing_city, mailing_state, mailing_postal_code
        )
    phone_value = collector.clean("phone", validation.clean_phone, phone) if phone else ""
    email_value = collector.clean("email", validation.clean_email, email) if email else ""
    identifiers = _clean_identifiers(
        collector,
        kind=kind,
        ssn=ssn,
        tin=tin,
        date_of_birth=date_of_birth,
        drivers_licence_number=drivers_licence_number,
        drivers_licence_state=drivers_licence_state,
        passport_number=passport_number,
        alien_registration_number=alien_registration_number,
    )
    if identifiers.get("drivers_licence_number") and not identifiers.get("drivers_licence_state"):
        collector.add("drivers_licence_state", "Give the state that issued the licence.")
    if member_number:
        member_number = collector.clean("member_number", validation.clean_member_number, member_number)
    if member_number and Member.objects.filter(member_number=member_number).exists():
        collector.add("member_number", "A member with this number already exists.")
    collector.raise_if_errors()
    if validate_only:
        return None

    member = Member(
        member_number=member_number or "",
        kind=kind,
        legal_name=name,
        name_search=name_search_form(name),
        status=status,
        applied_on=timezone.localdate(),
        joined_on=timezone.localdate() if status == Member.Status.ACTIVE else None,
        phone=phone_value or "",
        email=email_value or "",
        employer_name=nfkc(employer_name),
        user=user,
        **identifiers,
    )
    if address:
        (
            member.mailing_line1,
            member.mailing_line2,
            member.mailing_city,
            member.mailing_state,
            member.mailing_postal_code,
        ) = address.as_tuple()
        member.address_index = blind_index("address", address.as_tuple())
    member.phone_index = blind_index_or_empty("phone", member.phone)
    member.email_index = blind_index_or_empty("email", member.email)
    _apply_identifier_indexes(member)
    with transaction.atomic():
        if not member.member_number:
            member.member_number = next_number("members_member_number_seq", "M", 7)
        member.save(force_insert=True)
        filled = [f for f in ("mailing_line1", "phone", "email", *identifiers) if getattr(member, f, None)]
        audit_record(actor=actor, actor_label=actor_label, action="member.created", obj=member, fields=filled)
        _send(
            "member.created",
            actor=actor,
            member_id=member.pk,
            fields=filled,
            new={
                key: value
                for key, value in {
                    "address": member.address_index,
                    "phone": member.phone_index,
                    "email": member.email_index,
                    **_identifier_indexes(member),
                }.items()
                if value
            },
        )
    return member


def _save_and_announce(
    *,
    actor,
    member: Member,
    event: str,
    fields: list[str],
    old: dict,
    new: dict,
    reason: str = "",
    detail: dict | None = None,
) -> Member:
    with transaction.atomic():
        member.save(update_fields=[*fields, "updated_at"])
        audit_record(actor=actor, action=event, obj=member, fields=fields, reason=reason, detail=detail)
        _send(
            event,
            actor=actor,
            member_id=member.pk,
            fields=fields,
            old={k: v for k, v in old.items() if new.get(k) != v},
            new={k: v for k, v in new.items() if old.get(k) != v},
        )
    return member


def member_change_address(
    *, actor, member: Member, line1: str, line2: str = "", city: str, state: str, postal_code: str, reason: str = ""
) -> Member:
    collector = validation.Collector()
    address = clean_address(collector, "mailing_", line1, line2, city, state, postal_code)
    collector.raise_if_errors()
    old = {"address": member.address_index}
    (
        member.mailing_line1,
        member.mailing_line2,
        member.mailing_city,
        member.mailing_state,
        member.mailing_postal_code,
    ) = address.as_tuple()
    member.address_index = blind_index("address", address.as_tuple())
    fields = ["mailing_line1", "mailing_line2", "mailing_city", "mailing_state", "mailing_postal_code", "address_index"]
    return _save_and_announce(
        actor=actor,
        member=member,
        event="member.address_changed",
        fields=fields,
        old=old,
        new={"address": member.address_index},
        reason=reason,
    )


def member_change_name(*, actor, member: Member, legal_name: str, reason: str = "") -> Member:
    name = " ".join(nfkc(legal_name).split())
    if not name:
        raise ValidationError({"legal_name": ["The legal name is required."]})
    member.legal_name = name
    member.name_search = name_search_form(name)
    return _save_and_announce(
        actor=actor,
        member=member,
        event="member.name_changed",
        fields=["legal_name", "name_search"],
        old={},
        new={},
        reason=reason,
    )


def member_change_phone(*, actor, member: Member, phone: str, reason: str = "") -> Member:
    value = ""
    if phone:
        collector = validation.Collector()
        value = collector.clean("phone", validation.clean_phone, phone)
        collector.raise_if_errors()
    old = {"phone": member.phone_index}
    member.phone = value
    member.phone_index = blind_index_or_empty("phone", value)
    return _save_and_announce(
        actor=actor,
        member=member,
        event="member.phone_changed",
        fields=["phone", "phone_index"],
        old=old,
        new={"phone": member.phone_index},
        reason=reason,
    )


def member_change_email(*, actor, member: Member, email: str, reason: str = "") -> Member:
    value = ""
    if email:
        collector = validation.Collector()
        value = collector.clean("email", validation.clean_email, email)
        collector.raise_if_errors()
    old = {"email": member.email_index}
    member.email = value
    member.email_index = blind_index_or_empty("email", value)
    return _save_and_announce(
        actor=actor,
        member=member,
        event="member.email_changed",
        fields=["email", "email_index"],
        old=old,
        new={"email": member.email_index},
        reason=reason,
    )


def member_change_identifiers(
    *,
    actor,
    member: Member,
    ssn: Any = _UNSET,
    tin: Any = _UNSET,
    date_of_birth: Any = _UNSET,
    drivers_licence_number: Any = _UNSET,
    drivers_licence_state: Any = _UNSET,
    passport_number: Any = _UNSET,
    alien_registration_number: Any = _UNSET,
    reason: str = "",
    validate_only: bool = False,
) -> Member:
    """Change any identifiers passed (``None``/``""`` clears one). Decrypts the current values, so an
    undecryptable stored value raises ``UndecryptableValue`` instead of being silently re-encrypted."""
    collector = validation.Collector()
    changes = _clean_identifiers(
        collector,
        kind=member.kind,
        ssn=ssn,
        tin=tin,
        date_of_birth=date_of_birth,
        drivers_licence_number=drivers_licence_number,
        drivers_licence_state=drivers_licence_state,
        passport_number=passport_number,
        alien_registration_number=alien_registration_number,
    )
    if changes.get("drivers_licence_number") and not (
        changes.get("drivers_licence_state") or member.drivers_licence_state
    ):
        collector.add("drivers_licence_state", "Give the state that issued the licence.")
    collector.raise_if_errors()
    if validate_only:
        return member
    old = _identifier_indexes(member)
    changed = [field for field, value in changes.items() if getattr(member, field) != value]
    for field in changed:
        setattr(member, field, changes[field])
    if member.drivers_licence_number and not member.drivers_licence_state:
        raise ValidationError({"drivers_licence_state": ["Give the state that issued the licence."]})
    if not changed:
        return member
    _apply_identifier_indexes(member)
    new = _identifier_indexes(member)
    fields = [*changed, "tax_id_index", "licence_index", "passport_index", "alien_registration_index", "ssn_last4"]
    return _save_and_announce(
        actor=actor, member=member, event="member.identifiers_changed", fields=fields, old=old, new=new, reason=reason
    )


_STATUS_FLOW = {
    Member.Status.APPLICANT: {Member.Status.ACTIVE, Member.Status.FORMER},
    Member.Status.ACTIVE: {Member.Status.FORMER},
    Member.Status.FORMER: {Member.Status.ACTIVE},
}


def member_change_status(
    *, actor, member: Member, status: str, on: datetime.date | None = None, reason: str = ""
) -> Member:
    """applicant -> active -> former (a former member may rejoin). Former members are kept until
    ``retain_until`` for capital credits and contact, then the retention app decides."""
    if status not in _STATUS_FLOW.get(member.status, set()):
        raise ValidationError({"status": [f"A member cannot go from {member.status} to {status}."]})
    on = on or timezone.localdate()
    old_status = member.status
    member.status = status
    fields = ["status"]
    if status == Member.Status.ACTIVE:
        member.joined_on, member.left_on, member.retain_until = on, None, None
        fields += ["joined_on", "left_on", "retain_until"]
    else:
        member.left_on = on
        member.retain_until = (
            on.replace(year=on.year + FORMER_MEMBER_RETENTION_YEARS)
            if not (on.month == 2 and on.day == 29)
            else on.replace(year=on.year + FORMER_MEMBER_RETENTION_YEARS, day=28)
        )
        fields += ["left_on", "retain_until"]
    return _save_and_announce(
        actor=actor,
        member=member,
        event="member.status_changed",
        fields=fields,
        old={},
        new={},
        reason=reason,
        detail={"from": old_status, "to": status},
    )


def member_link_user(*, actor, member: Member, user) -> Member:
    member.user = user
    with transaction.atomic():
        member.save(update_fields=["user", "updated_at"])
        audit_record(actor=actor, action="member.login_linked", obj=member, fields=["user"])
        _send("member.login_linked", actor=actor, member_id=member.pk, fields=["user"])
    return member


def financial_account_add(
    *,
    actor,
    member: Member,
    kind: str = FinancialAccount.Kind.BANK,
    institution_name: str = "",
    routing_number: str = "",
    account_number: str = "",
    card_token: str = "",
    card_last4: str = "",
) -> FinancialAccount:
    collector = validation.Collector()
    financial = FinancialAccount(member=member, kind=kind, institution_name=nfkc(institution_name))
    if kind == FinancialAccount.Kind.BANK:
        routing = collector.clean("routing_number", validation.clean_routing_number, routing_number)
        number = collector.clean("account_number", validation.clean_bank_account_number, account_number)
        collector.raise_if_errors()
        financial.routing_number, financial.account_number, financial.last4 = routing, number, number[-4:]
        financial.bank_account_index = blind_index("bank_account", (routing, number))
    elif kind == FinancialAccount.Kind.CARD:
        if not card_token:
            collector.add("card_token", "A card is stored only as the processor's token.")
        if card_last4 and not (len(card_last4) == 4 and card_last4.isascii() and card_last4.isdigit()):
            collector.add("card_last4", "Give the last four digits of the card.")
        collector.raise_if_errors()
        financial.card_token, financial.last4 = card_token, card_last4
    else:
        raise ValidationError({"kind": ["Choose bank or card."]})
    with transaction.atomic():
        financial.save(force_insert=True)
        audit_record(
            actor=actor,
            action="member.financial_account_added",
            obj=financial,
            fields=["kind", "last4"],
            detail={"member_id": member.pk},
        )
        _send(
            "member.financial_account_added",
            actor=actor,
            member_id=member.pk,
            fields=["financial_accounts"],
            new={"bank_account": financial.bank_account_index} if financial.bank_account_index else {},
        )
    return financial


def financial_account_remove(*, actor, financial_account: FinancialAccount, reason: str = "") -> FinancialAccount:
    if not financial_account.is_active:
        return financial_account
    financial_account.is_active = False
    financial_account.removed_at = timezone.now()
    with transaction.atomic():
        financial_account.save(update_fields=["is_active", "removed_at"])
        audit_record(
            actor=actor,
            action="member.financial_account_removed",
            obj=financial_account,
            fields=["is_active"],
            reason=reason,
            detail={"member_id": financial_account.member_id},
        )
        _send(
            "member.financial_account_removed",
            actor=actor,
            member_id=financial_account.member_id,
            fields=["financial_accounts"],
            old={"bank_account": financial_account.bank_account_index},
        )
    return financial_account


def capital_credit_allocate(
    *,
    actor,
    member: Member,
    year: int,
    patronage_amount: Decimal | str,
    allocated_amount: Decimal | str,
    allocated_on: datetime.date | None = None,
) -> CapitalCreditAllocation:
    collector = validation.Collector()
    patronage = collector.clean("patronage_amount", validation.clean_amount, patronage_amount, allow_zero=True)
    allocated = collector.clean("allocated_amount", validation.clean_amount, allocated_amount, allow_zero=True)
    if not 1930 <= int(year) <= timezone.localdate().year:
        collector.add("year", "Give a past or current year.")
    collector.raise_if_errors()
    with transaction.atomic():
        allocation, created = CapitalCreditAllocation.objects.select_for_update().get_or_create(
            member=member,
            year=int(year),
            defaults={"patronage_amount": patronage, "allocated_amount": allocated, "allocated_on": allocated_on},
        )
        if not created:
            allocation.patronage_amount, allocation.allocated_amount = patronage, allocated
            allocation.allocated_on = allocated_on or allocation.allocated_on
            allocation.save(update_fields=["patronage_amount", "allocated_amount", "allocated_on"])
        audit_record(
            actor=actor,
            action="member.capital_credit_allocated",
            obj=allocation,
            fields=["patronage_amount", "allocated_amount"],
            detail={"member_id": member.pk, "year": int(year)},
        )
    return allocation


# --- Access: record views and reveals ---------------------------------------------------------------


def member_record_view(*, actor, member: Member, channel: str = "admin", ip_address: str | None = None) -> None:
    """Every staff view of a member's record leaves an ``access.view_member`` row."""
    with transaction.atomic():
        audit_record(
            actor=actor, action="access.view_member", obj=member, detail={"channel": channel}, ip_address=ip_address
        )


def member_list_view(
    *, actor, member_ids: list[int], channel: str = "admin", query: str = "", ip_address: str | None = None
) -> None:
    """A list page showing members (masked) is recorded once, naming the ids shown."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="access.list_members",
            object_type="members.member",
            detail={"channel": channel, "member_ids": member_ids[:200], "searched": bool(query)},
            ip_address=ip_address,
        )


def member_reveal(
    *, actor, member: Member, field_name: str, reason: str, channel: str = "admin", ip_address: str | None = None
) -> RevealGrant:
    """Show one full value for ``REVEAL_SECONDS``: needs the permission and a typed reason; audited."""
    permission = REVEALABLE_FIELDS.get(field_name)
    if permission is None:
        raise ValidationError({"field_name": ["This field cannot be revealed."]})
    if not actor.has_perm(permission):
        with transaction.atomic():
            audit_record(
                actor=actor,
                action="access.reveal_denied",
                obj=member,
                fields=[field_name],
                detail={"channel": channel},
                ip_address=ip_address,
            )
        raise PermissionDenied("You do not have permission to reveal identifying information.")
    reason = " ".join(nfkc(reason or "").split())
    if len(reason) < MINIMUM_REASON_LENGTH:
        raise ValidationError(
            {"reason": [f"Type why you need the full value (at least {MINIMUM_REASON_LENGTH} characters)."]}
        )
    if _LOOKS_LIKE_IDENTIFIER.search(reason):
        raise ValidationError({"reason": ["Do not type identifying numbers into the reason."]})
    with transaction.atomic():
        grant = RevealGrant.objects.create(
            user=actor,
            member=member,
            field_name=field_name,
            reason=reason,
            expires_at=timezone.now() + datetime.timedelta(seconds=REVEAL_SECONDS),
        )
        audit_record(
            actor=actor,
            action="access.reveal",
            obj=member,
            fields=[field_name],
            reason=reason,
            detail={"channel": channel, "expires_at": grant.expires_at.isoformat()},
            ip_address=ip_address,
        )
    return grant
