"""Fernet tokens for many values at once: the bulk paths (CIS import, key rotation, the export's pages).

Why this exists: ``cryptography``'s ``Fernet.encrypt`` builds a cipher context, a padder and an HMAC
object per value, ~20 µs of Python overhead each, which caps an import of 100,000 members (six or
more encrypted values each) far below the 10,000 members/s the registry needs. The tokens produced
here are ordinary Fernet tokens (spec: https://github.com/fernet/spec): version 0x80, timestamp,
random 128-bit IV, AES-128-CBC with PKCS7 padding, HMAC-SHA256 over all of it, URL-safe base64.
Only the batching differs: CBC's first block of every value is encrypted in one AES call (the block
function applied to ``P1 XOR IV``), then second blocks, and so on; decryption undoes CBC for a whole
batch with one AES call and one XOR. HMAC-SHA256 uses SHA-256 states primed with the key once. Every
token is interoperable with ``cryptography.fernet.Fernet`` both ways; tests/registry/test_fernet_bulk.py
proves it on random values, and that every token ``Fernet`` rejects is rejected here too.

One decryptor serves every bulk reader: ``decrypt_many`` (rotation, the Red Flags SSN/TIN scan: which
key verified each token, and the failing token's position) and ``decrypt_page`` (the disclosure
export: plaintexts only, ``InvalidToken`` on failure, as ``MultiFernet`` would).

Nothing here chooses keys: callers pass the derived Fernet keys of ``members.crypto``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time
from collections.abc import Callable, Sequence
from typing import Any

from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_VERSION = b"\x80"
_BLOCK = 16


class BulkInvalidToken(InvalidToken):
    """At least one token did not verify under any key (its position is in ``index``). An ``InvalidToken``,
    so callers that treat the bulk paths like ``MultiFernet`` can catch that."""

    def __init__(self, index: int):
        self.index = index
        super().__init__(f"token {index} does not verify under any configured key")


def _split_key(fernet_key: bytes) -> tuple[bytes, bytes]:
    raw = base64.urlsafe_b64decode(fernet_key)
    if len(raw) != 32:
        raise ValueError("a Fernet key is 32 bytes, URL-safe base64 encoded")
    return raw[:16], raw[16:]


_PADDING = [bytes([size]) * size for size in range(_BLOCK + 1)]  # _PADDING[n]: n bytes of value n
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def hmac_sha256_states(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer SHA-256 states after the padded key (RFC 2104), to be copied per message
    (here, in ``members.crypto``'s blind indexes and in ``members.hashchain``'s verifier)."""
    block = key.ljust(64, b"\0") if len(key) <= 64 else hashlib.sha256(key).digest().ljust(64, b"\0")
    return hashlib.sha256(bytes(byte ^ 0x36 for byte in block)), hashlib.sha256(bytes(byte ^ 0x5C for byte in block))


def primed_hmac_sha256(key: bytes) -> Callable[[bytes], bytes]:
    """``body -> HMAC-SHA256(key, body)`` (RFC 2104) from SHA-256 states primed with the padded key once:
    a third of ``hmac.digest``'s cost, which sets up an OpenSSL HMAC context on every call. Fernet's
    tokens here, and every blind index (``members.crypto``), are signed this way."""
    inner, outer = hmac_sha256_states(key)

    def mac(body: bytes) -> bytes:
        state = inner.copy()
        state.update(body)
        result = outer.copy()
        result.update(state.digest())
        return result.digest()

    return mac


def _xor_stream(a: bytes, b: bytes) -> bytes:
    """XOR of two equally long byte strings in one big-integer operation (no per-block Python)."""
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(len(a), "little")


