"""The hot-path SQL of an assessment: members sharing a blind index, the fraud-list probe, the notices.

Kept as constants beside the functions that build their parameters and read their rows, so the
opening's single round trip (``OPENING_PREFETCH_SQL``) runs exactly the lazy lookups' SQL and
``context.Context`` only decides what to look for and confirms what comes back.

The registry's blind indexes are short on purpose (12 bits: at a million members ~250 members share
each value), so each indexed equality is narrowed in SQL by something that equal values must share:
SSN/TIN by the clear last four digits, licence by the issuing state, phone by the stored E.164 form,
address by ZIP5 and the first word of the street line (any spelling that canonicalises to the same
word). The survivors are then confirmed in Python by canonical form. A narrowing term never excludes a
true duplicate. A kind not looked for is passed as NULL, which equals nothing.

**Every kind is its own statement, with no cap.** Each duplicate lookup (``DUPLICATE_SQL[kind]``) is a
separate indexed SELECT with no LIMIT; the opening joins them with UNION ALL, tagging each row with
its kind, so rows of one kind can never crowd out another (issue 16: a shared SSN used to fall past
a 600-row cap shared with an apartment block's 600 address matches). Only the SSN/TIN and licence
branches carry ciphertexts; the address and phone branches, which can be thousands of rows, carry
only clear columns, and their confirmation is memoised per distinct value (``context.Context``).
"""

from __future__ import annotations

from functools import cached_property

from members import crypto, fernet_bulk

# The kinds found by the duplicate lookups and the registry column holding each one's blind index.
CANDIDATE_INDEX_FIELDS = {
    "tax_id": "tax_id_index",
    "licence": "licence_index",
    "address": "address_index",
    "phone": "phone_index",
}

_SELECT = (
    "SELECT '{kind}'::text AS kind, id, member_number, mailing_line1, mailing_line2, mailing_city, mailing_state, "
    "mailing_postal_code, phone, drivers_licence_state, {ciphers} FROM members_member WHERE "
)
_WITH_CIPHERS = "ssn AS ssn_cipher, tin AS tin_cipher, drivers_licence_number AS licence_cipher"
_NO_CIPHERS = "NULL::bytea AS ssn_cipher, NULL::bytea AS tin_cipher, NULL::bytea AS licence_cipher"

# One statement per kind, each ending with ``id <> %s`` (the member itself). Parameters:
# ``candidate_params(...)[kind]``, then the member id.
DUPLICATE_SQL: dict[str, str] = {
    "tax_id": _SELECT.format(kind="tax_id", ciphers=_WITH_CIPHERS)
    + "tax_id_index = %s AND ssn_last4 = %s AND id <> %s",
    "licence": _SELECT.format(kind="licence", ciphers=_WITH_CIPHERS)
    + "licence_index = %s AND drivers_licence_state = %s AND id <> %s",
    "address": _SELECT.format(kind="address", ciphers=_NO_CIPHERS)
    + "address_index = %s AND left(mailing_postal_code, 5) = %s "
    "AND (%s::text[] IS NULL "
    "OR upper(substring(replace(mailing_line1, '.', '') from '[A-Za-z0-9]+')) = ANY(%s::text[])) AND id <> %s",
    "phone": _SELECT.format(kind="phone", ciphers=_NO_CIPHERS) + "phone_index = %s AND phone = %s AND id <> %s",
}
KINDS = tuple(DUPLICATE_SQL)

