"""Every write of the disclosures app, and the ONE path by which member information leaves the co-op.

This package's ``__init__`` is the app's service interface: other apps, views, the admin, tasks and
tests import from ``disclosures.services`` and never from its modules. Inside the package, each module
imports from the module that owns the name. One policy per module:

| module | what it decides |
|---|---|
| ``categories`` | what each data category releases; the category check every service runs |
| ``parties`` | recipients and their confidentiality agreements |
| ``consents`` | the member's consent: grant, revoke, which consents are in force |
| ``notice_texts`` | the versioned wording members read before consenting (the consent's evidence) |
| ``bases`` | legal bases other than consent, with the evidence each kind requires |
| ``membership_lists`` | membership-list requests (seed 000 G) and their release |
| ``planner`` | which basis allows a release: one resolver per basis kind |
| ``export`` | THE export path, ``disclosure_export``: checks, refuses (logged) or streams and logs |
| ``release_notices`` | the members' notices of a release: due in its transaction, written after commit, swept |
| ``export_rows`` | what an export reads, a page at a time (the hot loop) |
| ``member_copy`` | what a member's full copy of their own data holds (released by ``export.member_copy_export``) |
| ``aggregate`` | aggregated data, released only when every group meets the standard |
| ``auditor`` | the auditor pages' logged CSV downloads; the chain verification anchored on the audit trail |

Only ``export.py`` (with ``disclosures/rendering.py``) may turn member data into a file:
``tests/disclosures/test_single_export_path.py`` fails on any other module that does.
"""

from __future__ import annotations

from disclosures.services.aggregate import aggregate_export, aggregation_problems
from disclosures.services.auditor import auditor_csv_export, auditor_pdf_export, chain_verification_record
from disclosures.services.bases import legal_basis_approve, legal_basis_record, legal_basis_revoke
from disclosures.services.categories import CATEGORY_FIELDS, NOT_HELD
from disclosures.services.consents import consent_grant, consent_revoke, consents_destroy
from disclosures.services.export import (
    DisclosureRefused,
    Export,
    disclosure_export,
    log_refusal,
    member_copy_export,
)
from disclosures.services.member_copy import CopySection, release_recipient_words
from disclosures.services.membership_lists import (
    membership_list_export,
    membership_list_request_create,
    membership_list_request_decide,
    membership_list_request_withdraw,
)
from disclosures.services.notice_texts import (
    category_words,
    notice_fill,
    notice_text_correct,
    notice_text_current,
    notice_text_publish,
    portal_consent_wording,
)
from disclosures.services.parties import (
    agreement_record,
    recipient_create,
    recipient_deactivate,
    recipient_reactivate,
)
from disclosures.services.release_notices import release_notices_sweep, release_notices_write

__all__ = [
    "release_notices_sweep",
    "release_notices_write",
    "consents_destroy",
    "CATEGORY_FIELDS",
    "NOT_HELD",
    "CopySection",
    "DisclosureRefused",
    "Export",
    "agreement_record",
    "aggregate_export",
    "aggregation_problems",
    "auditor_csv_export",
    "auditor_pdf_export",
    "chain_verification_record",
    "consent_grant",
    "consent_revoke",
    "disclosure_export",
    "log_refusal",
    "legal_basis_approve",
    "legal_basis_record",
    "legal_basis_revoke",
    "member_copy_export",
    "membership_list_export",
    "membership_list_request_create",
    "membership_list_request_decide",
    "membership_list_request_withdraw",
    "category_words",
    "portal_consent_wording",
    "notice_fill",
    "notice_text_correct",
    "notice_text_current",
    "notice_text_publish",
    "recipient_create",
    "release_recipient_words",
    "recipient_deactivate",
    "recipient_reactivate",
]
