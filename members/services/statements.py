"""A member's statement of disagreement, kept with their record (Privacy Policy B.2).

When the co-op declines to correct a record, the member may have their own account of it kept beside
the record, so that anyone who reads the record also reads the member's side. The statement is filed
once and never edited; its text is encrypted and its audit row names the field, never the words.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from members.actors import Actor, signed_in_user
from members.audit import audit_record
from members.models import DisagreementStatement, Member

STATEMENT_MAX_LENGTH = 4000


@transaction.atomic
def disagreement_statement_file(*, actor: Actor, member: Member, about: str, statement: str) -> DisagreementStatement:
    """Keep the member's statement with their record. Filed by the member, or by staff on their behalf."""
    filer = signed_in_user(actor)
    if filer is None:
        raise PermissionDenied("A statement of disagreement is filed by a signed-in person.")
    text = (statement or "").strip()
    if not text:
        raise ValidationError({"statement": ["Write what you disagree with and why."]})
    if len(text) > STATEMENT_MAX_LENGTH:
        raise ValidationError({"statement": [f"Keep it under {STATEMENT_MAX_LENGTH} characters."]})
    about = " ".join((about or "").split())[:200]
    if not about:
        raise ValidationError({"about": ["Say which record the statement is about."]})
    filed = DisagreementStatement.objects.create(member=member, about=about, statement=text, filed_by=filer)
    audit_record(
        actor=actor,
        action="member.disagreement_filed",
        obj=member,
        fields=["statement"],
        detail={"statement_id": filed.pk, "about": about},
    )
    return filed
