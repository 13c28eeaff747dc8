"""Every way a member's record can change: creation, name, address, phone, email, identifiers, status.

Each service validates first (all field errors at once, nothing written), then in one transaction
saves with ``update_fields``, writes its ``audit_record`` (field names, never values) and sends
``registry_changed`` with old/new blind-index values, so the Red Flags program sees the change
without the caller remembering. Which identifiers there are, how each is cleaned and which blind
indexes and last-four columns follow from them is declared in members/identifiers.py.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from members import guards, identifiers, validation
from members.actors import Actor
from members.audit import audit_record
from members.crypto import blind_index, blind_index_or_empty, nfkc
from members.identifiers import BlindIndex
from members.models import Member
from members.notices.rendering import postal_address
from members.services import notify
from members.services.common import Address, announce, clean_address, name_search_form, next_number

# The member's identifying fields a service writes (SSN, TIN, date of birth, licence number and state,
# passport, alien registration), and the blind indexes and last-four columns computed from them.
IDENTIFIER_FIELDS = identifiers.identifier_fields()
_IDENTIFIER_NAMES = frozenset(field.name for field in IDENTIFIER_FIELDS)
_IDENTIFIER_INDEXES = identifiers.identifier_indexes()
_MEMBER_INDEXES = identifiers.indexes_of("members.Member")
_LAST_FOUR = {
    column: tuple(field.name for field in IDENTIFIER_FIELDS if field.last_four == column)
    for column in dict.fromkeys(field.last_four for field in IDENTIFIER_FIELDS if field.last_four)
}


def member_lock(member_id: int) -> Member:
    """The member's row, locked against other writers until this transaction ends.

    ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: a full row lock also blocks the foreign-key check
    (``FOR KEY SHARE``) of any other transaction that inserts a row referring to this member, and those
    checks run at COMMIT (Django's foreign keys are deferred), after that transaction has appended to the
    audit chain and holds the chain's lock. The clerk holding the member then waits for the chain: a
    deadlock the ten-minute soak found. Writers still exclude each other; no key is ever changed."""
    return Member.objects.select_for_update(no_key=True).get(pk=member_id)


def _clean_identifiers(collector: validation.Collector, *, kind: str, given: dict[str, Any]) -> dict[str, Any]:
    """Cleans the identifiers in ``given`` (absent: leave alone; ``""`` or ``None``: clear), each with its
    declared cleaner. An unknown name is a programming error (``TypeError``), as a bad keyword would be."""
    unknown = sorted(set(given) - _IDENTIFIER_NAMES)
    if unknown:
        raise TypeError(f"not a member identifier: {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for field in IDENTIFIER_FIELDS:
        if field.name not in given or field.clean is None:
            continue
        value = given[field.name]
        if value in (None, ""):
            out[field.name] = None if field.encrypted else ""
            continue
        result = collector.clean(field.name, field.clean, value)
        if result is not None:
            out[field.name] = result
    if kind == Member.Kind.BUSINESS and out.get("ssn"):
        collector.add("ssn", "A business member is identified by its employer identification number (TIN), not an SSN.")
    return out


def _index_values(member: Member, indexes: tuple[BlindIndex, ...]) -> dict[str, str]:
    """``{index name: value}`` of ``indexes`` computed from the member's current values (``""``: none)."""
    return {index.name: blind_index_or_empty(index.kind, index.value_of(member)) for index in indexes}


def _identifier_indexes(member: Member) -> dict[str, str]:
    return _index_values(member, _IDENTIFIER_INDEXES)


def _apply_indexes(member: Member, indexes: tuple[BlindIndex, ...]) -> dict[str, str]:
    """Store the blind indexes (and the last-four columns) of the member's current values."""
    values = _index_values(member, indexes)
    for index in indexes:
        setattr(member, index.column, values[index.name])
    for column, sources in _LAST_FOUR.items():
        value = next((getattr(member, source) for source in sources if getattr(member, source)), "")
        setattr(member, column, value[-4:])
    return values


def _clean_new_member(
    collector: validation.Collector,
    *,
    kind: str,
    legal_name: str,
    status: str,
    member_number: str | None,
    mailing: tuple[str, str, str, str, str],
    phone: str,
    email: str,
    given: dict[str, Any],
) -> dict[str, Any]:
    """Every check of a new member at once (errors in ``collector``); the cleaned values."""
    if kind not in Member.Kind.values:
        collector.add("kind", "Choose person or business.")
    name = " ".join(nfkc(legal_name).split())
    if not name:
        collector.add("legal_name", "The legal name is required.")
    elif validation.name_problem(name):
        collector.add("legal_name", validation.name_problem(name))
    if status not in (Member.Status.APPLICANT, Member.Status.ACTIVE):
        collector.add("status", "A new member is an applicant or active.")
    line1, line2, city, state, postal_code = mailing
    address = clean_address(collector, "mailing_", *mailing) if any([line1, city, state, postal_code]) else None
    cleaned_identifiers = _clean_identifiers(collector, kind=kind, given=given)
    if cleaned_identifiers.get("drivers_licence_number") and not cleaned_identifiers.get("drivers_licence_state"):
        collector.add("drivers_licence_state", "Give the state that issued the licence.")
    if member_number:
        member_number = collector.clean("member_number", validation.clean_member_number, member_number)
    if member_number and Member.objects.filter(member_number=member_number).exists():
        collector.add("member_number", "A member with this number already exists.")
    return {
        "name": name,
        "address": address,
        "phone": collector.clean("phone", validation.clean_phone, phone) if phone else "",
        "email": collector.clean("email", validation.clean_email, email) if email else "",
        "identifiers": cleaned_identifiers,
        "member_number": member_number,
    }


def member_create(
    *,
    actor: Actor,
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
    employer_name: str = "",
    user=None,
    actor_label: str = "",
    validate_only: bool = False,
    **identifier_values: str | datetime.date | None,
) -> Member | None:
    """Create a member. ``validate_only=True`` runs every check and returns ``None`` (forms use it).

    ``identifier_values``: any of the member's declared identifiers (``ssn``, ``tin``, ``date_of_birth``,
    ``drivers_licence_number``, ``drivers_licence_state``, ``passport_number``,
    ``alien_registration_number``: ``members.identifiers.identifier_fields()``), as typed.
    """
    collector = validation.Collector()
    cleaned = _clean_new_member(
        collector,
        kind=kind,
        legal_name=legal_name,
        status=status,
        member_number=member_number,
        mailing=(mailing_line1, mailing_line2, mailing_city, mailing_state, mailing_postal_code),
        phone=phone,
        email=email,
        given=identifier_values,
    )
    collector.raise_if_errors()
    if validate_only:
        return None
    member = Member(
        member_number=cleaned["member_number"] or "",
        kind=kind,
        legal_name=cleaned["name"],
        name_search=name_search_form(cleaned["name"]),
        status=status,
        applied_on=timezone.localdate(),
        joined_on=timezone.localdate() if status == Member.Status.ACTIVE else None,
        phone=cleaned["phone"] or "",
        email=cleaned["email"] or "",
        employer_name=nfkc(employer_name),
        user=user,
        **cleaned["identifiers"],
    )
    if cleaned["address"]:
        _set_mailing_address(member, cleaned["address"])
    indexes = _apply_indexes(member, _MEMBER_INDEXES)
    with transaction.atomic():
        if not member.member_number:
            member.member_number = next_number("members_member_number_seq", "M", 7)
        member.save(force_insert=True)
        filled = [f for f in ("mailing_line1", "phone", "email", *cleaned["identifiers"]) if getattr(member, f, None)]
        audit_record(actor=actor, actor_label=actor_label, action="member.created", obj=member, fields=filled)
        announce(
            "member.created",
            actor=actor,
            member_id=member.pk,
            fields=filled,
            new={name: value for name, value in indexes.items() if value},
        )
    return member


def _set_mailing_address(member: Member, address: Address) -> None:
    (
        member.mailing_line1,
        member.mailing_line2,
        member.mailing_city,
        member.mailing_state,
        member.mailing_postal_code,
    ) = address.as_tuple()


def _save_and_announce(
    *,
    actor: Actor,
    member: Member,
    event: str,
    fields: list[str],
    old: dict,
    new: dict,
    reason: str = "",
    detail: dict | None = None,
    guard: str | None = None,
    acknowledgement: str = "",
) -> Member:
    with transaction.atomic():
        if guard is not None:  # a refused action raises before anything is written
            guards.check(action=guard, member=member, actor=actor, acknowledgement=acknowledgement)
        member.save(update_fields=[*fields, "updated_at"])
        audit_record(actor=actor, action=event, obj=member, fields=fields, reason=reason, detail=detail)
        announce(
            event,
            actor=actor,
            member_id=member.pk,
            fields=fields,
            old={k: v for k, v in old.items() if new.get(k) != v},
            new={k: v for k, v in new.items() if old.get(k) != v},
        )
    return member


def member_change_address(
    *,
    actor: Actor,
    member: Member,
    line1: str,
    line2: str = "",
    city: str,
    state: str,
    postal_code: str,
    reason: str = "",
    acknowledgement: str = "",
) -> Member:
    """``acknowledgement``: the acting staff member's note on an open Red Flag warning (members.guards)."""
    collector = validation.Collector()
    address = collector.require(clean_address(collector, "mailing_", line1, line2, city, state, postal_code))
    old = {"address": member.address_index}
    old_address = postal_address(member)
    _set_mailing_address(member, address)
    member.address_index = blind_index("address", address.as_tuple())
    fields = ["mailing_line1", "mailing_line2", "mailing_city", "mailing_state", "mailing_postal_code", "address_index"]
    with transaction.atomic():
        _save_and_announce(
            actor=actor,
            member=member,
            event="member.address_changed",
            fields=fields,
            old=old,
            new={"address": member.address_index},
            reason=reason,
            guard=guards.CONTACT_CHANGE,
            acknowledgement=acknowledgement,
        )
        notify.notify_address_changed(actor=actor, member=member, old_address=old_address)
    return member


def member_change_name(*, actor: Actor, member: Member, legal_name: str, reason: str = "") -> Member:
    name = " ".join(nfkc(legal_name).split())
    if not name:
        raise ValidationError({"legal_name": ["The legal name is required."]})
    if validation.name_problem(name):
        raise ValidationError({"legal_name": [validation.name_problem(name)]})
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


def member_change_phone(
    *, actor: Actor, member: Member, phone: str, reason: str = "", acknowledgement: str = ""
) -> Member:
    value = ""
    if phone:
        collector = validation.Collector()
        value = collector.clean("phone", validation.clean_phone, phone)
        collector.raise_if_errors()
    old = {"phone": member.phone_index}
    member.phone = value
    member.phone_index = blind_index_or_empty("phone", value)
    with transaction.atomic():
        _save_and_announce(
            actor=actor,
            member=member,
            event="member.phone_changed",
            fields=["phone", "phone_index"],
            old=old,
            new={"phone": member.phone_index},
            reason=reason,
            guard=guards.CONTACT_CHANGE,
            acknowledgement=acknowledgement,
        )
        notify.notify_phone_changed(actor=actor, member=member)
    return member


def member_change_email(
    *, actor: Actor, member: Member, email: str, reason: str = "", acknowledgement: str = ""
) -> Member:
    value = ""
    if email:
        collector = validation.Collector()
        value = collector.clean("email", validation.clean_email, email)
        collector.raise_if_errors()
    old = {"email": member.email_index}
    old_email = member.email
    member.email = value
    member.email_index = blind_index_or_empty("email", value)
    with transaction.atomic():
        _save_and_announce(
            actor=actor,
            member=member,
            event="member.email_changed",
            fields=["email", "email_index"],
            old=old,
            new={"email": member.email_index},
            reason=reason,
            guard=guards.CONTACT_CHANGE,
            acknowledgement=acknowledgement,
        )
        notify.notify_email_changed(actor=actor, member=member, old_email=old_email)
    return member


def member_change_identifiers(
    *,
    actor: Actor,
    member: Member,
    reason: str = "",
    validate_only: bool = False,
    **identifier_values: str | datetime.date | None,
) -> Member:
    """Change the identifiers passed (``None``/``""`` clears one; any of
    ``members.identifiers.identifier_fields()``). Decrypts the current values, so an undecryptable stored
    value raises ``UndecryptableValue`` instead of being silently re-encrypted."""
    collector = validation.Collector()
    changes = _clean_identifiers(collector, kind=member.kind, given=identifier_values)
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
    new = _apply_indexes(member, _IDENTIFIER_INDEXES)
    fields = [*changed, *(index.column for index in _IDENTIFIER_INDEXES), *_LAST_FOUR]
    return _save_and_announce(
        actor=actor, member=member, event="member.identifiers_changed", fields=fields, old=old, new=new, reason=reason
    )


_STATUS_FLOW: dict[str, set[str]] = {
    Member.Status.APPLICANT: {Member.Status.ACTIVE, Member.Status.FORMER},
    Member.Status.ACTIVE: {Member.Status.FORMER},
    Member.Status.FORMER: {Member.Status.ACTIVE},
}


def member_change_status(
    *, actor: Actor, member: Member, status: str, on: datetime.date | None = None, reason: str = ""
) -> Member:
    """applicant -> active -> former (a former member may rejoin). How long a former member's records
    are kept is the retention app's schedule alone (and its holds); leaving sets no retention date."""
    if status not in _STATUS_FLOW.get(member.status, set()):
        raise ValidationError({"status": [f"A member cannot go from {member.status} to {status}."]})
    on = on or timezone.localdate()
    old_status = member.status
    member.status = status
    fields = ["status"]
    if status == Member.Status.ACTIVE:
        member.joined_on, member.left_on = on, None
        fields += ["joined_on", "left_on"]
    else:
        member.left_on = on
        fields += ["left_on"]
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


def member_link_user(*, actor: Actor, member: Member, user) -> Member:
    member.user = user
    with transaction.atomic():
        member.save(update_fields=["user", "updated_at"])
        audit_record(actor=actor, action="member.login_linked", obj=member, fields=["user"])
        announce("member.login_linked", actor=actor, member_id=member.pk, fields=["user"])
    return member


def member_enroll_online(
    *, member: Member, user, account_id: int, account_number: str, ip_address: str | None = None
) -> Member:
    """A member created their own portal login (self-enrollment, proven by what the co-op holds): link it,
    audit it, tell the member at the e-mail and the mailing address *on file* (not the e-mail just typed),
    and announce ``member.online_access_enrolled`` so the Red Flags program scores the new online access."""
    if member.user_id is not None:
        raise ValidationError({"account_number": ["This membership already has online access."]})
    with transaction.atomic():
        # An open "Red Flag Exists" warning stops online enrollment (members.guards; the member is told only
        # to call member services, never about the review): staff then verify the caller and enroll.
        guards.check(action=guards.PORTAL_ENROLLMENT, member=member, actor=user)
        member.user = user
        member.save(update_fields=["user", "updated_at"])
        audit_record(
            actor=None,
            actor_label="portal:self-enrollment",
            action="member.online_access_enrolled",
            obj=member,
            fields=["user"],
            detail={"account_id": account_id, "user_id": user.pk},
            ip_address=ip_address,
        )
        notify.notify_enrolled(member=member, username=user.get_username(), account_number=account_number)
        announce(
            "member.online_access_enrolled",
            actor=None,
            member_id=member.pk,
            account_id=account_id,
            fields=["user"],
            new={"email": blind_index_or_empty("email", user.email)},
        )
    return member