# Two branches rather than one OR, so each uses the index on index_value (an OR with a subquery
# turns into a sequential scan of the whole fraud list).
FRAUD_PROBE_SQL = (
    "SELECT id FROM redflags_knownfraudentry WHERE active AND index_value = ANY(%s) "
    "UNION SELECT id FROM redflags_knownfraudentry "
    "WHERE active AND %s AND kind = 'bank_account' AND index_value IN "
    "(SELECT bank_account_index FROM members_financialaccount "
    "WHERE member_id = %s AND is_active AND bank_account_index <> '')"
)
NOTICES_SQL = (
    "(SELECT received_at, kind, agency, 'cra' AS source FROM redflags_consumerreportalert "
    "WHERE member_id = %s AND received_at >= %s ORDER BY received_at DESC LIMIT 200) "
    "UNION ALL (SELECT received_at, reporter, '', 'notice' FROM redflags_identitytheftnotice "
    "WHERE member_id = %s AND received_at >= %s ORDER BY received_at DESC LIMIT 200)"
)


def duplicates_sql(kinds: list[str]) -> str:
    """The duplicate lookups of ``kinds``, each its own SELECT, joined by UNION ALL (no shared cap)."""
    return " UNION ALL ".join(f"({DUPLICATE_SQL[kind]})" for kind in kinds)


# Rows: (source, id, the candidate columns..., received_at). Source is the kind for a candidate, 'f' for
# a fraud-list entry, 'cra' / 'notice' for a notice (whose kind and agency ride in the first two columns).
OPENING_PREFETCH_SQL = (
    "SELECT c.kind, c.id, c.member_number, c.mailing_line1, c.mailing_line2, c.mailing_city, c.mailing_state, "  # noqa: S608 - constants only
    "c.mailing_postal_code, c.phone, c.drivers_licence_state, c.ssn_cipher, c.tin_cipher, c.licence_cipher, "
    "NULL::timestamptz FROM (" + duplicates_sql(list(KINDS)) + ") AS c "
    "UNION ALL SELECT 'f', f.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM ("
    + FRAUD_PROBE_SQL
    + ") AS f "
    "UNION ALL SELECT n.source, NULL, n.kind, n.agency, "
    "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, n.received_at FROM (" + NOTICES_SQL + ") AS n"
)
# The candidate columns of OPENING_PREFETCH_SQL's candidate rows, in order after the kind and the id.
_CANDIDATE_COLUMNS = (
    "member_number",
    "mailing_line1",
    "mailing_line2",
    "mailing_city",
    "mailing_state",
    "mailing_postal_code",
    "phone",
    "drivers_licence_state",
    "ssn_cipher",
    "tin_cipher",
    "licence_cipher",
)


def first_word_spellings(line1: str) -> list[str] | None:
    """Every upper-case first word of a street line that canonicalises to this line's first word.

    ``None`` (no narrowing) when the canonical first word is rewritten from other characters (a leading
    "#" becomes APT, "P O BOX" becomes PO BOX), so a true duplicate is never filtered out.
    """
    words = crypto._address_words(line1).split()  # noqa: SLF001 - the registry's own canonicaliser
    if not words:
        return None
    first = words[0]
    if first in ("APT", "PO", "P", "BOX") or "#" in line1:
        return None
    spellings = {first} | {raw for raw, canonical in crypto._ADDRESS_WORDS.items() if canonical == first}  # noqa: SLF001
    return sorted(spellings)


def candidate_params(member, wanted: dict[str, str]) -> dict[str, list]:
    """Per kind, the narrowing parameters of its ``DUPLICATE_SQL`` (before the member id).

    A kind not in ``wanted`` (or whose value does not canonicalise) gets NULLs, which match nothing.
    """
    tax = wanted.get("tax_id")
    licence = wanted.get("licence") if member.drivers_licence_state else None
    address = wanted.get("address")
    zip5, first_words = None, None
    if address:
        zip5 = crypto.ascii_digits(member.mailing_postal_code)[:5]
        first_words = first_word_spellings(member.mailing_line1)
    phone = wanted.get("phone")
    try:
        e164 = crypto.canonical("phone", member.phone) if phone and member.phone else None
    except crypto.CanonicalisationError:
        e164 = None
    return {
        "tax_id": [tax, member.ssn_last4 if tax else None],
        "licence": [licence, member.drivers_licence_state if licence else None],
        "address": [address, zip5, first_words, first_words],
        "phone": [phone if e164 else None, e164],
    }


