"""Periodic Celery jobs of this app, merged into CELERY_BEAT_SCHEDULE by config/settings.py.

Plain data only: settings import this module before Django is set up.
"""

BEAT_SCHEDULE: dict = {}
