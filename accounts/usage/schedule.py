"""Periodic Celery jobs of this app, merged into CELERY_BEAT_SCHEDULE by config/settings.py.

Plain data only: settings import this module before Django is set up.
"""

from celery.schedules import crontab

BEAT_SCHEDULE: dict = {
    # Daily, so a missed run (worker down) is made up the next night, months before it matters.
    "usage-ensure-partitions": {"task": "usage.ensure_partitions", "schedule": crontab(hour=1, minute=15)},
}
