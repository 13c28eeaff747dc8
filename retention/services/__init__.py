"""The retention app's service interface: import from here (``from retention import services``)."""

from retention.services.approvals import (
    retention_change_approve,
    retention_change_preview,
    retention_change_reject,
    retention_change_run,
    retention_purge_request,
)
from retention.services.holds import retention_hold_place, retention_hold_request_release, retention_holds_sync
from retention.services.policies import retention_policy_ensure_defaults, retention_policy_update
from retention.services.purge import (
    PurgeError,
    retention_fail_interrupted_runs,
    retention_purge_category,
    retention_run_due,
)
from retention.services.reapply import retention_ledger_reapply

__all__ = [
    "PurgeError",
    "retention_change_approve",
    "retention_change_preview",
    "retention_change_reject",
    "retention_change_run",
    "retention_fail_interrupted_runs",
    "retention_hold_place",
    "retention_hold_request_release",
    "retention_holds_sync",
    "retention_ledger_reapply",
    "retention_policy_ensure_defaults",
    "retention_policy_update",
    "retention_purge_category",
    "retention_purge_request",
    "retention_run_due",
]
