"""Demo data for the Red Flags program: active rules (from the catalogue), training acknowledgements for
the demo staff, and a few flagged accounts in the review queue. Idempotent."""

from __future__ import annotations

from members.models import User


def seed_redflags() -> str:
    from redflags import services
    from redflags.models import ReviewItem

    services.catalogue_sync()
    staff = {user.username: user for user in User.objects.filter(username__in=["analyst", "programadmin", "csr"])}
    trainer = staff.get("programadmin")
    acks = 0
    for user in staff.values():
        services.training_acknowledge(user=user, trained_by=trainer)
        acks += 1
    flagged = 0
    if not ReviewItem.objects.exists():
        flagged = _flag_demo_accounts(staff.get("csr"))
    return f"red flags: catalogue active, {acks} training acknowledgements, {flagged} accounts queued"


def _flag_demo_accounts(csr) -> int:
    """Open accounts through the registry so they are scored as a real opening would be."""
    from accounts import services as account_services
    from members.models import Member

    members = list(Member.objects.filter(status__in=["active", "applicant"]).exclude(tax_id_index="").order_by("id")[:3])
    if len(members) < 2:
        return 0
    from members import services as member_services

    queued = 0
    # 1. An applicant presents an ID whose photo does not match: held pending verification.
    account = account_services.account_open(
        actor=csr, member=members[0], checklist={"identity_document_reviewed": True, "identity_document_type": "drivers_licence", "photo_or_description_mismatch": True}
    )
    queued += int(account.on_hold)
    # 2. Someone gives another member's SSN: shared SSN, held.
    try:
        member_services.member_change_identifiers(actor=csr, member=members[2] if len(members) > 2 else members[1], ssn=members[0].ssn, reason="demo: duplicate SSN given")
        account = account_services.account_open(actor=csr, member=members[2] if len(members) > 2 else members[1], checklist={"identity_document_reviewed": True})
        queued += int(account.on_hold)
    except Exception:  # noqa: BLE001, S110 - demo data is best effort when the registry demo differs
        pass
    return queued
