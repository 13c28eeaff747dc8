"""What the Red Flags engine scores: an ``Event`` and the names of the events the program raises itself.

Registry events keep the registry's names (``members/signals.py`` ``EVENTS``); which of them the program
watches follows from the detectors (``engine.WATCHED_REGISTRY_EVENTS``). The names below are the ones
the program adds: the opening (scored inside the opening transaction) and the program's own services.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

OPENING = "account.opening"
# Events the program's own services raise (notices, incidents, alerts, caller verification).
CRA_ALERT = "redflags.cra_alert"
IDENTITY_THEFT_NOTICE = "redflags.identity_theft_notice"
SECURITY_INCIDENT = "redflags.security_incident"
CALLER_VERIFICATION_FAILED = "redflags.caller_verification_failed"
PAYMENT_SWEEP = "redflags.payment_sweep"
# The shared-SSN/TIN scan (services.tax_id_scan) raises this for each member it found in a group of
# members sharing one taxpayer number: members loaded in bulk (the CIS import) never had an opening to
# be scored at. Only B5 listens to it.
TAX_ID_SCAN = "redflags.tax_id_scan"
# The scan after a CIS migration (services.import_scan) raises this for each member it loaded whose
# address or phone another member has too, or whose identifiers or bank account are on the fraud list:
# B6 and B3 listen to it (the payload's ``new_indexes`` are the member's indexes, as an opening's are).
IMPORT_SCAN = "redflags.import_scan"
# The access-log scan (redflags/cases/access_scan.py) raises this for each member whose record a staff
# member viewed or revealed with no open work. Only C8 listens to it.
ACCESS_ANOMALY = "redflags.access_anomaly"


@dataclass(frozen=True)
class Event:
    name: str
    member_id: int | None = None
    account_id: int | None = None
    actor_id: int | None = None
    occurred_at: datetime.datetime = field(default_factory=timezone.now)
    fields: tuple[str, ...] = ()
    old_indexes: dict = field(default_factory=dict)
    new_indexes: dict = field(default_factory=dict)
    # Event-specific ids and facts: {"checklist": {...}}, {"alert_id": 3}, {"failures": 3}, ...
    payload: dict = field(default_factory=dict)