def encrypt_many(fernet_key: bytes, plaintexts: Sequence[bytes], *, now: int | None = None) -> list[bytes]:
    """Fernet tokens (bytes, as ``Fernet.encrypt`` returns) for each plaintext, in order.

    Values are grouped by their padded length; within a group, block position ``j`` of every value is
    chained (``P_j XOR C_{j-1}``, one XOR over the whole group) and encrypted in one AES call.
    """
    if not plaintexts:
        return []
    signing_key, encryption_key = _split_key(fernet_key)
    count = len(plaintexts)
    padded = [value + _PADDING[_BLOCK - len(value) % _BLOCK] for value in plaintexts]
    ivs = os.urandom(_BLOCK * count)
    groups: dict[int, list[int]] = {}
    for i, value in enumerate(padded):
        groups.setdefault(len(value), []).append(i)
    ciphertexts: list[bytes] = [b""] * count
    encryptor = Cipher(algorithms.AES(encryption_key), modes.ECB()).encryptor()  # noqa: S305 - CBC chaining is done here
    for length, members in groups.items():
        previous = b"".join([ivs[i * _BLOCK : (i + 1) * _BLOCK] for i in members])
        columns = []
        for offset in range(0, length, _BLOCK):
            end = offset + _BLOCK
            previous = encryptor.update(_xor_stream(b"".join([padded[i][offset:end] for i in members]), previous))
            columns.append(previous)
        if len(columns) == 1:
            only = columns[0]
            for slot, i in enumerate(members):
                ciphertexts[i] = only[slot * _BLOCK : (slot + 1) * _BLOCK]
        else:
            for slot, i in enumerate(members):
                start = slot * _BLOCK
                ciphertexts[i] = b"".join([column[start : start + _BLOCK] for column in columns])
    header = _VERSION + struct.pack(">Q", int(time.time()) if now is None else now)
    sign, b2a = primed_hmac_sha256(signing_key), binascii.b2a_base64
    tokens = []
    for i in range(count):
        body = header + ivs[i * _BLOCK : (i + 1) * _BLOCK] + ciphertexts[i]
        tokens.append(b2a(body + sign(body), newline=False).translate(_TO_URLSAFE))
    return tokens


def decrypt_many(fernet_keys: Sequence[bytes], tokens: Sequence[bytes]) -> tuple[list[bytes], list[int]]:
    """Plaintexts of ``tokens`` and, for each, the position in ``fernet_keys`` of the key that verified it.

    Raises ``BulkInvalidToken`` naming the first token no key verifies (or whose padding is wrong):
    callers stop rather than guess (an undecryptable value is never re-encrypted).

    Every token's HMAC is checked first (``_verified_bodies``: one C call per token and key tried). CBC
    is then undone for all tokens of a key at once (``_undo_cbc``).
    """
    keys = [_split_key(key) for key in fernet_keys]
    if not keys:
        raise ValueError("no Fernet keys")
    bodies, key_of = _verified_bodies([primed_hmac_sha256(signing_key) for signing_key, _ in keys], tokens)
    plaintexts: list[bytes] = [b""] * len(bodies)
    for position, (_, encryption_key) in enumerate(keys):
        if len(keys) == 1:
            indexes: Sequence[int] = range(len(bodies))
        else:
            indexes = [i for i, used in enumerate(key_of) if used == position]
        if indexes:
            _undo_cbc(encryption_key, bodies, indexes, plaintexts)
    return plaintexts, key_of


def decrypt_page(fernet_keys: Sequence[bytes], tokens: Sequence[bytes]) -> list[bytes]:
    """Plaintexts of ``tokens``, in order: the export's page decryption (``disclosures.services``).

    Raises ``InvalidToken`` (a ``BulkInvalidToken``) if any token fails to verify under every key, as
    ``MultiFernet.decrypt`` would. Timestamps are not checked (``Fernet.decrypt`` without ``ttl``).
    """
    return decrypt_many(fernet_keys, tokens)[0]


_MINIMUM_TOKEN = 1 + 8 + _BLOCK + _BLOCK + 32  # version, timestamp, IV, one block, HMAC


def _verified_bodies(signers: list, tokens: Sequence[bytes]) -> tuple[list[bytes], list[int]]:
    """Each token's decoded body (version .. last ciphertext block) and the position of the signer whose
    HMAC matches, newest key first as ``MultiFernet`` tries them. Raises ``BulkInvalidToken``."""
    first_key, other_keys = signers[0], list(enumerate(signers))[1:]
    count = len(tokens)
    bodies: list[bytes] = [b""] * count
    key_of: list[int] = [0] * count
    compare, a2b = hmac.compare_digest, binascii.a2b_base64
    for i, token in enumerate(tokens):
        try:
            if type(token) is not bytes:
                token = token.encode("ascii") if isinstance(token, str) else bytes(token)
            data = a2b(token.translate(_TO_STANDARD))
        except (binascii.Error, TypeError, ValueError):
            raise BulkInvalidToken(i) from None
        size = len(data)
        if size < _MINIMUM_TOKEN or data[0] != 0x80 or (size - 57) % _BLOCK:
            raise BulkInvalidToken(i)
        body, mac = data[:-32], data[-32:]
        if not compare(first_key(body), mac):
            position = next((position for position, sign in other_keys if compare(sign(body), mac)), None)
            if position is None:
                raise BulkInvalidToken(i)
            key_of[i] = position
        bodies[i] = body
    return bodies, key_of


