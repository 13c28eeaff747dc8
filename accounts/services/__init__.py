"""The accounts app's service interface: every write to premises, meters, covered accounts and their
activity. The only write path.

Same pattern as members.services: validate (all field errors, nothing written), then one transaction
that saves with ``update_fields``, audits and sends ``registry_changed``. Import services from here
(``from accounts import services``); inside accounts/ the submodules are imported directly:

* ``premises``: premises and meters;
* ``covered_accounts``: opening (``account_opening`` while ``pending``), holds, denial, closing,
  suspension, the "Red Flag Exists" warning, authorized parties;
* ``activity``: bills, payments, returned mail, statements not received;
* ``common``: ``send_change`` (the registry signal for an account's change) and the reason check.
"""

from __future__ import annotations

from accounts.services.activity import (
    bill_record,
    payment_record,
    payment_return,
    returned_mail_record,
    statement_notice_record,
)
from accounts.services.covered_accounts import (
    IDENTITY_DOCUMENT_TYPES,
    account_close,
    account_deny,
    account_open,
    account_reinstate,
    account_release_hold,
    account_set_red_flag_warning,
    account_suspend,
    authorized_party_add,
    authorized_party_remove,
)
from accounts.services.premises import meter_install, premise_change_field_notes, premise_create

__all__ = [
    "IDENTITY_DOCUMENT_TYPES",
    "account_close",
    "account_deny",
    "account_open",
    "account_reinstate",
    "account_release_hold",
    "account_set_red_flag_warning",
    "account_suspend",
    "authorized_party_add",
    "authorized_party_remove",
    "bill_record",
    "meter_install",
    "payment_record",
    "payment_return",
    "premise_change_field_notes",
    "premise_create",
    "returned_mail_record",
    "statement_notice_record",
]
