"""The "Red Flag Exists" warning binds (issue 16 item 2): the guard the program registers in
``members.guards``.

While a review item with outcome warn or hold is open on a member (or any of the member's accounts),
the next sensitive action the registry or the portal performs for that member (``members.guards.ACTIONS``)
needs the acting staff member's acknowledgement: a note, recorded on the member's case with the
alerts it answers. Without one the action is refused with a message listing the warnings. A member
acting on their own record (the portal) cannot acknowledge a warning about themselves: the action is
refused with a message that says nothing about the review, and staff must do it. The system
(imports, tasks: no signed-in user) is not stopped.
"""

from __future__ import annotations

from django.db.models import Q

from members import guards
from members.actors import signed_in_user
from redflags.cases.services import warning_acknowledge
from redflags.models import Outcome, ReviewItem


def open_warnings(member) -> list[ReviewItem]:
    """Open warn/hold review items on the member or any of the member's accounts (one indexed query)."""
    if member is None or member.pk is None:
        return []
    return list(
        ReviewItem.objects.filter(
            Q(member_id=member.pk) | Q(account__member_id=member.pk),
            status=ReviewItem.Status.OPEN,
            outcome__in=(Outcome.WARN, Outcome.HOLD),
        )
        .select_related("assessment")
        .order_by("created_at", "id")
    )


def _describe(item: ReviewItem) -> str:
    codes = ", ".join(entry["code"] for entry in item.assessment.fired) or "no rule"
    return f"#{item.pk} ({codes}, {item.created_at:%Y-%m-%d})"


def red_flag_warning_guard(*, action: str, member, account, actor, acknowledgement: str) -> None:
    user = signed_in_user(actor)
    if user is None:
        return
    items = open_warnings(member)
    if not items:
        return
    listed = "; ".join(_describe(item) for item in items)
    what = guards.ACTIONS[action]
    if not user.is_staff:
        # The member (possibly someone who took over the login) is told nothing about the review.
        raise guards.AcknowledgementRequired(
            f"The {what} cannot be made online at the moment; please call member services.", []
        )
    if not acknowledgement:
        raise guards.AcknowledgementRequired(
            f'A "Red Flag Exists" warning is open: {listed}. Acknowledge it with a note to go ahead with the {what}.',
            [_describe(item) for item in items],
        )
    warning_acknowledge(actor=user, member=member, action=action, note=acknowledgement, items=items)