def _undo_cbc(encryption_key: bytes, bodies: list[bytes], indexes: Sequence[int], plaintexts: list[bytes]) -> None:
    """Decrypt the bodies at ``indexes`` (all verified under one key) into ``plaintexts``.

    One AES-ECB call over every ciphertext block gives ``D(C_i)``, and plaintext block ``i`` is
    ``D(C_i) XOR C_{i-1}`` (``C_0`` = the IV), so XOR-ing the decrypted stream with the stream "IV + all
    ciphertext blocks but the last" of each token, concatenated, is one big-integer XOR for the batch.
    PKCS7 padding is checked and stripped per token (``BulkInvalidToken`` when it is wrong).
    """
    decryptor = Cipher(algorithms.AES(encryption_key), modes.ECB()).decryptor()  # noqa: S305 - CBC chaining is undone here
    decrypted = decryptor.update(b"".join([bodies[i][25:] for i in indexes]))
    stream = _xor_stream(decrypted, b"".join([bodies[i][9:-_BLOCK] for i in indexes]))
    end = 0
    for i in indexes:
        start, end = end, end + len(bodies[i]) - 25
        pad = stream[end - 1]
        if not 0 < pad <= _BLOCK or stream[end - pad : end] != _PADDING[pad]:
            raise BulkInvalidToken(i)
        plaintexts[i] = stream[start : end - pad]


# --- Key rotation: decrypt and encrypt again in one pass ---------------------------------------------------


def reencrypt_many(fernet_keys: Sequence[bytes], tokens: Sequence[bytes], *, now: int | None = None) -> list[bytes]:
    """``MultiFernet(fernet_keys).rotate`` for a whole batch: each token decrypted under whichever key
    verifies it (newest first) and encrypted again under ``fernet_keys[0]``, with a fresh IV and the
    batch's timestamp; URL-safe tokens (bytes) in, URL-safe tokens out, in order.

    Raises ``BulkInvalidToken`` naming the first token that no key verifies or whose padding is wrong
    (nothing is returned then: an undecryptable value is never re-encrypted). Every token's HMAC is
    checked with ``hmac.compare_digest``, and its PKCS7 padding like ``Fernet.decrypt`` checks it.

    Why not ``decrypt_many`` then ``encrypt_many`` (the same tokens; tests/registry/test_fernet_bulk.py
    compares them): a rotation never needs the plaintexts themselves. The padded plaintext that CBC
    decryption yields is exactly what encryption pads again (the padding depends only on the length), so
    it goes from one to the other as one contiguous stream per token length; the base64 alphabet is
    switched once for the whole batch, not per token; and both HMACs are inlined (no call per token).
    """
    count = len(tokens)
    if not count:
        return []
    keys = [_split_key(key) for key in fernet_keys]
    if not keys:
        raise ValueError("no Fernet keys")
    bodies, key_of = _verified_standard(keys, tokens)
    groups: dict[tuple[int, int], list[int]] = {}
    for i, body in enumerate(bodies):
        groups.setdefault((key_of[i], len(body)), []).append(i)
    signing_key, encryption_key = keys[0]
    header = _VERSION + struct.pack(">Q", int(time.time()) if now is None else now)
    encryptor = Cipher(algorithms.AES(encryption_key), modes.ECB()).encryptor()  # noqa: S305 - CBC chaining is done here
    decryptors = [Cipher(algorithms.AES(key), modes.ECB()).decryptor() for _, key in keys]  # noqa: S305
    sign = _Signer(signing_key, header)
    fresh: list[bytes] = [b""] * count
    for (position, body_length), members in groups.items():
        plain = _padded_plaintexts(decryptors[position], [bodies[i] for i in members], body_length - 25, members)
        for i, token in zip(members, _cbc_tokens(encryptor, plain, body_length - 25, sign), strict=True):
            fresh[i] = token
    # Standard base64 has no newline, so one translation serves the whole batch.
    return b"\n".join(fresh).translate(_TO_URLSAFE).split(b"\n")


class _Signer:
    """Fernet's last step for one key and one batch: ``header + IV + ciphertext``, signed, in standard base64."""

    def __init__(self, signing_key: bytes, header: bytes):
        inner, outer = hmac_sha256_states(signing_key)
        self.copy_inner, self.copy_outer, self.header = inner.copy, outer.copy, header

    def tokens(self, ivs: bytes, columns: list[bytes]) -> list[bytes]:
        """One token per IV; its ciphertext is its block of each column (block positions, in order)."""
        copy_inner, copy_outer, header, b2a = self.copy_inner, self.copy_outer, self.header, binascii.b2a_base64
        only = columns[0] if len(columns) == 1 else None
        out = []
        for start in range(0, len(ivs), _BLOCK):
            stop = start + _BLOCK
            if only is not None:
                body = header + ivs[start:stop] + only[start:stop]
            else:
                body = header + ivs[start:stop] + b"".join([column[start:stop] for column in columns])
            state = copy_inner()
            state.update(body)
            signed = copy_outer()
            signed.update(state.digest())
            out.append(b2a(body + signed.digest(), newline=False))
        return out


