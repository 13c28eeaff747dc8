"""Periodic Celery jobs of this app, merged into CELERY_BEAT_SCHEDULE by config/settings.py.

Plain data only: settings import this module before Django is set up.

The nightly purge is *not* here: entries here are rewritten in the database at every beat start, and
the purge's time is staff's to edit in the admin (Periodic tasks → ``retention-nightly``, a crontab in
``settings.TIME_ZONE``). Migration ``0002`` creates it once, at 02:30 local time.
"""

BEAT_SCHEDULE: dict = {
    # A purge run a dead worker left "running" is marked failed, with an audit row. (The nightly purge
    # itself is a database schedule staff edit: retention/migrations/0003.)
    "retention-interrupted-runs": {"task": "retention.fail_interrupted_runs", "schedule": 10 * 60.0},
}
