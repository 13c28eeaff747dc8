"""The registry's service interface: every write to members/ models, and record access as audit events.

Import services from here (``from members import services``); inside members/ the submodules are
imported directly:

* ``registry``: members' creation and changes (name, address, phone, email, identifiers, status, login);
* ``billing``: bank accounts and cards on file, capital credits;
* ``access``: record and list views, reveals of full identifiers;
* ``statements``: a member's statement of disagreement, kept with the record;
* ``common``: the address value, numbering and ``announce`` (the ``registry_changed`` signal), shared
  with ``accounts.services``.
"""

from __future__ import annotations

from members.services.access import (
    MINIMUM_REASON_LENGTH,
    REVEAL_SECONDS,
    REVEALABLE_FIELDS,
    member_list_view,
    member_record_view,
    member_reveal,
    staff_session_expire,
)
from members.services.billing import capital_credit_allocate, financial_account_add, financial_account_remove
from members.services.common import Address, announce, clean_address, name_search_form, next_number
from members.services.registry import (
    IDENTIFIER_FIELDS,
    member_change_address,
    member_change_email,
    member_change_identifiers,
    member_change_name,
    member_change_phone,
    member_change_status,
    member_create,
    member_enroll_online,
    member_link_user,
    member_lock,
)
from members.services.statements import STATEMENT_MAX_LENGTH, disagreement_statement_file

__all__ = [
    "IDENTIFIER_FIELDS",
    "MINIMUM_REASON_LENGTH",
    "REVEALABLE_FIELDS",
    "REVEAL_SECONDS",
    "STATEMENT_MAX_LENGTH",
    "Address",
    "announce",
    "capital_credit_allocate",
    "clean_address",
    "disagreement_statement_file",
    "financial_account_add",
    "financial_account_remove",
    "member_change_address",
    "member_change_email",
    "member_change_identifiers",
    "member_change_name",
    "member_change_phone",
    "member_change_status",
    "member_create",
    "member_lock",
    "member_enroll_online",
    "member_link_user",
    "member_list_view",
    "member_record_view",
    "member_reveal",
    "staff_session_expire",
    "name_search_form",
    "next_number",
]
