"""Thin receivers: the registry announces, the program scores. No business logic here.

An opening is scored synchronously (inside the opening transaction, before the account leaves
``pending``), so the decision exists before the account opens. Every other watched change is scored
after commit by a Celery task, so a rolled-back change is never scored and the registry's write is not
slowed down.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import receiver

from members.signals import account_opening, blind_index_key_rotated, members_imported, registry_changed
from redflags import engine, services, tasks


@receiver(account_opening, dispatch_uid="redflags.score_opening")
def score_opening(sender, account, actor=None, checklist=None, **kwargs):
    services.opening_assess(account=account, actor=actor, checklist=checklist)


@receiver(registry_changed, dispatch_uid="redflags.score_change")
def score_change(sender, change, **kwargs):
    if change.event not in engine.WATCHED_REGISTRY_EVENTS:
        return
    # The change and its row in the outbox commit together; the task after commit is the fast path and
    # the sweep the safety net, so a broker outage at that moment loses nothing (services.unscored_*).
    payload = services.unscored_change_record(change=change)
    transaction.on_commit(lambda: services.unscored_change_enqueue(payload=payload, send=tasks.assess_change.delay))


@receiver(blind_index_key_rotated, dispatch_uid="redflags.fraud_list_reindex")
def reindex_fraud_list(sender, **kwargs):
    services.fraud_list_reindex()


@receiver(members_imported, dispatch_uid="redflags.scan_imported_members")
def scan_imported_members(sender, member_ids, actor_label="", **kwargs) -> str:
    """A legacy CIS load finished: its accounts were opened in the legacy system, so no opening scored
    them. Red Flags B6 and B3 over the members loaded (services.import_scan), and B5 over the whole
    registry (every member of a sharing group is reported, as ``manage.py redflags_scan_shared_ids``
    does: a member joining a group makes the group news again), synchronously, so the import command
    reports when it is done. Returns the summary it prints."""
    label = actor_label or "import"
    counts = services.shared_tax_id_scan(actor_label=f"{label}:redflags.tax_id_scan")
    contact = services.imported_contact_scan(member_ids=member_ids, actor_label=f"{label}:redflags.import_scan")
    return (
        f"{counts['members_checked']} members checked: {counts['groups_found']} groups sharing an SSN/TIN "
        f"({counts['members_in_groups']} members); {counts['members_flagged']} members flagged for review, "
        f"{counts['members_already_flagged']} already flagged; {counts['seconds']}s. "
        f"{contact['members_checked']} imported members scanned for shared addresses and phones (B6) and the "
        f"fraud list (B3): {contact['b6_shared_address_or_phone']} B6, {contact['b3_known_fraud']} B3 "
        f"({contact['members_assessed']} assessed, {contact['members_already_scanned']} scanned before); "
        f"{contact['seconds']}s"
    )