def duplicates_params(member, wanted: dict[str, str], kinds: list[str]) -> list:
    """The parameters of ``duplicates_sql(kinds)``."""
    params = candidate_params(member, wanted)
    return [value for kind in kinds for value in (*params[kind], member.pk)]


class Candidate:
    """Another member found by blind index; ciphertexts decrypted only if a detector asks."""

    def __init__(self, row: dict):
        self._row = row
        self.pk = row["id"]
        self.member_number = row["member_number"]
        self.mailing_line1, self.mailing_line2 = row["mailing_line1"], row["mailing_line2"]
        self.mailing_city, self.mailing_state, self.mailing_postal_code = (
            row["mailing_city"],
            row["mailing_state"],
            row["mailing_postal_code"],
        )
        self.phone = row["phone"]
        self.drivers_licence_state = row["drivers_licence_state"]
        self.email = None

    def _decrypt(self, name: str) -> str | None:
        value = self._row.get(name)
        return crypto.fernet().decrypt(bytes(value)).decode() if value is not None else None

    @cached_property
    def ssn(self) -> str | None:
        return self._decrypt("ssn_cipher")

    @cached_property
    def tin(self) -> str | None:
        return self._decrypt("tin_cipher")

    @cached_property
    def drivers_licence_number(self) -> str | None:
        return self._decrypt("licence_cipher")


# Per encrypted kind: (ciphertext column, Candidate attribute) pairs its confirmation decrypts.
_CIPHERS = {
    "tax_id": (("ssn_cipher", "ssn"), ("tin_cipher", "tin")),
    "licence": (("licence_cipher", "drivers_licence_number"),),
}


def decrypt_candidates(candidates: list[Candidate], kind: str) -> None:
    """Decrypt the kind's ciphertexts of every candidate in one bulk call (members.fernet_bulk).

    A licence narrowed only by its state can leave a few hundred candidates at a million members;
    the bulk path verifies and decrypts them without a Python round per token.
    """
    pending = [
        (candidate, attribute, bytes(candidate._row[column]))  # noqa: SLF001 - the row this module built
        for candidate in candidates
        for column, attribute in _CIPHERS.get(kind, ())
        if attribute not in candidate.__dict__ and candidate._row.get(column) is not None  # noqa: SLF001
    ]
    if len(pending) < 8:  # a handful: the lazy per-token path is as fast
        return
    plaintexts = fernet_bulk.decrypt_page(crypto.derived_fernet_keys(), [token for _, _, token in pending])
    for (candidate, attribute, _), plaintext in zip(pending, plaintexts, strict=True):
        candidate.__dict__[attribute] = plaintext.decode()


def sort_candidates(rows: list[dict]) -> dict[str, list[Candidate]]:
    """Each candidate row under the kind whose lookup found it (a member sharing two kinds is two rows)."""
    result: dict[str, list[Candidate]] = {kind: [] for kind in KINDS}
    for row in rows:
        result[row["kind"]].append(Candidate(row))
    return result


def split_opening_rows(rows: list[tuple]) -> tuple[list[dict], list[int], list[dict]]:
    """OPENING_PREFETCH_SQL's rows as (candidate rows, fraud-list ids, notices newest first)."""
    candidates, fraud_ids, notices = [], [], []
    for src, pk, *columns, when in rows:
        if src in DUPLICATE_SQL:
            candidates.append({"kind": src, "id": pk, **dict(zip(_CANDIDATE_COLUMNS, columns, strict=True))})
        elif src == "f":
            fraud_ids.append(pk)
        else:
            notices.append({"received_at": when, "kind": columns[0], "agency": columns[1], "source": src})
    notices.sort(key=lambda row: row["received_at"], reverse=True)
    return candidates, fraud_ids, notices
