"""Periodic Celery jobs of this app, merged into CELERY_BEAT_SCHEDULE by config/settings.py.

Plain data only: settings import this module before Django is set up.
"""

from celery.schedules import crontab

BEAT_SCHEDULE: dict = {
    # 02:30 local time, when the co-op's staff are not working records.
    "retention-nightly": {"task": "retention.run_due_purges", "schedule": crontab(hour=2, minute=30)},
    # A purge run a dead worker left "running" is marked failed, with an audit row.
    "retention-interrupted-runs": {"task": "retention.fail_interrupted_runs", "schedule": 10 * 60.0},
}
