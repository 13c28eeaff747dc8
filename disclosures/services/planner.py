"""The export planner: which basis allows this release, and to whom, of what, on which reference.

``plan_release`` reads and checks; it never writes. It returns a ``Plan`` or raises ``Refusal`` with the
reason an auditor reads on the log (export.py logs it). The request itself (purpose, format, categories
held, recipient active) has been checked by the gate before; what is left depends on the basis, so
the planner is a table, ``RESOLVERS``: one small function per basis kind, keyed by the ``basis_kind``
the log entry records. Adding a legal basis kind means adding its resolver here and its validator to
``bases.VALIDATORS`` (docs/architecture.md has the recipe).

Every resolver reads the basis afresh from the database first (``_read_afresh``), so a revocation,
withdrawal or expiry seconds before the release counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Min
from django.utils import timezone

from disclosures.models import Consent, LegalBasis, MembershipListRequest, Purpose, Recipient
from disclosures.services.categories import CATEGORY_FIELDS, MEMBERSHIP_LIST_FIELDS, C
from disclosures.services.consents import active_consents, consent_in_force, consent_reread, consent_status_reason
from members.models import Member

# Purposes that have a basis of their own and are never released on a member's consent.
NOT_ON_CONSENT = frozenset(
    {
        Purpose.LEGAL_PROCESS,
        Purpose.IMMINENT_THREAT,
        Purpose.AGGREGATE_REPORTING,
        Purpose.MEMBERSHIP_LIST,
        Purpose.MEMBER_ACCESS,
    }
)
# How many member ids a refusal names before it stops listing them.
SHOWN_MEMBERS = 20


class Refusal(Exception):
    """Raised by the planner; the export gate logs it and raises ``DisclosureRefused``."""


@dataclass
class Plan:
    """What a resolved basis allows: who, what, on which reference."""

    basis_kind: str
    basis_ref: str
    purpose: str
    recipient: Recipient | None
    recipient_label: str
    categories: list[str]
    fields: list[str]
    member_ids: list[int] | None  # explicit list; None = all members the consents cover
    notice_withheld: bool = False
    consent_gate: dict | None = None  # filters for the per-member consent join
    on_release: Callable[[], None] | None = None
    # Set by the export path, not by a basis: narrower releases (Connect My Data pulls).
    account_ids: list[int] | None = None  # only these accounts of the members released
    espi_view: Any = None  # accounts.usage.espi.EspiView: one ESPI resource instead of the whole feed
    note: str = ""  # what was pulled (resource, period), kept in the log entry
    notify: bool = True  # tell each member of this release (a notice)
    consent_id: int | None = None  # the one consent a release rests on, re-read when the data is read

    def also_on_release(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` too, after the basis's own effect, in the release's transaction."""
        first = self.on_release

        def both() -> None:
            if first is not None:
                first()
            hook()

        self.on_release = both


@dataclass(frozen=True)
class Release:
    """What the caller asks to release, as the gate has already checked it."""

    recipient: Recipient | None
    categories: list[str]
    purpose: str
    member_ids: list[int] | None
    fields: list[str] | None

    @property
    def recipient_label(self) -> str:
        return self.recipient.name if self.recipient else ""


def _check_fields(categories: list[str], fields: Iterable[str] | None) -> list[str]:
    """The columns released: every field of the categories, or the ones asked for if all lie inside them."""
    allowed = ["member_number"] + [f for c in categories for f in CATEGORY_FIELDS.get(c, ())]
    if fields is None:
        return allowed
    wanted = list(dict.fromkeys(["member_number", *fields]))
    outside = [f for f in wanted if f not in allowed]
    if outside:
        raise Refusal(f"fields outside the allowed categories: {', '.join(outside)}")
    return wanted


def plan_release(
    *,
    basis: Consent | LegalBasis | MembershipListRequest | None,
    recipient: Recipient | None,
    categories: list[str],
    purpose: str,
    member_ids: list[int] | None,
    fields: list[str] | None,
) -> Plan:
    """Resolve the basis or raise Refusal(reason). Pure checks, no writes."""
    release = Release(recipient, categories, purpose, member_ids, fields)
    current = _read_afresh(basis)
    return RESOLVERS[_basis_kind(current)](current, release)


