"""Demo data for the auditor pages: recipients, agreements, consents and a few releases and refusals.

Idempotent: the step does nothing once the demo recipients exist.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from disclosures import services
from disclosures.models import DataCategory as C
from disclosures.models import LegalBasis, Purpose, Recipient
from members.models import Member, User


def seed_disclosures() -> str:
    """Recipients, agreements, consents and a sample release"""
    if Recipient.objects.filter(name="Prairie Billing Services").exists():
        return "disclosures: demo data already present"
    members = list(Member.objects.order_by("pk")[:6])
    privacy = User.objects.filter(username="privacy").first()
    csr = User.objects.filter(username="csr").first()
    today = timezone.localdate()
    now = timezone.now()
    with transaction.atomic():
        printer = services.recipient_create(
            actor=privacy,
            name="Prairie Billing Services",
            kind=Recipient.Kind.CONTRACTOR,
            contact_email="ops@prairie-billing.example",
        )
        lapsed = services.recipient_create(actor=privacy, name="Old Route Collections", kind=Recipient.Kind.CONTRACTOR)
        solar = services.recipient_create(actor=privacy, name="SunnyRoof Solar", kind=Recipient.Kind.MEMBER_DESIGNATED)
        partner = services.recipient_create(
            actor=privacy, name="HomeWarm Insulation Offers", kind=Recipient.Kind.NON_AFFILIATED
        )
        sheriff = services.recipient_create(
            actor=privacy, name="County Sheriff's Office", kind=Recipient.Kind.LAW_ENFORCEMENT
        )
        utility = services.recipient_create(
            actor=privacy, name="Neighbouring Electric Co-op", kind=Recipient.Kind.OTHER_UTILITY
        )
        services.recipient_create(actor=privacy, name="State Energy Office", kind=Recipient.Kind.AFFILIATE)
        agreement = services.agreement_record(
            actor=privacy,
            recipient=printer,
            reference="CA-2026-01",
            scope="Bill printing and mailing",
            categories=[C.CONTACT, C.BILLING],
            signed_on=today - timedelta(days=200),
            effective_from=today - timedelta(days=200),
            expires_on=today + timedelta(days=165),
            document_reference="contracts/2026/prairie.pdf",
        )
        old = services.agreement_record(
            actor=privacy,
            recipient=lapsed,
            reference="CA-2023-07",
            scope="Collection of closed accounts",
            categories=[C.CONTACT, C.BILLING],
            signed_on=today - timedelta(days=900),
            effective_from=today - timedelta(days=900),
            expires_on=today - timedelta(days=30),
        )
        mutual = services.agreement_record(
            actor=privacy,
            recipient=utility,
            reference="MA-2025-02",
            scope="Mutual aid and shared feeder switching",
            categories=[C.CONTACT],
            signed_on=today - timedelta(days=300),
            effective_from=today - timedelta(days=300),
            expires_on=today + timedelta(days=400),
        )
        contractor_basis = services.legal_basis_record(
            actor=privacy,
            kind=LegalBasis.Kind.CONTRACTOR,
            recipient=printer,
            agreement=agreement,
            categories=[C.CONTACT],
            purpose=Purpose.BILLING,
            valid_until=now + timedelta(days=165),
        )
        lapsed_basis = services.legal_basis_record(
            actor=privacy,
            kind=LegalBasis.Kind.CONTRACTOR,
            recipient=lapsed,
            agreement=old,
            categories=[C.CONTACT],
            purpose=Purpose.COLLECTION,
            valid_until=now + timedelta(days=30),
        )
        services.legal_basis_record(
            actor=privacy,
            kind=LegalBasis.Kind.OTHER_UTILITY,
            recipient=utility,
            agreement=mutual,
            categories=[C.CONTACT],
            purpose=Purpose.OPERATIONS,
            valid_until=now + timedelta(days=400),
        )
        consents = []
        for index, member in enumerate(members[:4]):
            consents.append(
                services.consent_grant(
                    actor=csr,
                    member=member,
                    recipient=partner,
                    categories=[C.CONTACT],
                    purpose=Purpose.MARKETING,
                    channel="written",
                    evidence=f"form MKT-{index + 1:03d}",
                )
            )
        if members:
            services.consent_grant(
                actor=csr,
                member=members[0],
                recipient=solar,
                categories=[C.USAGE],
                purpose=Purpose.MEMBER_DESIGNATED,
                channel="written",
                evidence="form GB-001",
                expires_at=now + timedelta(days=365),
            )
        if len(consents) > 1:
            services.consent_revoke(actor=csr, consent=consents[1], channel="phone", reason="member called to opt out")
        legal = None
        if members:
            legal = services.legal_basis_record(
                actor=privacy,
                kind=LegalBasis.Kind.LEGAL_PROCESS,
                recipient=sheriff,
                members=members[:1],
                categories=[C.CONTACT],
                purpose=Purpose.LEGAL_PROCESS,
                valid_until=now + timedelta(days=30),
                process_type="subpoena",
                document_reference="2026-CV-0118",
                issuing_authority="County Circuit Court",
                document_date=today - timedelta(days=3),
                notice_withheld=True,
            )
    released = refused = 0
    if members:
        services.disclosure_export(
            actor=privacy,
            recipient=printer,
            categories=[C.CONTACT],
            purpose=Purpose.BILLING,
            basis=contractor_basis,
            member_ids=[m.pk for m in members],
        ).read_all()
        services.disclosure_export(
            actor=privacy, recipient=partner, categories=[C.CONTACT], purpose=Purpose.MARKETING
        ).read_all()
        services.disclosure_export(
            actor=privacy, recipient=sheriff, categories=[C.CONTACT], purpose=Purpose.LEGAL_PROCESS, basis=legal
        ).read_all()
        released = 3
        for attempt in (
            dict(
                recipient=partner,
                categories=[C.CONTACT, C.BILLING],
                purpose=Purpose.MARKETING,
                member_ids=[members[0].pk],
            ),
            dict(
                recipient=printer,
                categories=[C.BILLING],
                purpose=Purpose.BILLING,
                basis=contractor_basis,
                member_ids=[members[0].pk],
            ),
            dict(
                recipient=lapsed,
                categories=[C.CONTACT],
                purpose=Purpose.COLLECTION,
                basis=lapsed_basis,
                member_ids=[members[0].pk],
            ),
        ):
            try:
                services.disclosure_export(actor=privacy, **attempt).read_all()
            except services.DisclosureRefused:
                refused += 1
    return (
        f"disclosures: 7 recipients, 3 agreements, {len(members[:4]) + 1} consents, "
        f"{released} releases, {refused} refused attempts"
    )
