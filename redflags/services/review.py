"""The review queue: the program's responses to a queued Red Flag, as a table.

Each response the program lists (seed 002: monitor, track, contact the customer, do not open, close,
notify law enforcement, no response warranted, plus releasing a held opening after verifying identity)
is one ``ResponseRule``: the preconditions checked before anything is written (each a small function
that raises with the reason), the effect on the account carried out through the registry's services
(``redflags.registry``: audited and signalled like any account change) and whether it resolves the
item. ``review_respond`` checks who acts (the ``work_queue`` permission and current training), locks
the item and its account, runs the response's preconditions in order, records the ``Response`` (with
the rule versions behind the decision) and its audit row, and applies the effect, in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from members.actors import Actor
from members.audit import audit_record
from members.models import User
from members.notices.services import notice_enqueue
from redflags import registry
from redflags.models import Response, ReviewItem
from redflags.services.program import require_current_training, require_permission


@dataclass(frozen=True)
class Case:
    """One response being recorded: the locked item and account, who acts and what they wrote."""

    item: ReviewItem
    account: Account | None
    actor: User
    notes: str
    agency: str
    case_number: str
    justification: str
    contact_template: str = ""
    sent: list = field(default_factory=list)  # notices the response queued (the record of the contact)

    @property
    def held(self) -> bool:
        return self.account is not None and self.account.on_hold

    @property
    def the_account(self) -> Account:
        """The account of a response that acts on one (``_needs_account`` runs first for those)."""
        if self.account is None:
            raise ValidationError("this response needs an account; the flag is about the member only")
        return self.account


# --- preconditions: each raises with the reason the response cannot be recorded ----------------------


def _needs_agency_and_case_number(case: Case) -> None:
    if not (case.agency and case.case_number):
        raise ValidationError("notifying law enforcement needs the agency and the case number")


def _needs_justification(case: Case) -> None:
    if not case.justification:
        raise ValidationError("say why no response is warranted")


# The notices an analyst may send for "3. Contact the customer" (members/notices/kinds.py, templates/notices/):
# plain words, the co-op's phone number, nothing about the rule or the evidence, no identifier.
CONTACT_TEMPLATES = {
    "red_flag_contact": "Please contact us about your account (activity to confirm)",
    "red_flag_new_account": "Did you apply for an account with us? (an opening in the member's name)",
}


def _needs_contact_notes(case: Case) -> None:
    if case.contact_template and case.contact_template not in CONTACT_TEMPLATES:
        raise ValidationError({"contact_template": "choose one of the contact notices"})
    if not case.contact_template and not case.notes:
        raise ValidationError(
            "choose a contact notice to send, or note how and when the customer was contacted and what they said"
        )


def _contact(case: Case, reason: str) -> None:
    """Send the chosen notice to the e-mail and the mailing address *on file* (never a contact detail that
    just changed: the notice must reach the real member). The queued notices are the record."""
    if not case.contact_template:
        return
    member = case.item.member if case.item.member_id else case.the_account.member
    if member is None:
        raise ValidationError("this review item names no member to contact")
    case.sent.extend(
        notice_enqueue(actor=case.actor, kind=case.contact_template, member=member, context={}, letter=True)
    )


def _not_on_hold(case: Case) -> None:
    if case.held:
        raise ValidationError("the opening is on hold: release it after verifying identity, or do not open the account")


def _needs_account(case: Case) -> None:
    if case.account is None:
        raise ValidationError("this response needs an account; the flag is about the member only")


def _not_yet_open(case: Case) -> None:
    if case.the_account.status != "pending":
        raise ValidationError("only an account that is not yet open can be refused")


def _open_or_suspended(case: Case) -> None:
    if case.the_account.status not in ("open", "suspended"):
        raise ValidationError("only an open or suspended account can be closed")


def _on_hold(case: Case) -> None:
    if not case.held:
        raise ValidationError("the account is not on hold")


def _not_the_opener(case: Case) -> None:
    opener = case.the_account.opened_by_id
    if opener and opener == case.actor.pk:
        raise PermissionDenied("dual control: the person who opened the account cannot clear its hold")


def _needs_reason(case: Case) -> None:
    if not case.notes:
        raise ValidationError("give the reason for this decision in the notes (it is recorded with it)")


def _needs_verification_notes(case: Case) -> None:
    if not case.notes:
        raise ValidationError("note how the identity was verified")


def _second_approver(case: Case) -> None:
    """A genuine second approver: someone else asked for this release (cases.services.hold_release_request)."""
    # redflags.cases.services imports this package's program module: imported here, not at the top.
    from redflags.cases.services import hold_release_approval

    hold_release_approval(item=case.item, approver=case.actor)


# --- effects on the account, through the registry's services ------------------------------------------


def _warn(case: Case, reason: str) -> None:
    if not case.the_account.red_flag_warning:
        registry.set_warning(account=case.the_account, warning=True, reason=reason, actor=case.actor)


def _deny(case: Case, reason: str) -> None:
    registry.deny_opening(account=case.the_account, actor=case.actor, reason=reason)


def _close(case: Case, reason: str) -> None:
    registry.close_account(account=case.the_account, actor=case.actor, reason=reason)


def _release(case: Case, reason: str) -> None:
    registry.release_hold(account=case.the_account, actor=case.actor, reason=reason)


@dataclass(frozen=True)
class ResponseRule:
    preconditions: tuple[Callable[[Case], None], ...] = ()
    effect: Callable[[Case, str], None] | None = None
    resolves: bool = False


RESPONSES: dict[str, ResponseRule] = {
    Response.Kind.MONITOR: ResponseRule((_not_on_hold, _needs_account), effect=_warn, resolves=True),
    Response.Kind.TRACK: ResponseRule(),
    Response.Kind.CONTACT_CUSTOMER: ResponseRule((_needs_contact_notes,), effect=_contact),
    Response.Kind.DO_NOT_OPEN: ResponseRule(
        (_needs_account, _not_yet_open, _needs_reason), effect=_deny, resolves=True
    ),
    Response.Kind.CLOSE_ACCOUNT: ResponseRule(
        (_needs_account, _open_or_suspended, _needs_reason), effect=_close, resolves=True
    ),
    Response.Kind.NOTIFY_LAW_ENFORCEMENT: ResponseRule((_needs_agency_and_case_number,)),
    Response.Kind.NO_RESPONSE: ResponseRule((_needs_justification, _not_on_hold), resolves=True),
    Response.Kind.RELEASE_HOLD: ResponseRule(
        (_needs_account, _on_hold, _not_the_opener, _needs_verification_notes, _second_approver),
        effect=_release,
        resolves=True,
    ),
}


def review_respond(
    *,
    item: ReviewItem,
    actor: Actor,
    kind: str,
    notes: str = "",
    agency: str = "",
    case_number: str = "",
    justification: str = "",
    contact_template: str = "",
) -> Response:
    """Record one response of the program to a queued Red Flag, and carry it out through the registry.
    ``contact_template``: for "Contact the customer", the notice to send (``CONTACT_TEMPLATES``)."""
    user = require_permission(actor, "redflags.work_queue", "only a Red Flag Analyst works the review queue")
    require_current_training(user)
    rule = RESPONSES.get(kind)
    if rule is None:
        raise ValidationError({"kind": "unknown response"})
    with transaction.atomic():
        item = ReviewItem.objects.select_for_update(no_key=True).select_related("assessment").get(pk=item.pk)
        if item.status == ReviewItem.Status.RESOLVED:
            raise ValidationError("this review item is already resolved")
        account = Account.objects.select_for_update(no_key=True).get(pk=item.account_id) if item.account_id else None
        case = Case(
            item=item,
            account=account,
            actor=user,
            notes=notes.strip(),
            agency=agency.strip(),
            case_number=case_number.strip(),
            justification=justification.strip(),
            contact_template=contact_template.strip(),
        )
        for precondition in rule.preconditions:
            precondition(case)
        response = Response.objects.create(
            review_item=item,
            kind=kind,
            actor=user,
            notes=case.notes,
            agency=case.agency,
            case_number=case.case_number,
            justification=case.justification,
            rule_versions=[f"{entry['code']}@v{entry['version']}" for entry in item.assessment.fired],
        )
        if rule.effect is not None:
            rule.effect(case, f"Red Flags review #{item.pk}: {response.get_kind_display()}")
        if rule.resolves:
            item.status, item.resolved_at, item.resolved_by = ReviewItem.Status.RESOLVED, timezone.now(), user
            item.save(update_fields=["status", "resolved_at", "resolved_by"])
        audit_record(
            actor=user,
            action=f"redflags.response.{kind}",
            obj=response,
            fields=["kind", "notes", "agency", "case_number", "justification"],
            reason=notes or justification,
            detail={
                "review_item": item.pk,
                "account_id": item.account_id,
                "rule_versions": response.rule_versions,
                "resolved": rule.resolves,
                **({"notices": [notice.pk for notice in case.sent]} if case.sent else {}),
            },
        )
    return response