def _read_afresh(basis: Any) -> Consent | LegalBasis | MembershipListRequest | None:
    if basis is None:
        return None
    if isinstance(basis, Consent):
        consent_reread(basis)  # every column, also of a consent the caller holds only by id
        return basis
    if isinstance(basis, MembershipListRequest):
        return MembershipListRequest.objects.select_related("requester").get(pk=basis.pk)
    if isinstance(basis, LegalBasis):
        return LegalBasis.objects.select_related("agreement", "recipient").get(pk=basis.pk)
    raise Refusal("no basis for this release")


def _basis_kind(basis: Consent | LegalBasis | MembershipListRequest | None) -> str:
    if basis is None or isinstance(basis, Consent):
        return "consent"
    if isinstance(basis, MembershipListRequest):
        return "membership_list"
    return basis.kind


# --- Consent (seed 000 F.1, F.5; seed 001 written consent) -----------------------------------------


def _consent(consent: Consent | None, release: Release) -> Plan:
    """The members' own consents: one named ``Consent``, or (``basis=None``) each member's."""
    recipient = release.recipient
    if recipient is None:
        raise Refusal("a consent-based release names its recipient")
    if release.purpose in NOT_ON_CONSENT:
        raise Refusal(f"purpose {release.purpose} is not released on consent")
    if consent is None:
        return _members_consents(recipient, release)
    return _one_consent(consent, recipient, release)


def _one_consent(consent: Consent, recipient: Recipient, release: Release) -> Plan:
    if consent.recipient_id != recipient.pk:
        raise Refusal(f"consent #{consent.pk} is for another recipient")
    if release.member_ids is not None and set(release.member_ids) != {consent.member_id}:
        raise Refusal(f"consent #{consent.pk} covers member {consent.member_id} only")
    # Read afresh a moment ago (_read_afresh): its own columns say whether it is in force now.
    if not consent_in_force(consent, recipient=recipient, purpose=release.purpose, categories=release.categories):
        raise Refusal(
            consent_status_reason(
                recipient=recipient,
                purpose=release.purpose,
                categories=release.categories,
                member_ids=[consent.member_id],
                consent_id=consent.pk,
            )
        )
    return Plan(
        basis_kind="consent",
        basis_ref=f"consent:{consent.pk}",
        purpose=release.purpose,
        recipient=recipient,
        recipient_label=release.recipient_label,
        categories=release.categories,
        fields=_check_fields(release.categories, release.fields),
        member_ids=[consent.member_id],
        # Checked again when the member's data is read (export_rows.py), not only now.
        consent_gate={"recipient": recipient, "purpose": release.purpose, "categories": release.categories},
        consent_id=consent.pk,
    )


def _members_consents(recipient: Recipient, release: Release) -> Plan:
    """Each member released holds a consent in force; with no ids, exactly the members who hold one."""
    purpose, categories = release.purpose, release.categories
    member_ids = release.member_ids
    if member_ids is not None:
        covered = set(
            active_consents(recipient=recipient, purpose=purpose, categories=categories)
            .filter(member_id__in=member_ids)
            .values_list("member_id", flat=True)
        )
        missing = sorted(set(member_ids) - covered)
        if missing:
            shown = _member_numbers(missing)
            why = consent_status_reason(member_ids=missing, recipient=recipient, purpose=purpose, categories=categories)
            raise Refusal(
                f"{len(missing)} of {len(set(member_ids))} members have no valid consent (members {shown}): {why}"
            )
    return Plan(
        basis_kind="consent",
        basis_ref=f"consent:recipient={recipient.pk},purpose={release.purpose}",
        purpose=release.purpose,
        recipient=recipient,
        recipient_label=release.recipient_label,
        categories=release.categories,
        fields=_check_fields(release.categories, release.fields),
        member_ids=member_ids,
        consent_gate={"recipient": recipient, "purpose": purpose, "categories": categories},
    )


# --- Membership list (seed 000 G) -------------------------------------------------------------------


