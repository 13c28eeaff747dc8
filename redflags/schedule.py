"""Periodic Celery jobs of this app, merged into CELERY_BEAT_SCHEDULE by config/settings.py.

Plain data only: settings import this module before Django is set up.
"""

BEAT_SCHEDULE: dict = {
    # C2 / C3 are about payments that did *not* arrive: nothing signals an absence, so look daily.
    "redflags-payment-sweep": {"task": "redflags.payment_sweep", "schedule": 24 * 60 * 60.0},
    # Changes whose scoring task never ran (Redis or the worker down at commit): scored within a minute
    # or two of the broker's return.
    "redflags-sweep-unscored": {"task": "redflags.sweep_unscored", "schedule": 60.0},
    # Cases past their due date (ProgramSettings.case_due_days) escalate to the Program Administrator.
    "redflags-cases-escalate-overdue": {"task": "redflags.cases_escalate_overdue", "schedule": 60 * 60.0},
    # C8 from the access log: one scan per window (the C8 rule version's window_hours, default 24).
    "redflags-access-anomaly-scan": {"task": "redflags.access_anomaly_scan", "schedule": 24 * 60 * 60.0},
}
