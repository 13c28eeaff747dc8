"""Periodic Celery jobs of this app, merged into CELERY_BEAT_SCHEDULE by config/settings.py.

Plain data only: settings import this module before Django is set up.
"""

BEAT_SCHEDULE: dict = {
    # Verify the disclosure log's chain every night and anchor its head on the audit trail, so a later
    # truncation or rewrite of the log disagrees with a head recorded in another append-only table.
    "disclosures-verify-chain": {"task": "disclosures.verify_chain", "schedule": 24 * 60 * 60.0},
    # Release notices whose task never ran (Redis or the worker down when the release committed): written
    # within a minute or two of the broker's return (disclosures/services/release_notices.py).
    "disclosures-release-notices-sweep": {"task": "disclosures.release_notices_sweep", "schedule": 60.0},
}
