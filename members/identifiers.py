"""The one declaration of the fields that identify a person or hold a secret, and of their blind indexes.

In the spirit of Zulip's ``property_types``: each field is declared once here (``FIELDS``), each blind
index once (``BLIND_INDEXES``), and every list the code needs is derived from the two: the CIS import's
identifier columns and COPY column lists (accounts.cis_import), the services' cleaning and indexing and
the reveal permissions (members.services), key rotation's columns and index recipes (members.rotation),
the retention purges' redaction lists (retention.services), the masked views (members.masking), the
admin's write-only inputs and fieldsets (members.registry_admin), the API's serializers (members.api),
the deferred ciphertexts of list pages (members.selectors, accounts.admin, accounts.api), and the
export's fields of a data category (``fields_in_data_category``). Adding an encrypted field then touches
the model, this declaration, a migration and tests (docs/architecture.md, "Recipes").

Threat this guards against: a list written by hand in eight places drifts; a new encrypted field missing
from rotation's list stays under a retired key, one missing from a purge list outlives its schedule, one
missing from a list page's deferred fields is decrypted for every row shown. tests/registry/
test_identifiers.py checks the declaration against the models (every encrypted field of every installed
model is declared; every declared field and index column exists with the right type), and a system
check (``members.checks``) refuses to start with an undeclared encrypted field.

Models are named by label (``"accounts.Premise"``), never imported: ``members`` is the lowest layer and
may not import the apps above it, which hold encrypted fields too. For the same reason data categories
and retention categories are the string values of ``disclosures.models.DataCategory`` and
``retention.models.Category`` (the test checks each is a real value).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from members import crypto, validation


class Kind(StrEnum):
    """What the information is, in the seed documents' terms."""

    IDENTIFIER = "identifier"  # Red Flags program: "identifying information" (SSN, DOB, licence, ...)
    CONTACT = "contact"  # Privacy Policy A.1
    CREDIT = "credit"  # Privacy Policy A.2, credit information
    FINANCIAL = "financial"  # Privacy Policy A.2, financial account information
    FIELD_NOTE = "field_note"  # Privacy Policy A.3, meter-reading information
    FRAUD_LIST = "fraud_list"  # Red Flags B3/B4: a value found on a fraudulent application
    CORRECTION = "correction"  # Privacy Policy B.2: what a member asks the co-op to correct


class Storage(StrEnum):
    ENCRYPTED = "encrypted"  # a members.fields Encrypted*Field: Fernet at rest, rotated with the keys
    CLEAR = "clear"  # kept in clear on purpose (staff search and mail it, or it is only a state code)


class ValueType(StrEnum):
    TEXT = "text"
    DATE = "date"  # cleaners take ``today=``; encrypted as ISO 8601 text


class Mask(StrEnum):
    """How staff see a value by default (rules in members.masking.MASK_RULES, none of which decrypts)."""

    CLEAR = "clear"  # shown as stored
    TAX_ID_PERSON = "tax_id_person"  # ***-**-6789 for a person, from ssn_last4
    TAX_ID_BUSINESS = "tax_id_business"  # **-***6789 for a business, from ssn_last4
    DATE = "date"  # **/**/**** when on file
    LICENCE = "licence"  # the issuing state and a mask, from the licence index
    ON_FILE = "on_file"  # a mask when the field's blind index says a value is on file
    FINANCIAL_ACCOUNT = "financial_account"  # "bank ****1234", from last4
    HIDDEN = "hidden"  # never shown, not even masked, unless the viewer holds the reveal permission


# Values of retention.models.Category: the purges that destroy a field.
PURGED_WITH_FORMER_AND_DENIED_MEMBERS = ("former_member_identifiers", "denied_applicant_identifiers")
INACTIVE_FINANCIAL_ACCOUNTS = "inactive_financial_accounts"
VACANT_PREMISE_FIELD_NOTES = "vacant_premise_field_notes"
# Values of disclosures.models.DataCategory: the category under which the export releases a field.
CONTACT_INFORMATION = "A1_contact"
BILLING_INFORMATION = "A2_billing"

