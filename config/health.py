"""/healthz: database, Redis and Celery worker status for load balancers and orchestrators.

The worker's liveness is a heartbeat: beat schedules ``heartbeat`` every 30 s, a worker runs it and
stamps the time in Redis. A stamp older than HEARTBEAT_MAX_AGE_SECONDS means no worker is consuming.
"""

from __future__ import annotations

import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

HEARTBEAT_KEY = "memberguard:worker-heartbeat"


@shared_task(name="config.health.heartbeat", ignore_result=True)
def heartbeat() -> None:
    cache.set(HEARTBEAT_KEY, time.time(), timeout=None)


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy; the class name is reported
        return {"ok": False, "error": type(exc).__name__}


def _redis() -> dict:
    try:
        cache.get("memberguard:healthz-probe")
        cache.set("memberguard:healthz-probe", 1, timeout=10)
        return {"ok": True}
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}


def _worker() -> dict:
    try:
        stamp = cache.get(HEARTBEAT_KEY)
    except Exception as exc:  # noqa: BLE001
        return {"ok": False, "error": type(exc).__name__}
    if stamp is None:
        return {"ok": False, "error": "no heartbeat yet"}
    age = time.time() - float(stamp)
    return {"ok": age <= settings.HEARTBEAT_MAX_AGE_SECONDS, "heartbeat_age_s": round(age, 1)}


@never_cache
@require_GET
def healthz(request):
    components = {"database": _database(), "redis": _redis(), "worker": _worker()}
    healthy = all(part["ok"] for part in components.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **components}, status=200 if healthy else 503)
