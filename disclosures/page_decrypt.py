"""Decrypt a page of Fernet tokens at once, for the export path.

Why: a 100,000-member export with four encrypted fields is 400,000 Fernet tokens. ``cryptography``'s
``Fernet.decrypt`` costs ~20 µs of per-call setup, and even the registry's batched
``members.fernet_bulk.decrypt_many`` spends most of its time in per-block Python loops, which held the
export near 5,000 members/s on the reference machine. Here every per-token step is a C call or a slice:

* base64: one ``binascii.a2b_base64`` per token;
* authenticity: one ``hmac.digest`` (HMAC-SHA256) per token, compared in constant time, tried against
  each configured key (newest first) exactly as ``MultiFernet`` does; a token no key verifies raises
  ``InvalidToken`` and nothing is returned;
* AES-128-CBC: all ciphertext blocks of the page that share a key go through ONE AES-ECB decryption,
  then CBC is undone for the whole page with one big-integer XOR against the previous-block stream
  (each token's IV followed by its ciphertext minus the last block);
* PKCS7 padding is checked and stripped per token.

The tokens are ordinary Fernet tokens (https://github.com/fernet/spec); interoperability with
``cryptography.fernet`` (both directions, key rotation, tampering) is proven in
tests/disclosures/test_page_decrypt.py. Like ``Fernet.decrypt`` without ``ttl``, timestamps are not
checked. Keys come from ``members.crypto.derived_fernet_keys()``; nothing here chooses keys.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Sequence

from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_TRANSLATE = bytes.maketrans(b"-_", b"+/")
_HEADER = 1 + 8 + 16  # version, timestamp, IV
_MAC = 32
_BLOCK = 16


def _split_key(fernet_key: bytes) -> tuple[bytes, bytes]:
    raw = base64.urlsafe_b64decode(fernet_key)
    if len(raw) != 32:
        raise ValueError("a Fernet key is 32 bytes, URL-safe base64 encoded")
    return raw[:16], raw[16:]


def decrypt_page(fernet_keys: Sequence[bytes], tokens: Sequence[bytes]) -> list[bytes]:
    """Plaintexts of ``tokens``, in order. Raises ``InvalidToken`` if any token fails to verify."""
    keys = [_split_key(key) for key in fernet_keys]
    a2b = binascii.a2b_base64
    digest = hmac.digest
    compare = hmac.compare_digest
    datas: list[bytes] = []
    by_key: list[list[int]] = [[] for _ in keys]
    for index, token in enumerate(tokens):
        try:
            data = a2b(token.translate(_TRANSLATE))
        except (binascii.Error, TypeError, ValueError):
            raise InvalidToken from None
        if len(data) < _HEADER + _BLOCK + _MAC or data[0] != 0x80 or (len(data) - _HEADER - _MAC) % _BLOCK:
            raise InvalidToken
        body, mac = data[:-_MAC], data[-_MAC:]
        for position, (signing_key, _) in enumerate(keys):
            if compare(digest(signing_key, body, "sha256"), mac):
                by_key[position].append(index)
                break
        else:
            raise InvalidToken
        datas.append(data)
    plaintexts: list[bytes] = [b""] * len(tokens)
    for position, indexes in enumerate(by_key):
        if not indexes:
            continue
        ciphertext = b"".join([datas[i][_HEADER:-_MAC] for i in indexes])
        # The block before each ciphertext block: the token's IV, then its own previous blocks.
        previous = b"".join([datas[i][_HEADER - _BLOCK : -_MAC - _BLOCK] for i in indexes])
        decryptor = Cipher(algorithms.AES(keys[position][1]), modes.ECB()).decryptor()  # noqa: S305 - CBC is undone below
        raw = decryptor.update(ciphertext) + decryptor.finalize()
        size = len(raw)
        plain = (int.from_bytes(raw, "big") ^ int.from_bytes(previous, "big")).to_bytes(size, "big")
        offset = 0
        for i in indexes:
            length = len(datas[i]) - _HEADER - _MAC
            chunk = plain[offset : offset + length]
            offset += length
            pad = chunk[-1]
            if not 1 <= pad <= _BLOCK or chunk[-pad:] != bytes((pad,)) * pad:
                raise InvalidToken
            plaintexts[i] = chunk[:-pad]
    return plaintexts