REVEAL_IDENTIFIERS = "members.reveal_identifiers"


@dataclass(frozen=True)
class SensitiveField:
    """One model field holding identifying or secret information."""

    model: str  # app label and model name: "members.Member"
    name: str  # the model field (its column has the same name)
    label: str  # what staff read: "SSN", "Date of birth"
    kind: Kind
    storage: Storage
    clean: Callable[..., Any] | None = None  # members.validation cleaner: raw input -> canonical value
    value_type: ValueType = ValueType.TEXT
    index: str = ""  # the blind-index column this field feeds (declared in BLIND_INDEXES), if any
    mask: Mask = Mask.HIDDEN
    shown_as: str = ""  # its key in members.masking.masked_member (fields may share one: SSN or TIN)
    data_category: str = ""  # the export's category (DataCategory value); "" = never exported
    retention: tuple[str, ...] = ()  # purges (retention Category values) that destroy it
    reveal_permission: str = ""  # who may see the full value ("" = nobody, through any screen)
    import_column: str = ""  # its column in a legacy CIS file ("" = not imported)
    import_clean: Callable[..., Any] | None = None  # a stricter cleaner for imported values (placeholders)
    input_help: str = ""  # help text of its write-only staff input
    last_four: str = ""  # a clear column holding its last four characters (display, caller checks)

    @property
    def encrypted(self) -> bool:
        return self.storage is Storage.ENCRYPTED

    @property
    def blind_index(self) -> BlindIndex | None:
        return index_named(self.model, self.index) if self.index else None


class Combine(StrEnum):
    """How a blind index's value is made from its source columns."""

    ONE = "one"  # the single source's value
    FIRST = "first"  # the first source with a value (the taxpayer number: SSN, else TIN)
    ALL = "all"  # all sources as a tuple, when every ``required`` source has a value
    SPLIT = "split"  # the single source holds a canonical address "a|b|c|d|e"


@dataclass(frozen=True)
class BlindIndex:
    """A blind-index column: ``crypto.blind_index(kind, value)`` of the value its sources make."""

    model: str
    column: str  # "tax_id_index"
    kind: str  # members.crypto kind: "tax_id", "licence", "address", ...
    sources: tuple[str, ...]
    combine: Combine = Combine.ONE
    required: tuple[str, ...] = ()  # for ALL: the sources that must have a value

    @property
    def name(self) -> str:
        """Its name in ``RegistryChange.old_indexes`` / ``new_indexes``: ``"tax_id"``, ``"address"``."""
        return self.column.removesuffix("_index")

    def value_in(self, values: Mapping[str, Any]) -> Any:
        """The value to index from ``values`` (source name -> value; a missing source has no value), or
        ``None`` when there is none."""
        get = values.get
        if self.combine is Combine.ONE:
            return get(self.sources[0]) or None
        if self.combine is Combine.FIRST:
            return next((get(source) for source in self.sources if get(source)), None)
        if self.combine is Combine.SPLIT:
            stored = get(self.sources[0])
            return stored.split("|") if stored else None
        if all(get(source) for source in self.required):
            return tuple(get(source) or "" for source in self.sources)
        return None

    def value_of(self, instance: Any) -> Any:
        """``value_in`` for a model instance (reads the source attributes, decrypting if need be)."""
        return self.value_in({source: getattr(instance, source) for source in self.sources})


_MEMBER, _FINANCIAL, _PREMISE = "members.Member", "members.FinancialAccount", "accounts.Premise"
_MAILING = ("mailing_line1", "mailing_line2", "mailing_city", "mailing_state", "mailing_postal_code")
_SERVICE = ("service_line1", "service_line2", "service_city", "service_state", "service_postal_code")


