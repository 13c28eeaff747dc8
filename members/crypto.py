"""Canonical forms, blind indexes and the Fernet keyring of the member registry.

Threat: a copy of the database (a backup, a dump, a replica, a SQL injection) must not reveal
identifiers. Sensitive values are therefore stored Fernet-encrypted (``members/fields.py``) and are
searched for *exact* matches through blind indexes: a keyed HMAC-SHA256 over a canonical form,
truncated to ``BLIND_INDEX_BITS`` bits so that an index value is shared by several people (a match is
a *candidate*, confirmed by decrypting). Without ``BLIND_INDEX_KEY`` an index reveals only which rows
probably share a value; with the key an attacker could brute-force the small SSN space, which is why
the index key lives apart from the database and from the Fernet keys (docs/keys.md).

Canonicalisation comes first and is deliberately strict: Unicode NFKC (full-width digits become ASCII
digits), then only ASCII ``0-9`` survive for numbers, so Arabic-Indic or other non-ASCII digits can
neither produce a second index for the same number nor pass validation as digits (``str.isdigit`` and
``int()`` would accept them; nothing here does).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

import phonenumbers
from cryptography.fernet import Fernet, MultiFernet
from django.conf import settings
from fernet_fields import hkdf

from members.fernet_bulk import primed_hmac_sha256

# 12 bits (3 hex characters); the reasoning is in docs/keys.md. In short: at the co-op's scale
# (10^4 to 10^5 members) every index value is shared by ~2.4 to ~24 members, so an index never singles
# out a person, and even with a leaked index key the SSN last four (kept in clear) plus the index still
# leave tens of candidate SSNs. Every lookup therefore confirms its candidates
# (members.selectors.members_matching), decrypting at most a few dozen rows.
BLIND_INDEX_BITS = 12
BLIND_INDEX_HEX_LENGTH = BLIND_INDEX_BITS // 4

# Kinds that share one index domain: an SSN and an EIN with the same nine digits are the same
# taxpayer number for duplicate detection ("SSN is the same as another customer's").
_DOMAIN = {
    "ssn": "tax_id",
    "tin": "tax_id",
    "tax_id": "tax_id",
    "licence": "licence",
    "bank_account": "bank_account",
    "phone": "phone",
    "email": "email",
    "address": "address",
    "passport": "passport",
    "alien_registration": "alien_registration",
}

_ASCII_DIGITS = re.compile(r"[^0-9]")
_ASCII_ALNUM = re.compile(r"[^A-Z0-9]")
_SPACES = re.compile(r"\s+")


class CanonicalisationError(ValueError):
    """The value cannot be put into the canonical form of its kind (it is not a valid value)."""


def nfkc(value: str) -> str:
    if not value:
        return ""
    if value.isascii():  # NFKC leaves ASCII unchanged; skipping it halves the CIS import's validation time
        return value.strip()
    return unicodedata.normalize("NFKC", value).strip()


def fold_for_search(value: str) -> str:
    """Upper-case, accent-folded, single-spaced: the form names and search terms are compared in.

    NFKD splits "é" into "e" and a combining accent, which is dropped; letters with no decomposition
    ("ø", "ß") keep their own upper-case form, so nothing is silently turned into another letter.
    """
    value = nfkc(value)
    if not value.isascii():
        value = "".join(ch for ch in unicodedata.normalize("NFKD", value) if not unicodedata.combining(ch))
    return " ".join(value.upper().split())


def ascii_digits(value: str) -> str:
    """NFKC, then keep ASCII 0-9 only. Full-width digits survive (NFKC maps them); others do not."""
    return _ASCII_DIGITS.sub("", nfkc(value))


def canonical_tax_id(value: str) -> str:
    digits = ascii_digits(value)
    if len(digits) != 9:
        raise CanonicalisationError("a taxpayer number has nine digits")
    return digits


def canonical_licence(value: str | Sequence[str]) -> str:
    """``"IL:A1234567"``. Accepts ``(number, state)`` or a ``"STATE:NUMBER"`` string."""
    if isinstance(value, str):
        state, _, number = value.partition(":")
    else:
        number, state = value
    number = _ASCII_ALNUM.sub("", nfkc(number).upper())
    state = _ASCII_ALNUM.sub("", nfkc(state).upper())
    if not number or len(state) != 2:
        raise CanonicalisationError("a licence needs a number and a two-letter state")
    return f"{state}:{number}"


def canonical_bank_account(value: str | Sequence[str]) -> str:
    """``"ROUTING:ACCOUNT"`` in ASCII digits. Accepts ``(routing, account)`` or that string."""
    if isinstance(value, str):
        routing, _, account = value.partition(":")
    else:
        routing, account = value
    routing, account = ascii_digits(routing), ascii_digits(account)
    if len(routing) != 9 or not 4 <= len(account) <= 17:
        raise CanonicalisationError("a bank account needs a 9-digit routing number and a 4-17 digit account number")
    return f"{routing}:{account}"


_NOT_PHONE_CHARS = re.compile(r"[^0-9+()\-.\s xXextEXT]")
_NANP = re.compile(r"^(?:\+?1[\s.\-]?)?\(?([2-9][0-9]{2})\)?[\s.\-]?([2-9][0-9]{2})[\s.\-]?([0-9]{4})$")


@lru_cache(maxsize=65536)
def _nanp_exchange_valid(npa_nxx: str) -> bool:
    # phonenumbers' North American metadata decides validity by area code and exchange only (checked
    # for thousands of exchanges: the last four digits never change the answer), so cache per exchange.
    # Parsing costs ~100 µs; the CIS import checks 100,000 numbers.
    return phonenumbers.is_valid_number(phonenumbers.parse(f"+1{npa_nxx}5550", None))


def canonical_phone(value: str, region: str = "US") -> str:
    """E.164 (``+16185550123``). Non-ASCII digits other than full-width are not digits here."""
    text = nfkc(value)
    if _NOT_PHONE_CHARS.search(text):
        raise CanonicalisationError("a phone number may contain only digits, spaces, ()+-. and an extension")
    nanp = _NANP.match(text) if region in ("US", "CA") else None
    if nanp:
        if not _nanp_exchange_valid(nanp.group(1) + nanp.group(2)):
            raise CanonicalisationError("not a valid phone number")
        return f"+1{nanp.group(1)}{nanp.group(2)}{nanp.group(3)}"
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise CanonicalisationError("not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise CanonicalisationError("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def canonical_email(value: str) -> str:
    text = nfkc(value).casefold()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or any(char.isspace() for char in text):
        raise CanonicalisationError("not an email address")
    return text


# US address normalisation for matching (USPS Publication 28 abbreviations, the common ones).
_ADDRESS_WORDS = {
    "STREET": "ST",
    "STR": "ST",
    "AVENUE": "AVE",
    "AV": "AVE",
    "ROAD": "RD",
    "DRIVE": "DR",
    "LANE": "LN",
    "COURT": "CT",
    "CIRCLE": "CIR",
    "BOULEVARD": "BLVD",
    "PLACE": "PL",
    "TERRACE": "TER",
    "PARKWAY": "PKWY",
    "HIGHWAY": "HWY",
    "TRAIL": "TRL",
    "SQUARE": "SQ",
    "ROUTE": "RTE",
    "COUNTY": "CO",
    "EXPRESSWAY": "EXPY",
    "NORTH": "N",
    "SOUTH": "S",
    "EAST": "E",
    "WEST": "W",
    "NORTHEAST": "NE",
    "NORTHWEST": "NW",
    "SOUTHEAST": "SE",
    "SOUTHWEST": "SW",
    "APARTMENT": "APT",
    "SUITE": "STE",
    "UNIT": "UNIT",
    "BUILDING": "BLDG",
    "FLOOR": "FL",
    "ROOM": "RM",
    "POST": "PO",
    "P": "P",
    "BOX": "BOX",
    "RURAL": "RR",
}


_NOT_ADDRESS_CHAR = re.compile(r"[^A-Z0-9 ]")
_PO_BOX = re.compile(r"\bP O BOX\b|\bPOST OFFICE BOX\b|\bPO OFFICE BOX\b")


@lru_cache(maxsize=65536)
def _address_words(value: str) -> str:
    text = nfkc(value).upper().replace("#", " APT ").replace(".", "")
    text = _NOT_ADDRESS_CHAR.sub(" ", text)
    joined = " ".join([_ADDRESS_WORDS.get(word, word) for word in text.split()])
    return _PO_BOX.sub("PO BOX", joined) if "BOX" in joined else joined


def canonical_address(value: Sequence[str] | dict) -> str:
    """``line1|line2|city|state|zip5``, USPS-style upper case and abbreviations, ZIP+4 dropped."""
    if isinstance(value, dict):
        parts = [value.get(key, "") for key in ("line1", "line2", "city", "state", "postal_code")]
    else:
        parts = list(value)
    line1, line2, city, state, postal_code = (parts + ["", "", "", "", ""])[:5]
    zip5 = ascii_digits(postal_code)[:5]
    if not nfkc(line1) or not nfkc(city) or len(zip5) != 5:
        raise CanonicalisationError("an address needs a street line, a city and a ZIP code")
    return canonical_cleaned_address(line1, line2, city, _ASCII_ALNUM.sub("", nfkc(state).upper()), zip5)


def canonical_cleaned_address(line1: str, line2: str, city: str, state: str, postal_code: str) -> str:
    """``canonical_address`` for parts already cleaned by ``members.validation`` (two-letter upper-case
    state, ZIP or ZIP+4 in ASCII digits): the bulk import's shortcut, and the last step of
    ``canonical_address``."""
    return f"{_address_words(line1)}|{_address_words(line2)}|{_address_words(city)}|{state}|{postal_code[:5]}"


def _identity(value: str) -> str:
    text = nfkc(value).upper()
    if not text:
        raise CanonicalisationError("empty value")
    return _ASCII_ALNUM.sub("", text)


CANONICALISERS = {
    "ssn": canonical_tax_id,
    "tin": canonical_tax_id,
    "tax_id": canonical_tax_id,
    "licence": canonical_licence,
    "bank_account": canonical_bank_account,
    "phone": canonical_phone,
    "email": canonical_email,
    "address": canonical_address,
    "passport": _identity,
    "alien_registration": _identity,
}


def index_domain(kind: str) -> str:
    """The index domain of ``kind``: kinds of one domain share indexes (``ssn``, ``tin`` -> ``tax_id``)."""
    try:
        return _DOMAIN[kind]
    except KeyError:
        raise ValueError(f"unknown blind-index kind {kind!r}") from None


def canonical(kind: str, value) -> str:
    try:
        return CANONICALISERS[kind](value)
    except KeyError:
        raise ValueError(f"unknown blind-index kind {kind!r}") from None


# --- Blind indexes: one recipe, four entry points ------------------------------------------------------
# The recipe is ``_index_of_text``: HMAC-SHA256 under the kind's domain subkey over the canonical text,
# as hex, truncated (primed once per key and domain). The entry points differ only in what they accept
# and what "nothing" gives:
#   blind_index            raw input, canonicalised here; an invalid value raises
#   blind_index_or_empty   the same, "" when there is no value (optional fields)
#   blind_index_if_valid   the same, "" when there is no value or it is not valid (key rotation: a stored
#                          value from before a rule existed must not stop the run)
#   canonical_indexer      the bulk fast path: text ALREADY canonical (``cleaned_canonical``), no settings
#                          lookup per value (the CIS import, ~seven indexes per member)
# All four end in ``_index_of_text``.


@lru_cache(maxsize=16)
def _domain_key(index_key: str, domain: str) -> bytes:
    # One subkey per domain, so equal canonical strings of different kinds never share an index.
    return hmac.new(index_key.encode(), f"memberguard-blind-index:{domain}".encode(), hashlib.sha256).digest()


def _index_key(key: str | None) -> str:
    index_key = key if key is not None else settings.BLIND_INDEX_KEY
    if not index_key:
        raise RuntimeError("BLIND_INDEX_KEY is not configured")
    return index_key


@lru_cache(maxsize=32)
def _index_of_text(index_key: str, domain: str) -> Callable[[str], str]:
    """The recipe itself, for one key and domain: ``text -> HMAC-SHA256(domain subkey, text)`` as
    lower-case hex, truncated; from SHA-256 states primed with the subkey once (a third of the cost of
    ``hmac.digest``, which every blind index paid before, and the CIS import ~seven times a member)."""
    mac = primed_hmac_sha256(_domain_key(index_key, domain))
    length = BLIND_INDEX_HEX_LENGTH

    def index_of_text(text: str) -> str:
        return mac(text.encode()).hex()[:length]

    return index_of_text


def blind_index(kind: str, value, *, key: str | None = None) -> str:
    """Truncated HMAC-SHA256 of the canonical form, as lower-case hex. Raises ``CanonicalisationError``."""
    index_key = _index_key(key)
    text = canonical(kind, value)
    return _index_of_text(index_key, _DOMAIN[kind])(text)


def _empty(value) -> bool:
    return value is None or value == "" or (not isinstance(value, str) and not any(value))


def blind_index_or_empty(kind: str, value, *, key: str | None = None) -> str:
    """For optional fields: ``""`` when there is no value. An invalid value raises."""
    return "" if _empty(value) else blind_index(kind, value, key=key)


def blind_index_if_valid(kind: str, value, *, key: str | None = None) -> str:
    """``""`` when there is no value or it cannot be canonicalised; for recomputing stored rows."""
    try:
        return blind_index_or_empty(kind, value, key=key)
    except CanonicalisationError:
        return ""


class CanonicalIndexer:
    """For bulk paths: ``indexer(kind, text)`` where ``text`` is ALREADY in the canonical form of ``kind``
    (``cleaned_canonical`` of what the ``members.validation`` cleaners return: nine digits, E.164,
    case-folded email, ``STATE:NUMBER``, ``ROUTING:ACCOUNT``, upper-case alphanumerics). Equal to
    ``blind_index(kind, text)`` without canonicalising a second time and without a settings lookup per
    value; ``for_kind(kind)`` is the same bound to one kind, for the tightest loops (the CIS import
    indexes ~seven values per member). Never pass raw input: a non-canonical text gives an index nobody
    matches (tests/registry/test_import.py checks the two agree on validated values)."""

    def __init__(self, index_key: str):
        self._by_kind = {kind: _index_of_text(index_key, domain) for kind, domain in _DOMAIN.items()}

    def __call__(self, kind: str, text: str) -> str:
        return self._by_kind[kind](text)

    def for_kind(self, kind: str) -> Callable[[str], str]:
        return self._by_kind[kind]


def canonical_indexer(key: str | None = None) -> CanonicalIndexer:
    """The bulk fast path under ``key`` (default ``BLIND_INDEX_KEY``): see ``CanonicalIndexer``."""
    return CanonicalIndexer(_index_key(key))


# How a value already cleaned by ``members.validation`` becomes canonical text: nothing to do for the
# single-string kinds; the composite kinds are joined as their canonicalisers would join them.
_CLEANED_JOIN: dict[str, Callable[[Sequence[str]], str]] = {
    "licence": lambda number_state: f"{number_state[1]}:{number_state[0]}",
    "bank_account": lambda routing_account: f"{routing_account[0]}:{routing_account[1]}",
    "address": lambda parts: canonical_cleaned_address(*parts),
}


def cleaned_canonical(kind: str, value) -> str:
    """The canonical text of a value (or ``(number, state)``, ``(routing, account)``, address parts) that
    ``members.validation`` already cleaned: the input of ``canonical_indexer``'s ``index``."""
    join = _CLEANED_JOIN.get(kind)
    return value if join is None else join(value)


