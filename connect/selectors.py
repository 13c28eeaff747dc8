"""Reads of Connect My Data used by the portal: a member's authorizations, one by id or 404."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from connect.models import Authorization
from members.models import Member


def authorizations_of_member(*, member: Member) -> QuerySet[Authorization]:
    return Authorization.objects.filter(member=member).select_related("third_party").order_by("-created_at")


def authorization_of_member(*, member: Member, authorization_id: int) -> Authorization:
    """The member's own authorization or 404: never another member's."""
    authorization = authorizations_of_member(member=member).filter(pk=authorization_id).first()
    if authorization is None:
        raise Http404("No such authorization.")
    return authorization