def _address(model: str, parts: tuple[str, ...], *, label: str, **common: Any) -> list[SensitiveField]:
    cleaners = (
        validation.clean_address_line,
        validation.clean_optional_address_line,
        validation.clean_address_line,
        validation.clean_state,
        validation.clean_postal_code,
    )
    words = ("line 1", "line 2", "city", "state", "ZIP code")
    return [
        _contact(model, part, f"{label} {word}", clean, index="address_index", import_column=part, **common)
        for part, clean, word in zip(parts, cleaners, words, strict=True)
    ]


def _member_identifier(
    name: str, label: str, clean: Callable[..., Any], *, mask: Mask, shown_as: str, **more: Any
) -> SensitiveField:
    """One of the member's encrypted identifiers: read from the legacy file's column of the same name,
    revealed with a reason by ``members.reveal_identifiers``, purged with former members' and denied
    applicants' identifiers."""
    return SensitiveField(
        _MEMBER,
        name,
        label,
        Kind.IDENTIFIER,
        Storage.ENCRYPTED,
        clean,
        mask=mask,
        shown_as=shown_as,
        import_column=name,
        retention=PURGED_WITH_FORMER_AND_DENIED_MEMBERS,
        reveal_permission=REVEAL_IDENTIFIERS,
        **more,
    )


def _contact(model: str, name: str, label: str, clean: Callable[..., Any] | None, **more: Any) -> SensitiveField:
    """Contact information, kept in clear (staff search and mail it) and, unless ``mask`` says otherwise,
    shown as stored."""
    return SensitiveField(model, name, label, Kind.CONTACT, Storage.CLEAR, clean, **{"mask": Mask.CLEAR, **more})


def _financial(name: str, label: str, clean: Callable[..., Any] | None, **more: Any) -> SensitiveField:
    """A bank account's or card's number: encrypted, never exported, never revealed, purged with the
    account (and with a former member's or denied applicant's identifiers)."""
    retention = (INACTIVE_FINANCIAL_ACCOUNTS, *PURGED_WITH_FORMER_AND_DENIED_MEMBERS)
    return SensitiveField(
        _FINANCIAL, name, label, Kind.FINANCIAL, Storage.ENCRYPTED, clean, retention=retention, **more
    )


def _field_note(name: str, label: str) -> SensitiveField:
    """What meter readers need at a premise: encrypted, seen by Field Services only, purged when vacant."""
    return SensitiveField(
        _PREMISE,
        name,
        label,
        Kind.FIELD_NOTE,
        Storage.ENCRYPTED,
        retention=(VACANT_PREMISE_FIELD_NOTES,),
        reveal_permission="accounts.view_field_notes",
        import_column=name,
    )


_SEEN_BY_STAFF = {"data_category": CONTACT_INFORMATION, "reveal_permission": "members.view_member"}

