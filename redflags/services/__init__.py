"""Every write of the Red Flags program. This ``__init__`` is the app's service interface.

Other apps, the receivers and the tests call ``redflags.services.<name>``; the names below are that
interface and stay importable from here whatever module holds them. Code inside the app imports from
the module itself:

- ``assessments``: scoring openings, registry changes and the program's own events; the payment sweep
- ``tax_id_scan``: the shared SSN/TIN scan (B5 for members loaded without an opening)
- ``import_scan``: shared address/phone (B6) and the fraud list (B3) for members loaded in bulk
- ``notices``: what staff record: the fraud list, CRA alerts, identity-theft notices, incidents
- ``caller_verification``: internal procedure 7 (match / no match per stated item; B8 on repetition)
- ``program``: who may act (permission, training), thresholds, program changes, the annual review
- ``rules``: the catalogue synchronised into rules, and rule versions (draft, dry run, activate, retire)
- ``review``: the review queue, one row per response (its preconditions and its effect)

Each function is keyword-only, runs in one transaction and leaves an audit row in it. Changes to
accounts (warning, hold, deny, close) go through the registry's services (``redflags.registry``),
never a raw ``save()``, so they are audited and signalled like any other account change.
"""

from redflags.services.assessments import (
    change_assess,
    change_payload,
    event_assess,
    opening_assess,
    payment_sweep,
    unscored_change_enqueue,
    unscored_change_record,
    unscored_changes_sweep,
)
from redflags.services.caller_verification import caller_verify
from redflags.services.import_scan import imported_contact_scan
from redflags.services.notices import (
    cra_alert_record,
    fraud_entry_add,
    fraud_list_reindex,
    identity_theft_notice_record,
    security_incident_record,
)
from redflags.services.program import (
    annual_review_save,
    has_current_training,
    program_change_decide,
    program_change_recommend,
    program_settings_update,
    require_current_training,
    training_acknowledge,
)
from redflags.services.review import review_respond
from redflags.services.rules import (
    catalogue_sync,
    rule_version_activate,
    rule_version_draft,
    rule_version_dry_run,
    rule_version_retire,
)
from redflags.services.tax_id_scan import TaxIdScanError, shared_tax_id_scan

__all__ = [
    "TaxIdScanError",
    "annual_review_save",
    "caller_verify",
    "catalogue_sync",
    "change_assess",
    "change_payload",
    "unscored_change_enqueue",
    "unscored_change_record",
    "unscored_changes_sweep",
    "cra_alert_record",
    "event_assess",
    "fraud_entry_add",
    "fraud_list_reindex",
    "has_current_training",
    "identity_theft_notice_record",
    "imported_contact_scan",
    "opening_assess",
    "payment_sweep",
    "program_change_decide",
    "program_change_recommend",
    "program_settings_update",
    "require_current_training",
    "review_respond",
    "rule_version_activate",
    "rule_version_draft",
    "rule_version_dry_run",
    "rule_version_retire",
    "security_incident_record",
    "shared_tax_id_scan",
    "training_acknowledge",
]
