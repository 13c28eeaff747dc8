"""Periodic jobs of Red Flags case work: thin, idempotent, each calls one service."""

from __future__ import annotations

from celery import shared_task

from redflags.cases import access_scan, services


@shared_task(name="redflags.cases_escalate_overdue")
def cases_escalate_overdue() -> int:
    """Overdue open cases go to the Program Administrator's inbox (a case escalates once)."""
    return services.cases_escalate_overdue()


@shared_task(name="redflags.access_anomaly_scan")
def access_anomaly_scan() -> dict:
    """C8 from the access log for the last window; anomalies are recorded once per window."""
    return access_scan.access_anomaly_scan()