FIELDS: tuple[SensitiveField, ...] = (
    # --- members.Member: contact information ---------------------------------------------------------
    _contact(_MEMBER, "legal_name", "Legal name", None, **_SEEN_BY_STAFF),
    *_address(_MEMBER, _MAILING, label="Mailing address", **_SEEN_BY_STAFF),
    _contact(
        _MEMBER, "phone", "Phone", validation.clean_phone, index="phone_index", import_column="phone", **_SEEN_BY_STAFF
    ),
    _contact(
        _MEMBER,
        "phone_extension",
        "Phone extension",
        validation.clean_phone_extension,
        import_column="phone_extension",
        **_SEEN_BY_STAFF,
    ),
    _contact(
        _MEMBER, "email", "Email", validation.clean_email, index="email_index", import_column="email", **_SEEN_BY_STAFF
    ),
    # --- members.Member: identifying information (the Red Flags program's definition) ----------------
    _member_identifier(
        "ssn",
        "SSN",
        validation.clean_ssn,
        index="tax_id_index",
        mask=Mask.TAX_ID_PERSON,
        shown_as="tax_id",
        data_category=BILLING_INFORMATION,
        input_help="Leave empty to keep the value on file.",
        last_four="ssn_last4",
        import_clean=validation.clean_imported_ssn,
    ),
    _member_identifier(
        "tin",
        "EIN / TIN",
        validation.clean_ein,
        index="tax_id_index",
        mask=Mask.TAX_ID_BUSINESS,
        shown_as="tax_id",
        data_category=BILLING_INFORMATION,
        last_four="ssn_last4",
    ),
    _member_identifier(
        "date_of_birth",
        "Date of birth",
        validation.clean_date_of_birth,
        value_type=ValueType.DATE,
        mask=Mask.DATE,
        shown_as="date_of_birth",
        data_category=BILLING_INFORMATION,
        input_help="YYYY-MM-DD",
    ),
    _member_identifier(
        "drivers_licence_number",
        "Driver's licence",
        validation.clean_licence_number,
        index="licence_index",
        mask=Mask.LICENCE,
        shown_as="drivers_licence",
    ),
    SensitiveField(  # in clear: the masked licence shows the issuing state
        _MEMBER,
        "drivers_licence_state",
        "Licence state",
        Kind.IDENTIFIER,
        Storage.CLEAR,
        validation.clean_state,
        index="licence_index",
        mask=Mask.CLEAR,
        import_column="drivers_licence_state",
        retention=PURGED_WITH_FORMER_AND_DENIED_MEMBERS,
        reveal_permission="members.view_member",
    ),
    _member_identifier(
        "passport_number",
        "Passport",
        validation.clean_passport_number,
        index="passport_index",
        mask=Mask.ON_FILE,
        shown_as="passport_number",
    ),
    _member_identifier(
        "alien_registration_number",
        "Alien registration",
        validation.clean_alien_registration_number,
        index="alien_registration_index",
        mask=Mask.ON_FILE,
        shown_as="alien_registration_number",
    ),
    # --- members.Member: credit information ---------------------------------------------------------
    SensitiveField(
        _MEMBER,
        "credit_notes",
        "Credit notes",
        Kind.CREDIT,
        Storage.ENCRYPTED,
        data_category=BILLING_INFORMATION,
        retention=PURGED_WITH_FORMER_AND_DENIED_MEMBERS,
    ),
    SensitiveField(
        _MEMBER,
        "deposit_required",
        "Deposit required",
        Kind.CREDIT,
        Storage.CLEAR,
        mask=Mask.CLEAR,
        data_category=BILLING_INFORMATION,
        reveal_permission="members.view_member",
    ),
    # --- members.FinancialAccount: bank accounts and card tokens -------------------------------------
    _financial(
        "routing_number",
        "Routing number",
        validation.clean_routing_number,
        index="bank_account_index",
        import_column="bank_routing_number",
    ),
    _financial(
        "account_number",
        "Bank account number",
        validation.clean_bank_account_number,
        index="bank_account_index",
        mask=Mask.FINANCIAL_ACCOUNT,
        import_column="bank_account_number",
        last_four="last4",
    ),
    _financial("card_token", "Card token", None, mask=Mask.FINANCIAL_ACCOUNT),
    # --- accounts.Premise: service address, and what meter readers need ------------------------------
    *_address(_PREMISE, _SERVICE, label="Service address", reveal_permission="accounts.view_premise"),
    _field_note("gate_code", "Gate code"),
    _field_note("meter_reading_notes", "Meter-reading notes"),
    # --- accounts: contact details of authorized parties, the address returned mail was sent to ------
    _contact(
        "accounts.AuthorizedParty",
        "phone",
        "Authorized party's phone",
        validation.clean_phone,
        index="phone_index",
        reveal_permission="accounts.view_authorizedparty",
    ),
    _contact(
        "accounts.AuthorizedParty",
        "phone_extension",
        "Authorized party's phone extension",
        validation.clean_phone_extension,
        reveal_permission="accounts.view_authorizedparty",
    ),
    _contact(
        "accounts.AuthorizedParty",
        "email",
        "Authorized party's email",
        validation.clean_email,
        index="email_index",
        reveal_permission="accounts.view_authorizedparty",
    ),
    _contact(
        "accounts.ReturnedMail",
        "sent_to_address",
        "Address the mail was sent to",
        None,
        index="address_index",
        mask=Mask.HIDDEN,
        retention=("returned_mail",),
    ),
    # --- other apps' encrypted values (rotated with the keys; never shown in full to anyone) ---------
    SensitiveField("redflags.KnownFraudEntry", "value", "Value on the fraud list", Kind.FRAUD_LIST, Storage.ENCRYPTED),
    SensitiveField(
        "portal.CorrectionRequest",
        "requested_correction",
        "Requested correction",
        Kind.CORRECTION,
        Storage.ENCRYPTED,
        reveal_permission="portal.view_correctionrequest",
    ),
    SensitiveField(
        "members.DisagreementStatement",
        "statement",
        "Statement of disagreement",
        Kind.CORRECTION,
        Storage.ENCRYPTED,
        reveal_permission="members.view_disagreementstatement",
    ),
)

