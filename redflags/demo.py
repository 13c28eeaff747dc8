"""Demo data for the Red Flags program (``make run``): active rules (the catalogue), training
acknowledgements for the demo staff logins, and a few applicants whose openings the program flagged,
so the review queue has work in it. Everything goes through the registry's services, so each opening
is scored exactly as a real one. Idempotent: a second run changes nothing.
"""

from __future__ import annotations

import datetime

from accounts import services as account_services
from members import services as member_services
from members.models import Member, User
from redflags.services import program, rules

DEMO_MARK = "(Red Flags demo)"

# Obviously fake values: area 123 SSNs, 555-01xx phone numbers.
_APPLICANTS = [
    # name, ssn, line1, phone, checklist
    (
        "Jordan Pike",
        "123-40-0001",
        "400 Demo Rd",
        "+12175550101",
        {
            "identity_document_reviewed": True,
            "identity_document_type": "drivers_licence",
            "photo_or_description_mismatch": True,
        },
    ),
    (
        "Riley Stone",
        "123-40-0002",
        "401 Demo Rd",
        "+12175550102",
        {"identity_document_reviewed": True, "identity_document_type": "drivers_licence"},
    ),
    # Gives Riley Stone's SSN: shared SSN, held.
    (
        "Casey Marsh",
        "123-40-0002",
        "402 Demo Rd",
        "+12175550103",
        {"identity_document_reviewed": True, "identity_document_type": "state_id"},
    ),
    # Jordan Pike's spouse: same address and phone, recorded only, opens normally.
    (
        "Morgan Pike",
        "123-40-0004",
        "400 Demo Rd",
        "+12175550101",
        {"identity_document_reviewed": True, "identity_document_type": "drivers_licence"},
    ),
]


def seed_redflags() -> str:
    """Red Flags rules, program settings and sample review items"""
    rules.catalogue_sync()
    staff = {user.username: user for user in User.objects.filter(username__in=["analyst", "programadmin", "csr"])}
    acks = 0
    for user in staff.values():
        program.training_acknowledge(user=user, trained_by=staff.get("programadmin"))
        acks += 1
    queued = _flag_demo_applicants(staff.get("csr"))
    return f"red flags: {acks} training acknowledgements, {queued} demo openings scored"


def _flag_demo_applicants(csr) -> int:
    if csr is None or Member.objects.filter(legal_name__endswith=DEMO_MARK).exists():
        return 0
    opened = 0
    for name, ssn, line1, phone, checklist in _APPLICANTS:
        member = member_services.member_create(
            actor=csr,
            legal_name=f"{name} {DEMO_MARK}",
            mailing_line1=line1,
            mailing_city="Springfield",
            mailing_state="IL",
            mailing_postal_code="62701",
            phone=phone,
            ssn=ssn,
            date_of_birth=datetime.date(1980, 5, 17),
        )
        account_services.account_open(actor=csr, member=member, checklist=checklist)
        opened += 1
    return opened
