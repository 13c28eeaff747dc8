"""Celery tasks of the Red Flags program: take plain data, call a service, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from redflags.services import assessments, tax_id_scan


@shared_task(name="redflags.assess_change", autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def assess_change(payload: dict) -> int | None:
    """Score one registry change. The payload's key makes a re-delivery (or the sweep) a no-op."""
    assessment = assessments.change_assess(payload=payload)
    return assessment.pk if assessment else None


@shared_task(name="redflags.sweep_unscored")
def sweep_unscored() -> int:
    """Every minute: score committed changes whose task never ran (broker or worker down at commit)."""
    return assessments.unscored_changes_sweep()


@shared_task(name="redflags.payment_sweep")
def payment_sweep() -> int:
    """Daily: accounts whose bill became overdue yesterday (C2, C3 need the absence of a payment)."""
    return assessments.payment_sweep()


@shared_task(name="redflags.shared_tax_id_scan")
def shared_tax_id_scan(member_ids: list[int] | None = None) -> dict:
    """Red Flag B5 for bulk-loaded members (after a CIS import): counts only, never a value."""
    return tax_id_scan.shared_tax_id_scan(member_ids=member_ids, actor_label="system:redflags.tax_id_scan_task")
