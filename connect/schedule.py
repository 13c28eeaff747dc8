"""Periodic jobs of Connect My Data (merged into CELERY_BEAT_SCHEDULE by config/settings.py). Plain data."""

BEAT_SCHEDULE: dict = {
    "connect-notifications-sweep": {"task": "connect.tasks.notifications_sweep", "schedule": 60.0},
}
