"""Celery tasks of the disclosures app: thin, safe to run twice."""

from __future__ import annotations

from celery import shared_task

from disclosures import services


@shared_task(name="disclosures.verify_chain")
def verify_chain_daily() -> dict:
    """Daily: verify the disclosure log and record the head on the (separate, append-only) audit trail."""
    report = services.chain_verification_record(actor_label="system:verify_disclosure_chain")
    return {"ok": report.ok, "entries": report.entries, "head_seq": report.head_seq}


@shared_task(name="disclosures.release_notices_write", acks_late=True, reject_on_worker_lost=True)
def release_notices_write(due_id: int) -> int | None:
    """After a release commits: its members' notices, written once (the due row is claimed and marked)."""
    return services.release_notices_write(due_id=due_id)


@shared_task(name="disclosures.release_notices_sweep")
def release_notices_sweep() -> int:
    """Every minute: the notices of releases whose task was lost (broker down at commit, worker killed)."""
    return services.release_notices_sweep()