def _membership_list(request: MembershipListRequest, release: Release) -> Plan:
    """An approved, unexpired request: names and mailing addresses of active members, released once."""
    if request.status == MembershipListRequest.Status.WITHDRAWN:
        raise Refusal(f"membership-list request #{request.pk} was withdrawn")
    if request.status != MembershipListRequest.Status.APPROVED:
        raise Refusal(f"membership-list request #{request.pk} is {request.status}, not approved by the Privacy Officer")
    if request.valid_until and request.valid_until <= timezone.now():
        raise Refusal(f"the approval of membership-list request #{request.pk} expired {request.valid_until:%Y-%m-%d}")
    if release.categories != [C.CONTACT]:
        raise Refusal("a membership list carries contact information only")
    wanted = list(release.fields) if release.fields is not None else list(MEMBERSHIP_LIST_FIELDS)
    if not set(wanted) <= set(MEMBERSHIP_LIST_FIELDS):
        raise Refusal("a membership list is limited to names and mailing addresses (seed 000 G)")

    def _mark_released() -> None:
        MembershipListRequest.objects.filter(pk=request.pk).update(
            status=MembershipListRequest.Status.RELEASED, released_at=timezone.now()
        )

    return Plan(
        basis_kind="membership_list",
        basis_ref=f"membership_list:{request.pk}",
        purpose=Purpose.MEMBERSHIP_LIST,
        recipient=None,
        recipient_label=f"member {request.requester.member_number} (membership list)",
        categories=release.categories,
        fields=wanted,
        member_ids=release.member_ids,
        on_release=_mark_released,
    )


# --- Legal bases other than consent ------------------------------------------------------------------


def _member_request(basis: LegalBasis, release: Release) -> Plan:
    """The member's own request: to the member, or to a recipient the member designated."""
    ref = _reference(basis)
    _check_in_force(basis, ref)
    _check_recipient_and_categories(basis, release, ref)
    return _plan_for_named_members(basis, release, ref)


def _legal_process(basis: LegalBasis, release: Release) -> Plan:
    """A warrant, subpoena or court order: only the members it names; the document goes on the log."""
    ref = (
        f"{_reference(basis)} {basis.process_type} {basis.document_reference} "
        f"({basis.issuing_authority}, {basis.document_date})"
    )
    _check_in_force(basis, ref)
    _check_recipient_and_categories(basis, release, ref)
    return _plan_for_named_members(basis, release, ref)


def _imminent_threat(basis: LegalBasis, release: Release) -> Plan:
    """A threat to life or property: only once a second person, not the requester, has approved."""
    ref = _reference(basis)
    _check_in_force(basis, ref)
    _check_recipient_and_categories(basis, release, ref)
    if not basis.approved_at or basis.approved_by_id == basis.requested_by_id:
        raise Refusal(f"{ref}: awaiting the second approver")
    return _plan_for_named_members(basis, release, ref)


def _under_agreement(basis: LegalBasis, release: Release) -> Plan:
    """A contractor or another utility: the confidentiality agreement in force today covers the data."""
    ref = _reference(basis)
    _check_in_force(basis, ref)
    _check_recipient_and_categories(basis, release, ref)
    agreement = basis.agreement
    if agreement is None or not agreement.in_force(timezone.localdate()):
        raise Refusal(
            f"{ref}: the confidentiality agreement {agreement.reference if agreement else ''} is not in force "
            f"(expired {agreement.expires_on if agreement else '-'})"
        )
    uncovered = sorted(set(release.categories) - set(agreement.categories))
    if uncovered:
        raise Refusal(f"{ref}: the agreement {agreement.reference} does not cover {', '.join(uncovered)}")
    _check_purpose(basis, release, ref)
    ref += f" agreement {agreement.reference}"
    if release.member_ids is None:
        raise Refusal(f"{ref}: name the members to release")
    return _legal_plan(basis, release, ref, release.member_ids)


def _aggregated(basis: LegalBasis, release: Release) -> Plan:
    """Never member by member: group totals leave only through aggregate_export."""
    _check_in_force(basis, _reference(basis))
    raise Refusal("aggregated data is released through aggregate_export, never member by member")