def index_values(kind: str, value) -> list[str]:
    """Indexes to look for: under ``BLIND_INDEX_KEY`` and, while a rotation is under way, also under
    ``BLIND_INDEX_KEY_PREVIOUS`` (rows not yet recomputed still carry the old one)."""
    values = [blind_index(kind, value)]
    previous = getattr(settings, "BLIND_INDEX_KEY_PREVIOUS", "") or ""
    if previous and previous != settings.BLIND_INDEX_KEY:
        values.append(blind_index(kind, value, key=previous))
    return values


def ssn_last4(value: str) -> str:
    return ascii_digits(value)[-4:]


# --- Fernet keyring ------------------------------------------------------------------------------


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...], use_hkdf: bool) -> MultiFernet:
    if not keys:
        raise RuntimeError("FERNET_KEYS is not configured")
    derived = [hkdf.derive_fernet_key(key) if use_hkdf else key for key in keys]
    return MultiFernet([Fernet(key) for key in derived])


def fernet() -> MultiFernet:
    """The keyring of the current settings: encrypts with the first key, decrypts with any.

    Looked up on every use (and cached per key list) rather than once per field, so a process that
    reloads its settings, and the rotation tests that swap keys, always use the configured keys.
    """
    return _fernet_for(tuple(settings.FERNET_KEYS), bool(getattr(settings, "FERNET_USE_HKDF", True)))


def derived_fernet_keys() -> list[bytes]:
    """The configured Fernet keys as Fernet key bytes, newest first (what the fields use)."""
    use_hkdf = getattr(settings, "FERNET_USE_HKDF", True)
    return [hkdf.derive_fernet_key(key) if use_hkdf else key.encode() for key in settings.FERNET_KEYS]


def primary_fernet_key() -> bytes:
    keys = tuple(settings.FERNET_KEYS)
    return hkdf.derive_fernet_key(keys[0]) if getattr(settings, "FERNET_USE_HKDF", True) else keys[0].encode()
