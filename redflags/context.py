"""What the detectors look at for one event (``Context``), loaded lazily and once.

Evidence never holds an identifier value, and neither does anything here that outlives the event:
duplicate detection uses the registry's blind indexes (``redflags.lookups``); because the indexes are
deliberately short (members/crypto.py: 12 bits) an index match is only a candidate, confirmed here by
comparing canonical forms, decrypting only the few candidate rows that survive the SQL narrowing.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from functools import cached_property
from typing import Any

from django.db import connection
from django.utils import timezone

from accounts.models import Account
from members import crypto
from members.models import Member
from redflags import lookups
from redflags.events import IMPORT_SCAN, OPENING, TAX_ID_SCAN, Event
from redflags.models import KnownFraudEntry, VerificationChecklist

# Notices and CRA alerts are read this far back once per event; each detector applies its own window.
NOTICE_LOOKBACK = datetime.timedelta(days=3650)


def _address_inputs(member) -> list:
    if not member.mailing_line1:
        return []
    return [
        (
            member.mailing_line1,
            member.mailing_line2,
            member.mailing_city,
            member.mailing_state,
            member.mailing_postal_code,
        )
    ]


def _licence_inputs(member) -> list:
    if member.drivers_licence_number and member.drivers_licence_state:
        return [(member.drivers_licence_number, member.drivers_licence_state)]
    return []


def _bank_account_inputs(member) -> list:
    return [
        (account.routing_number, account.account_number)
        for account in member.financial_accounts.filter(is_active=True).exclude(bank_account_index="")
        if account.routing_number and account.account_number
    ]


# Per kind of identifier: the member's values in the form ``crypto.canonical(kind, ...)`` takes.
# A member here is a registry Member or a lookups.Candidate (which has no email, licence or bank account).
IDENTIFIER_INPUTS: dict[str, Callable[[Any], list]] = {
    "tax_id": lambda member: [raw for raw in (member.ssn, member.tin) if raw],
    "address": _address_inputs,
    "phone": lambda member: [member.phone] if member.phone else [],
    "email": lambda member: [member.email] if member.email else [],
    "licence": _licence_inputs,
    "bank_account": _bank_account_inputs,
}


def _clear_key(candidate, kind: str) -> tuple | None:
    """The clear values a kind's canonical form depends on (None: encrypted, no memo)."""
    if kind == "address":
        return tuple(_address_inputs(candidate))
    if kind == "phone":
        return (candidate.phone,)
    return None


