"""Periodic jobs of the outbox (merged into CELERY_BEAT_SCHEDULE by config/settings.py). Plain data."""

from celery.schedules import crontab

BEAT_SCHEDULE: dict = {
    "notices-sweep": {"task": "members.notices.tasks.notices_sweep", "schedule": 60.0},
    "notices-print-letters": {"task": "members.notices.tasks.letters_print", "schedule": crontab(hour=6, minute=0)},
}
