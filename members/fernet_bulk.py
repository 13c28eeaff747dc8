"""Fernet tokens for many values at once: the bulk paths (CIS import, key rotation).

Why this exists: ``cryptography``'s ``Fernet.encrypt`` builds a cipher context, a padder and an HMAC
object per value, ~20 µs of Python overhead each, which caps an import of 100,000 members (six or
more encrypted values each) far below the 10,000 members/s the registry needs. The tokens produced
here are ordinary Fernet tokens (spec: https://github.com/fernet/spec): version 0x80, timestamp,
random 128-bit IV, AES-128-CBC with PKCS7 padding, HMAC-SHA256 over all of it, URL-safe base64.
Only the batching differs: CBC's first block of every value is encrypted in one AES call (the block
function applied to ``P1 XOR IV``), then second blocks, and so on. Every token is interoperable with
``cryptography.fernet.Fernet`` both ways; tests/registry/test_crypto.py proves it on random values.

Nothing here chooses keys: callers pass the derived Fernet keys of ``members.crypto``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
import time
from collections.abc import Sequence

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_VERSION = b"\x80"
_BLOCK = 16


class BulkInvalidToken(Exception):
    """At least one token did not verify under any key (its position is in ``index``)."""

    def __init__(self, index: int):
        self.index = index
        super().__init__(f"token {index} does not verify under any configured key")


def _split_key(fernet_key: bytes) -> tuple[bytes, bytes]:
    raw = base64.urlsafe_b64decode(fernet_key)
    if len(raw) != 32:
        raise ValueError("a Fernet key is 32 bytes, URL-safe base64 encoded")
    return raw[:16], raw[16:]


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(_BLOCK, "big")


def _pad(data: bytes) -> bytes:
    size = _BLOCK - len(data) % _BLOCK
    return data + bytes([size]) * size


def encrypt_many(fernet_key: bytes, plaintexts: Sequence[bytes], *, now: int | None = None) -> list[bytes]:
    """Fernet tokens (bytes, as ``Fernet.encrypt`` returns) for each plaintext, in order."""
    if not plaintexts:
        return []
    signing_key, encryption_key = _split_key(fernet_key)
    count = len(plaintexts)
    padded = [_pad(value) for value in plaintexts]
    ivs_blob = os.urandom(_BLOCK * count)
    ivs = [ivs_blob[i * _BLOCK:(i + 1) * _BLOCK] for i in range(count)]
    blocks: list[list[bytes]] = [[] for _ in range(count)]
    previous = ivs[:]
    encryptor = Cipher(algorithms.AES(encryption_key), modes.ECB()).encryptor()  # noqa: S305 - CBC chaining is done here, block by block
    longest = max(len(value) for value in padded) // _BLOCK
    for position in range(longest):
        offset = position * _BLOCK
        active = [i for i in range(count) if len(padded[i]) > offset]
        chained = b"".join(_xor(padded[i][offset:offset + _BLOCK], previous[i]) for i in active)
        out = encryptor.update(chained)
        for slot, i in enumerate(active):
            block = out[slot * _BLOCK:(slot + 1) * _BLOCK]
            blocks[i].append(block)
            previous[i] = block
    header_time = struct.pack(">Q", int(time.time()) if now is None else now)
    tokens = []
    for i in range(count):
        body = _VERSION + header_time + ivs[i] + b"".join(blocks[i])
        tokens.append(base64.urlsafe_b64encode(body + hmac.digest(signing_key, body, "sha256")))
    return tokens


def decrypt_many(fernet_keys: Sequence[bytes], tokens: Sequence[bytes]) -> tuple[list[bytes], list[int]]:
    """Plaintexts of ``tokens`` and, for each, the position in ``fernet_keys`` of the key that verified it.

    Raises ``BulkInvalidToken`` naming the first token no key verifies: callers stop rather than
    guess (an undecryptable value is never re-encrypted).
    """
    keys = [_split_key(key) for key in fernet_keys]
    count = len(tokens)
    bodies: list[bytes] = []
    key_of: list[int] = []
    for i, token in enumerate(tokens):
        try:
            data = base64.urlsafe_b64decode(token)
        except (binascii.Error, TypeError, ValueError):
            raise BulkInvalidToken(i) from None
        if len(data) < 1 + 8 + 16 + 16 + 32 or data[:1] != _VERSION or (len(data) - 57) % _BLOCK:
            raise BulkInvalidToken(i)
        body, mac = data[:-32], data[-32:]
        verified = next(
            (position for position, (signing_key, _) in enumerate(keys)
             if hmac.compare_digest(hmac.digest(signing_key, body, "sha256"), mac)),
            None,
        )
        if verified is None:
            raise BulkInvalidToken(i)
        bodies.append(body)
        key_of.append(verified)
    plaintexts: list[bytes] = [b""] * count
    for position, (_, encryption_key) in enumerate(keys):
        members = [i for i in range(count) if key_of[i] == position]
        if not members:
            continue
        decryptor = Cipher(algorithms.AES(encryption_key), modes.ECB()).decryptor()  # noqa: S305 - CBC chaining is undone here
        ciphertext = b"".join(bodies[i][25:] for i in members)
        raw = decryptor.update(ciphertext) + decryptor.finalize()
        cursor = 0
        for i in members:
            body = bodies[i]
            length = len(body) - 25
            chunk = raw[cursor:cursor + length]
            cursor += length
            previous = body[9:25]
            out = []
            for offset in range(0, length, _BLOCK):
                out.append(_xor(chunk[offset:offset + _BLOCK], previous))
                previous = body[25 + offset:25 + offset + _BLOCK]
            unpadder = padding.PKCS7(128).unpadder()
            try:
                plaintexts[i] = unpadder.update(b"".join(out)) + unpadder.finalize()
            except ValueError:
                raise BulkInvalidToken(i) from None
    return plaintexts, key_of