class Context:
    """What the detectors look at for one event, loaded lazily and once."""

    def __init__(
        self,
        event: Event,
        *,
        now: datetime.datetime | None = None,
        account: Account | None = None,
        checklist: VerificationChecklist | None = None,
    ):
        self.event = event
        self.now = now or timezone.now()
        if account is not None:
            self.__dict__["account"] = account
        if checklist is not None:
            self.__dict__["checklist"] = checklist

    @cached_property
    def account(self) -> Account | None:
        if not self.event.account_id:
            return None
        return Account.objects.select_related("member").filter(pk=self.event.account_id).first()

    @cached_property
    def member(self) -> Member | None:
        if self.account is not None and (not self.event.member_id or self.event.member_id == self.account.member_id):
            return self.account.member
        if not self.event.member_id:
            return None
        return Member.objects.filter(pk=self.event.member_id).first()

    @cached_property
    def checklist(self) -> VerificationChecklist | None:
        data = self.event.payload.get("checklist")
        if data:
            known = {f.name for f in VerificationChecklist._meta.concrete_fields}
            return VerificationChecklist(
                **{key: value for key, value in data.items() if key in known and not key.endswith("_id")}
            )
        if self.event.name == OPENING and self.event.account_id:
            return VerificationChecklist.objects.filter(account_id=self.event.account_id).first()
        return None

    # --- canonical values of the member (compared, never shown) -----------------------------

    @staticmethod
    def canonical_values(member, kind: str) -> set[str]:
        """The member's canonical values of one kind; a value that does not canonicalise ends the list."""
        values: set[str] = set()
        inputs = IDENTIFIER_INPUTS.get(kind)
        if inputs is None:
            return values
        try:
            for raw in inputs(member):
                values.add(crypto.canonical(kind, raw))
        except crypto.CanonicalisationError:
            pass
        return values

    @cached_property
    def member_indexes(self) -> dict[str, set[str]]:
        member = self.member
        if member is None:
            return {}
        indexes = {
            "tax_id": {member.tax_id_index},
            "licence": {member.licence_index},
            "phone": {member.phone_index},
            "email": {member.email_index},
            "address": {member.address_index},
        }
        return {kind: {value for value in values if value} for kind, values in indexes.items()}

    @cached_property
    def bank_account_indexes(self) -> set[str]:
        if self.member is None:
            return set()
        return set(
            self.member.financial_accounts.filter(is_active=True)
            .exclude(bank_account_index="")
            .values_list("bank_account_index", flat=True)
        )

    @cached_property
    def indexes_to_check(self) -> dict[str, set[str]]:
        """At opening every identifier; on a change only the kinds that changed."""
        if self.event.name == OPENING:
            return self.member_indexes
        changed = {kind for kind, value in self.event.new_indexes.items() if value}
        return {kind: values for kind, values in self.member_indexes.items() if kind in changed and values}

    # --- the fraud list --------------------------------------------------------------------------

    @cached_property
    def _fraud_probe_args(self) -> tuple[list[str], bool]:
        values = sorted({value for kind_values in self.indexes_to_check.values() for value in kind_values})
        check_bank = self.member is not None and self.event.name in (
            OPENING,
            "member.financial_account_added",
            IMPORT_SCAN,
        )
        return values, check_bank

    @cached_property
    def fraud_ids(self) -> list[int]:
        values, check_bank = self._fraud_probe_args
        if not values and not check_bank:
            return []
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM ({lookups.FRAUD_PROBE_SQL}) AS probe",  # noqa: S608 - constant SQL
                [values, check_bank, self.member.pk if self.member is not None else 0],
            )
            return [row[0] for row in cursor.fetchall()]

    @cached_property
    def fraud_matches(self) -> list[KnownFraudEntry]:
        """Fraud-list entries whose blind index matches, confirmed against the canonical value.

        One indexed lookup; the member's bank-account indexes join in as a subquery so an opening
        does not pay a separate round trip for them.
        """
        ids = self.fraud_ids
        if not ids:  # the usual case: one cheap probe, no decryption
            return []
        return [
            entry
            for entry in KnownFraudEntry.objects.filter(pk__in=ids)
            if self._looked_for(entry) and entry.value and entry.value in self.canonical_values(self.member, entry.kind)
        ]

    def _looked_for(self, entry: KnownFraudEntry) -> bool:
        """The entry's blind index is one this event looks for (the probe may return a little more)."""
        if entry.kind == "bank_account":
            return self._fraud_probe_args[1] and entry.index_value in self.bank_account_indexes
        wanted = self.indexes_to_check
        return entry.kind in wanted and entry.index_value in wanted[entry.kind]

    # --- other members sharing an identifier -----------------------------------------------------

    @cached_property
    def candidates(self) -> dict[str, list[lookups.Candidate]]:
        """Other members sharing this member's SSN/TIN, licence, address or phone blind index.

        One indexed statement per kind, joined by UNION ALL, none capped: every match of every kind
        comes back, so a thousand neighbours sharing an address cannot hide a shared SSN.
        """
        member = self.member
        wanted = self._candidate_wanted
        if member is None or not wanted:
            return {kind: [] for kind in lookups.KINDS}
        kinds = [kind for kind in lookups.KINDS if kind in wanted]
        with connection.cursor() as cursor:
            cursor.execute(lookups.duplicates_sql(kinds), lookups.duplicates_params(member, wanted, kinds))
            names = [column[0] for column in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        return lookups.sort_candidates(rows)

    @cached_property
    def _candidate_wanted(self) -> dict[str, str]:
        member = self.member
        if member is None:
            return {}
        fields = lookups.CANDIDATE_INDEX_FIELDS
        wanted = {kind: getattr(member, field) for kind, field in fields.items() if getattr(member, field)}
        if self.event.name != OPENING:
            wanted = {kind: value for kind, value in wanted.items() if kind in self._changed_kinds}
        return wanted

    @cached_property
    def _changed_kinds(self) -> set[str]:
        kinds = set(self.event.new_indexes)
        if self.event.name in ("member.identifiers_changed", TAX_ID_SCAN):
            kinds.add("tax_id")
        return kinds

    def duplicates(self, kind: str) -> list[lookups.Candidate]:
        """Other members whose blind index equals this member's, confirmed by canonical value."""
        member = self.member
        if member is None:
            return []
        mine = self.canonical_values(member, kind)
        if not mine:
            return []
        # Thousands of neighbours share one spelling of an address or one phone: canonicalise each
        # distinct clear value once. Encrypted kinds (SSN/TIN, licence) are decrypted per candidate.
        memo: dict[tuple, bool] = {}
        found = []
        lookups.decrypt_candidates(self.candidates[kind], kind)
        for candidate in self.candidates[kind]:
            key = _clear_key(candidate, kind)
            if key is None:
                matches = bool(self.canonical_values(candidate, kind) & mine)
            elif key in memo:
                matches = memo[key]
            else:
                matches = memo[key] = bool(self.canonical_values(candidate, kind) & mine)
            if matches:
                found.append(candidate)
        return found

    # --- notices and CRA alerts about the member -----------------------------------------------

    @cached_property
    def member_notices(self) -> list[dict]:
        """CRA alerts and identity-theft notices about this member (newest first), in one query.

        Looks back ten years; each detector applies its own window.
        """
        if self.member is None:
            return []
        since = self.now - NOTICE_LOOKBACK
        with connection.cursor() as cursor:
            cursor.execute(lookups.NOTICES_SQL + " ORDER BY 1 DESC", [self.member.pk, since, self.member.pk, since])
            return [
                {"received_at": when, "kind": kind, "agency": agency, "source": source}
                for when, kind, agency, source in cursor.fetchall()
            ]

    # --- an opening: everything above in one round trip ----------------------------------------

    def prefetch_opening(self) -> None:
        """An opening needs candidates, the fraud-list probe and the member's notices: one round trip.

        The three lookups are the same SQL the lazy properties run, joined with UNION ALL; their
        results are stored in the same cached properties, so detectors do not know the difference.
        """
        member = self.member
        if member is None or self.event.name != OPENING:
            return
        wanted = self._candidate_wanted
        values, check_bank = self._fraud_probe_args
        since = self.now - NOTICE_LOOKBACK
        with connection.cursor() as cursor:
            cursor.execute(
                lookups.OPENING_PREFETCH_SQL,
                [
                    *lookups.duplicates_params(member, wanted, list(lookups.KINDS)),
                    values,
                    check_bank,
                    member.pk,
                    member.pk,
                    since,
                    member.pk,
                    since,
                ],
            )
            rows = cursor.fetchall()
        candidates, fraud_ids, notices = lookups.split_opening_rows(rows)
        self.__dict__["candidates"] = lookups.sort_candidates(candidates)
        self.__dict__["fraud_ids"] = fraud_ids
        self.__dict__["member_notices"] = notices