# Every blind index of the registry. Key rotation recomputes each from its sources under a new
# BLIND_INDEX_KEY; redflags.KnownFraudEntry keeps its own index, recomputed on ``blind_index_key_rotated``.
BLIND_INDEXES: tuple[BlindIndex, ...] = (
    BlindIndex(_MEMBER, "address_index", "address", _MAILING, Combine.ALL, required=("mailing_line1",)),
    BlindIndex(_MEMBER, "phone_index", "phone", ("phone",)),
    BlindIndex(_MEMBER, "email_index", "email", ("email",)),
    BlindIndex(_MEMBER, "tax_id_index", "tax_id", ("ssn", "tin"), Combine.FIRST),
    BlindIndex(
        _MEMBER,
        "licence_index",
        "licence",
        ("drivers_licence_number", "drivers_licence_state"),
        Combine.ALL,
        required=("drivers_licence_number", "drivers_licence_state"),
    ),
    BlindIndex(_MEMBER, "passport_index", "passport", ("passport_number",)),
    BlindIndex(_MEMBER, "alien_registration_index", "alien_registration", ("alien_registration_number",)),
    BlindIndex(
        _FINANCIAL,
        "bank_account_index",
        "bank_account",
        ("routing_number", "account_number"),
        Combine.ALL,
        required=("routing_number", "account_number"),
    ),
    BlindIndex(_PREMISE, "address_index", "address", _SERVICE, Combine.ALL, required=("service_line1",)),
    BlindIndex("accounts.AuthorizedParty", "phone_index", "phone", ("phone",)),
    BlindIndex("accounts.AuthorizedParty", "email_index", "email", ("email",)),
    BlindIndex("accounts.ReturnedMail", "address_index", "address", ("sent_to_address",), Combine.SPLIT),
)


# --- Derived lists -------------------------------------------------------------------------------------
# Each takes the declaration as a parameter (the real one by default), so tests can show that a newly
# declared field reaches every list without touching the code that uses it.


def fields_of(model: str, fields: Iterable[SensitiveField] = FIELDS) -> tuple[SensitiveField, ...]:
    return tuple(field for field in fields if field.model == model)


def encrypted_names(model: str, fields: Iterable[SensitiveField] = FIELDS) -> tuple[str, ...]:
    """The encrypted fields of ``model``, in declaration order."""
    return tuple(field.name for field in fields_of(model, fields) if field.encrypted)


def deferred(model: str, prefix: str = "", fields: Iterable[SensitiveField] = FIELDS) -> tuple[str, ...]:
    """What a list page passes to ``QuerySet.defer`` so it never loads (decrypts) ``model``'s ciphertexts;
    ``prefix`` reaches them through a relation: ``deferred("members.Member", "member__")``."""
    return tuple(f"{prefix}{name}" for name in encrypted_names(model, fields))