def _member_numbers(member_ids: list[int]) -> str:
    """Members named in a refusal by their member numbers (what staff and auditors know them by), never ids."""
    numbers = dict(Member.objects.filter(pk__in=member_ids[:SHOWN_MEMBERS]).values_list("pk", "member_number"))
    shown = ", ".join(numbers.get(member_id, "a removed member") for member_id in member_ids[:SHOWN_MEMBERS])
    return shown + ("..." if len(member_ids) > SHOWN_MEMBERS else "")


def _reference(basis: LegalBasis) -> str:
    return f"legal_basis:{basis.pk} {basis.kind}"


def _check_in_force(basis: LegalBasis, ref: str) -> None:
    now = timezone.now()
    if basis.revoked_at:
        raise Refusal(f"{ref}: revoked {basis.revoked_at:%Y-%m-%d}: {basis.revocation_reason}")
    if basis.valid_until <= now:
        raise Refusal(f"{ref}: expired {basis.valid_until:%Y-%m-%d}")
    if basis.valid_from > now:
        raise Refusal(f"{ref}: not yet valid")


def _check_recipient_and_categories(basis: LegalBasis, release: Release, ref: str) -> None:
    if basis.recipient_id != (release.recipient.pk if release.recipient else None):
        raise Refusal(f"{ref}: is for another recipient")
    uncovered = sorted(set(release.categories) - set(basis.categories))
    if uncovered:
        raise Refusal(f"{ref}: does not cover {', '.join(uncovered)}")


def _check_purpose(basis: LegalBasis, release: Release, ref: str) -> None:
    if release.purpose != basis.purpose:
        raise Refusal(f"{ref}: is for {basis.purpose}, not {release.purpose}")


def _plan_for_named_members(basis: LegalBasis, release: Release, ref: str) -> Plan:
    """The members the basis names; with no ids asked for, all of them."""
    scope = set(basis.members.values_list("pk", flat=True))
    member_ids = release.member_ids if release.member_ids is not None else sorted(scope)
    outside = sorted(set(member_ids) - scope)
    if outside:
        raise Refusal(f"{ref}: does not cover members {_member_numbers(outside)}")
    _check_purpose(basis, release, ref)
    return _legal_plan(basis, release, ref, member_ids)


def _legal_plan(basis: LegalBasis, release: Release, ref: str, member_ids: list[int]) -> Plan:
    return Plan(
        basis_kind=basis.kind,
        basis_ref=ref,
        purpose=release.purpose,
        recipient=release.recipient,
        recipient_label=release.recipient_label or "the member (own request)",
        categories=release.categories,
        fields=_check_fields(release.categories, release.fields),
        member_ids=list(member_ids),
        notice_withheld=basis.notice_withheld,
    )


def authorised_by(plan: Plan, released: list[int]) -> str:
    """The plan's reference, plus which consent records authorised the release (read in its transaction)."""
    if plan.consent_gate is None or not released or not plan.basis_ref.startswith("consent:recipient="):
        return plan.basis_ref
    authorising = active_consents(**plan.consent_gate)
    if plan.member_ids is not None:
        authorising = authorising.filter(member_id__in=plan.member_ids)
    consents = authorising.aggregate(low=Min("pk"), high=Max("pk"), n=Count("pk"))
    if not consents["n"]:
        return plan.basis_ref
    if consents["n"] == 1:
        return f"{plan.basis_ref} consent:{consents['low']}"
    return f"{plan.basis_ref} consents {consents['low']}..{consents['high']} ({consents['n']})"


Resolver = Callable[[Any, Release], Plan]

# basis kind (as the log records it) -> the function that decides what that basis allows.
RESOLVERS: dict[str, Resolver] = {
    "consent": _consent,
    "membership_list": _membership_list,
    LegalBasis.Kind.MEMBER_REQUEST: _member_request,
    LegalBasis.Kind.CONTRACTOR: _under_agreement,
    LegalBasis.Kind.OTHER_UTILITY: _under_agreement,
    LegalBasis.Kind.LEGAL_PROCESS: _legal_process,
    LegalBasis.Kind.IMMINENT_THREAT: _imminent_threat,
    LegalBasis.Kind.AGGREGATED: _aggregated,
}
