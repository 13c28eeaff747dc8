from __future__ import annotations

import pytest
from django.test import override_settings

from config.health import heartbeat

pytestmark = pytest.mark.django_db


def test_healthz_is_503_until_a_worker_has_sent_a_heartbeat(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["worker"] == {"ok": False, "error": "no heartbeat yet"}


def test_healthz_is_200_when_database_redis_and_worker_are_up(client):
    heartbeat.delay()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_a_stale_heartbeat_means_the_worker_is_down(client):
    heartbeat.delay()
    with override_settings(HEARTBEAT_MAX_AGE_SECONDS=-1):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"]["ok"] is False


def test_healthz_is_503_when_redis_is_unreachable(client):
    dead_redis = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with override_settings(CACHES=dead_redis):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["redis"]["ok"] is False


def test_healthz_only_answers_get(client):
    assert client.post("/healthz").status_code == 405


def test_the_heartbeat_goes_through_the_real_broker():
    """The broker configured for Celery is a real Redis that accepts connections."""
    from config.celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1)
        assert connection.connected
