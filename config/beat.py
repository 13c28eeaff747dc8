"""One beat at a time: a Redis lock held with a TTL and renewed on every tick.

Two beat processes (a second container, a restarted one while the old one still runs) would each
schedule every periodic job, running the nightly purge and the chain verification twice. The
scheduler below holds ``memberguard:beat-lock`` (``SET NX EX``, value naming the host and process)
and renews it on each tick; a beat that does not hold it logs who does and schedules nothing,
retrying every ``BEAT_LOCK_RETRY_SECONDS``. If the holder dies, its lock expires after
``BEAT_LOCK_TTL_SECONDS`` and the next beat takes over.

    CELERY_BEAT_SCHEDULER = "config.beat:SingleDatabaseScheduler"
"""

from __future__ import annotations

import logging
import os
import socket
import uuid

import redis
from celery.beat import PersistentScheduler
from django.conf import settings

logger = logging.getLogger(__name__)

LOCK_KEY = "memberguard:beat-lock"

# Renew only our own lock; release only our own lock.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


class BeatLock:
    def __init__(self, client: redis.Redis, *, ttl: int, key: str = LOCK_KEY) -> None:
        self.client = client
        self.ttl = ttl
        self.key = key
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def hold(self) -> bool:
        """Take the lock if free, or renew it if ours; False when another beat holds it."""
        if self.client.eval(_RENEW, 1, self.key, self.token, self.ttl):
            return True
        return bool(self.client.set(self.key, self.token, nx=True, ex=self.ttl))

    def holder(self) -> str:
        value = self.client.get(self.key)
        return value.decode() if value else "nobody"

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)


def _redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


class SingleBeat:
    """A scheduler mixin: schedules only while it holds the beat lock."""

    def __init__(self, *args, **kwargs) -> None:
        self.lock = BeatLock(_redis_client(), ttl=settings.BEAT_LOCK_TTL_SECONDS)
        self.held = False
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs) -> float:
        held = self.lock.hold()
        if held != self.held:
            if held:
                logger.info("beat lock %s taken by %s: this beat schedules", LOCK_KEY, self.lock.token)
            self.held = held
        if not held:
            logger.warning(
                "another beat (%s) holds %s: this beat (%s) does not schedule; retrying in %s s",
                self.lock.holder(),
                LOCK_KEY,
                self.lock.token,
                settings.BEAT_LOCK_RETRY_SECONDS,
            )
            return float(settings.BEAT_LOCK_RETRY_SECONDS)
        # Wake up before the lock expires, to renew it, even when the next job is hours away.
        return min(super().tick(*args, **kwargs), settings.BEAT_LOCK_TTL_SECONDS / 3)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.lock.release()  # only if it is ours: compare-and-delete
            self.held = False


class SingleBeatScheduler(SingleBeat, PersistentScheduler):
    """Celery's file-backed scheduler, one beat at a time."""


def _database_scheduler():
    from django_celery_beat.schedulers import DatabaseScheduler  # here: it imports models (app registry ready)

    return DatabaseScheduler


class SingleDatabaseScheduler(SingleBeat, _database_scheduler()):  # type: ignore[misc]
    """django-celery-beat's database scheduler (the schedule staff edit in the admin), one beat at a time."""