def identifier_fields(fields: Iterable[SensitiveField] = FIELDS) -> tuple[SensitiveField, ...]:
    """The member's identifying information, in declaration order (SSN, TIN, DOB, licence, ...)."""
    return tuple(field for field in fields_of(_MEMBER, fields) if field.kind is Kind.IDENTIFIER)


def identifier_inputs(fields: Iterable[SensitiveField] = FIELDS) -> tuple[SensitiveField, ...]:
    """The encrypted identifiers a staff form or the API may write (write-only: never pre-filled)."""
    return tuple(field for field in identifier_fields(fields) if field.encrypted and field.clean is not None)


def revealable(fields: Iterable[SensitiveField] = FIELDS) -> dict[str, str]:
    """``{field: permission}``: the member's encrypted values a reveal may show, with the permission each
    needs (``members.services.member_reveal``)."""
    return {
        field.name: field.reveal_permission
        for field in fields_of(_MEMBER, fields)
        if field.encrypted and field.reveal_permission
    }


def fields_in_data_category(
    category: str, model: str = _MEMBER, fields: Iterable[SensitiveField] = FIELDS
) -> tuple[str, ...]:
    """The fields of ``model`` the export releases under ``category`` (a ``DataCategory`` value)."""
    return tuple(field.name for field in fields_of(model, fields) if field.data_category == category)


def fields_in_retention_category(
    category: str, model: str = _MEMBER, fields: Iterable[SensitiveField] = FIELDS
) -> tuple[SensitiveField, ...]:
    """The fields of ``model`` that the purge of ``category`` (a retention ``Category`` value) destroys."""
    return tuple(field for field in fields_of(model, fields) if category in field.retention)


def redaction(
    category: str, model: str = _MEMBER, fields: Iterable[SensitiveField] = FIELDS
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What a purge of ``category`` clears on rows it keeps: ``(set to NULL, set to "")``.

    NULL: the encrypted fields. Empty: the clear fields, the last-four columns of any cleared field, and
    every blind index all of whose sources are cleared (an index of a destroyed value would still say
    who shared it).
    """
    purged = fields_in_retention_category(category, model, fields)
    names = {field.name for field in purged}
    to_null = tuple(field.name for field in purged if field.encrypted)
    indexes = tuple(index.column for index in indexes_of(model) if index.sources and set(index.sources) <= names)
    last_fours = tuple(dict.fromkeys(field.last_four for field in purged if field.last_four))
    clear = tuple(field.name for field in purged if not field.encrypted)
    return to_null, (*indexes, *last_fours, *clear)


def indexes_of(model: str, indexes: Iterable[BlindIndex] = BLIND_INDEXES) -> tuple[BlindIndex, ...]:
    return tuple(index for index in indexes if index.model == model)


def index_named(model: str, column: str) -> BlindIndex:
    for index in BLIND_INDEXES:
        if index.model == model and index.column == column:
            return index
    raise KeyError(f"{model}.{column} is not a declared blind index")


def member_index_for(kind: str) -> BlindIndex:
    """The member's blind index a search of ``kind`` uses (``"ssn"`` and ``"tin"`` share ``tax_id``)."""
    domain = crypto.index_domain(kind)
    for index in indexes_of(_MEMBER):
        if crypto.index_domain(index.kind) == domain:
            return index
    raise ValueError(f"members have no {kind!r} index")


def identifier_indexes(model: str = _MEMBER, fields: Iterable[SensitiveField] = FIELDS) -> tuple[BlindIndex, ...]:
    """The blind indexes fed by ``model``'s identifying information (tax id, licence, passport, ...)."""
    names = {field.name for field in fields_of(model, fields) if field.kind is Kind.IDENTIFIER}
    return tuple(index for index in indexes_of(model) if set(index.sources) & names)


def models_with_secrets(fields: Iterable[SensitiveField] = FIELDS) -> tuple[str, ...]:
    """Every model label with an encrypted field or a blind index, in declaration order."""
    labels = [field.model for field in fields if field.encrypted] + [index.model for index in BLIND_INDEXES]
    return tuple(dict.fromkeys(labels))