def _padded_plaintexts(decryptor, group: list[bytes], length: int, members: list[int]) -> bytes:
    """CBC undone for a group of verified bodies of one length (see ``_undo_cbc``): their padded
    plaintexts, ``length`` bytes each, one after another. ``BulkInvalidToken`` (naming the token by its
    position in ``members``) if one does not end in PKCS7 padding."""
    plain = _xor_stream(
        decryptor.update(b"".join([body[25:] for body in group])), b"".join([body[9:-_BLOCK] for body in group])
    )
    end = length
    for slot, pad in enumerate(plain[length - 1 :: length]):
        if not 0 < pad <= _BLOCK or not plain.endswith(_PADDING[pad], 0, end):
            raise BulkInvalidToken(members[slot])
        end += length
    return plain


def _cbc_tokens(encryptor, plain: bytes, length: int, sign: _Signer) -> list[bytes]:
    """Tokens (standard base64) for padded plaintexts of ``length`` bytes each, one after another in
    ``plain``: CBC block position by block position across all of them (see ``encrypt_many``), fresh IVs."""
    count = len(plain) // length
    ivs = os.urandom(_BLOCK * count)
    previous, columns = ivs, []
    for offset in range(0, length, _BLOCK):
        if length == _BLOCK:
            column = plain
        else:
            column = b"".join([plain[start : start + _BLOCK] for start in range(offset, len(plain), length)])
        previous = encryptor.update(_xor_stream(column, previous))
        columns.append(previous)
    return sign.tokens(ivs, columns)


def _standard_alphabet(tokens: Sequence[bytes]) -> list[bytes]:
    """The tokens as bytes in the standard base64 alphabet: one translation for the batch when they are
    bytes-like and none holds a newline (as stored), else token by token (``BulkInvalidToken`` for one that
    is neither bytes-like nor ASCII text)."""
    try:
        joined: bytes | None = b"\n".join(tokens)
    except TypeError:  # str among them
        joined = None
    if joined is not None:
        standard = joined.translate(_TO_STANDARD).split(b"\n")
        if len(standard) == len(tokens):
            return standard
    standard = []
    for i, token in enumerate(tokens):
        try:
            if type(token) is not bytes:
                token = token.encode("ascii") if isinstance(token, str) else bytes(token)
            standard.append(token.translate(_TO_STANDARD))
        except (TypeError, ValueError):
            raise BulkInvalidToken(i) from None
    return standard


def _verified_standard(keys: list[tuple[bytes, bytes]], tokens: Sequence[bytes]) -> tuple[list[bytes], list[int]]:
    """``_verified_bodies`` for ``reencrypt_many``: the same checks, in the same order, on the same tokens,
    with the alphabet switched for the batch at once and the newest key's HMAC inlined."""
    a2b = binascii.a2b_base64
    standard = _standard_alphabet(tokens)
    try:
        decoded = list(map(a2b, standard))
    except (binascii.Error, ValueError):
        for i, token in enumerate(standard):
            try:
                a2b(token)
            except (binascii.Error, ValueError):
                raise BulkInvalidToken(i) from None
        raise
    states = [hmac_sha256_states(signing_key) for signing_key, _ in keys]
    (inner, outer), older = states[0], list(enumerate(states))[1:]
    copy_inner, copy_outer, compare = inner.copy, outer.copy, hmac.compare_digest
    bodies: list[bytes] = []
    key_of = [0] * len(decoded)
    for i, data in enumerate(decoded):
        size = len(data)
        if size < _MINIMUM_TOKEN or data[0] != 0x80 or (size - 57) % _BLOCK:
            raise BulkInvalidToken(i)
        body = data[:-32]
        state = copy_inner()
        state.update(body)
        signed = copy_outer()
        signed.update(state.digest())
        if not compare(signed.digest(), data[-32:]):
            for position, (older_inner, older_outer) in older:
                state = older_inner.copy()
                state.update(body)
                signed = older_outer.copy()
                signed.update(state.digest())
                if compare(signed.digest(), data[-32:]):
                    key_of[i] = position
                    break
            else:
                raise BulkInvalidToken(i)
        bodies.append(body)
    return bodies, key_of
