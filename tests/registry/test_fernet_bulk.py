"""The bulk Fernet paths (import, key rotation, the export's pages) against ``cryptography.fernet``: tokens
interoperate both ways, and anything ``Fernet`` would reject, ``decrypt_many`` rejects too, naming the
token's position. The export's ``decrypt_page`` (moved here from disclosures/page_decrypt.py) is the same
decryptor returning plaintexts only."""

from __future__ import annotations

import base64
import hmac
import os
import random
import struct

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from members import fernet_bulk
from members.fernet_bulk import BulkInvalidToken, decrypt_many, decrypt_page, encrypt_many, reencrypt_many

KEY_A, KEY_B, KEY_C = Fernet.generate_key(), Fernet.generate_key(), Fernet.generate_key()
# Every padded length from one to seven blocks, both sides of each block boundary, and UTF-8 text.
LENGTHS = [0, 1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 49, 63, 64, 65, 100]


def _values(count: int, seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    values = [rnd.randbytes(rnd.choice(LENGTHS)) for _ in range(count)]
    return values + ["Zoë Ångström-Łukasiewicz".encode(), b"1971-02-03", b""]


def test_bulk_tokens_are_fernet_tokens():
    values = _values(400, seed=1)
    tokens = encrypt_many(KEY_A, values, now=1_700_000_000)
    assert [Fernet(KEY_A).decrypt(token) for token in tokens] == values
    assert {Fernet(KEY_A).extract_timestamp(token) for token in tokens} == {1_700_000_000}
    assert len(set(tokens)) == len(tokens)  # a fresh IV per value
    with pytest.raises(InvalidToken):
        Fernet(KEY_B).decrypt(tokens[0])


def test_fernet_tokens_decrypt_in_bulk_under_whichever_key_made_them():
    values = _values(300, seed=2)
    rnd = random.Random(3)
    makers = [rnd.randrange(3) for _ in values]
    keys = [KEY_A, KEY_B, KEY_C]
    tokens = [Fernet(keys[maker]).encrypt(value) for maker, value in zip(makers, values, strict=True)]
    plaintexts, key_of = decrypt_many(keys, tokens)
    assert plaintexts == values
    assert key_of == makers


def test_decrypt_many_reads_tokens_as_the_database_returns_them():
    values = _values(20, seed=4)
    tokens = encrypt_many(KEY_A, values)
    as_given = [
        memoryview(token) if i % 3 == 0 else token.decode() if i % 3 == 1 else token for i, token in enumerate(tokens)
    ]
    assert decrypt_many([KEY_A], as_given)[0] == values
    assert decrypt_many([KEY_A], []) == ([], [])
    assert encrypt_many(KEY_A, []) == []


def _with_valid_mac(body: bytes, key: bytes) -> bytes:
    signing_key = base64.urlsafe_b64decode(key)[:16]
    return base64.urlsafe_b64encode(body + hmac.digest(signing_key, body, "sha256"))


def _bad_padding_token(key: bytes, last_block: bytes) -> bytes:
    """Authentic (right key, right MAC) but its plaintext does not end in PKCS7 padding."""
    encryption_key = base64.urlsafe_b64decode(key)[16:]
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(encryption_key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(last_block) + encryptor.finalize()
    return _with_valid_mac(b"\x80" + struct.pack(">Q", 1_700_000_000) + iv + ciphertext, key)


def _broken(good: bytes) -> dict[str, bytes]:
    raw = bytearray(base64.urlsafe_b64decode(good))
    flipped = bytearray(raw)
    flipped[30] ^= 0x01
    version = bytearray(raw)
    version[0] = 0x81
    return {
        "ciphertext changed": base64.urlsafe_b64encode(bytes(flipped)),
        "mac changed": base64.urlsafe_b64encode(bytes(raw[:-1]) + bytes([raw[-1] ^ 1])),
        "other key": Fernet(KEY_C).encrypt(b"123456789"),
        "version": _with_valid_mac(bytes(version[:-32]), KEY_A),
        "truncated": base64.urlsafe_b64encode(bytes(raw[:40])),
        "partial block": _with_valid_mac(bytes(raw[:-32]) + b"x", KEY_A),
        "not base64": b"\xff\xfe not a token",
        "empty": b"",
        "padding byte zero": _bad_padding_token(KEY_A, b"fifteen bytes!!\x00"),
        "padding bytes differ": _bad_padding_token(KEY_A, b"thirteen byte\x03\x01\x03"),
        "padding too long": _bad_padding_token(KEY_A, b"fifteen bytes!!\x11"),
    }


# Every way ``_broken`` breaks a token.
BROKEN_KINDS = [
    "ciphertext changed",
    "mac changed",
    "other key",
    "version",
    "truncated",
    "partial block",
    "not base64",
    "empty",
    "padding byte zero",
    "padding bytes differ",
    "padding too long",
]


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_a_token_fernet_rejects_stops_bulk_decryption_at_its_position(kind):
    good = encrypt_many(KEY_A, [b"123456701", b"123456702", b"123456703", b"123456704"])
    bad = _broken(good[0])[kind]
    with pytest.raises(InvalidToken):
        Fernet(KEY_A).decrypt(bad)
    tokens = [good[0], good[1], bad, good[2], good[3]]
    with pytest.raises(BulkInvalidToken) as caught:
        decrypt_many([KEY_B, KEY_A], tokens)
    assert caught.value.index == 2
    assert "12345670" not in str(caught.value)


# --- Key rotation's one-pass re-encryption ----------------------------------------------------------------


def test_reencrypt_many_is_multifernet_rotate_for_a_batch():
    """Tokens of every length, under any of the keys, come back under the first key with the same plaintext
    (read by ``Fernet``), a fresh IV and the batch's timestamp, in order; as ``MultiFernet.rotate`` does."""
    values = _values(300, seed=7)
    rnd = random.Random(8)
    keys = [KEY_A, KEY_B, KEY_C]
    tokens = [Fernet(keys[rnd.randrange(3)]).encrypt(value) for value in values]
    fresh = reencrypt_many(keys, tokens, now=1_700_000_000)
    assert [Fernet(KEY_A).decrypt(token) for token in fresh] == values
    assert [MultiFernet([Fernet(KEY_A)]).decrypt(token) for token in fresh] == [
        MultiFernet([Fernet(KEY_A)]).decrypt(MultiFernet([Fernet(k) for k in keys]).rotate(token)) for token in tokens
    ]
    assert {Fernet(KEY_A).extract_timestamp(token) for token in fresh} == {1_700_000_000}
    assert len(set(fresh)) == len(fresh) and not set(fresh) & set(tokens)
    assert all(type(token) is bytes and b"=" not in token.rstrip(b"=") for token in fresh)
    # Its own tokens rotate again, as stored (memoryview), as text, with one key.
    again = reencrypt_many([KEY_B, KEY_A], [memoryview(t) if i % 2 else t.decode() for i, t in enumerate(fresh)])
    assert [Fernet(KEY_B).decrypt(token) for token in again] == values
    assert reencrypt_many([KEY_A], []) == []


@pytest.mark.parametrize("kind", BROKEN_KINDS)
def test_a_token_fernet_rejects_stops_reencryption_at_its_position(kind):
    good = encrypt_many(KEY_A, [b"123456701", b"123456702", b"123456703", b"123456704"])
    bad = _broken(good[0])[kind]
    tokens = [good[0], good[1], bad, good[2], good[3]]
    with pytest.raises(BulkInvalidToken) as caught:
        reencrypt_many([KEY_B, KEY_A], tokens)
    assert caught.value.index == 2
    assert "12345670" not in str(caught.value)


def test_a_token_with_a_newline_is_read_alone():
    """One translation serves the batch only when no token holds a newline; otherwise token by token, so a
    newline inside one never shifts the others (base64 decoding skips it, as ``Fernet`` does)."""
    tokens = encrypt_many(KEY_A, [b"first", b"second", b"third"])
    wrapped = tokens[1][:20] + b"\n" + tokens[1][20:]
    fresh = reencrypt_many([KEY_A], [tokens[0], wrapped, tokens[2]])
    assert [Fernet(KEY_A).decrypt(token) for token in fresh] == [b"first", b"second", b"third"]
    with pytest.raises(BulkInvalidToken) as caught:
        reencrypt_many([KEY_A], [tokens[0], wrapped, _broken(tokens[2])["mac changed"]])
    assert caught.value.index == 2


@pytest.mark.parametrize("length", [0, 16, 32, 64, 65, 200])
def test_the_primed_hmac_is_hmac_sha256(length):
    key = os.urandom(length)
    mac = fernet_bulk.primed_hmac_sha256(key)
    for body in (b"", os.urandom(57), os.urandom(1000)):
        assert mac(body) == hmac.digest(key, body, "sha256")


# --- The export's page decryption (was tests/disclosures/test_page_decrypt.py) ---------------------------


def _page_values() -> list[bytes]:
    sizes = [0, 1, 15, 16, 17, 31, 32, 33, 100, 1000]
    return [os.urandom(n) for n in sizes] + ["naïve — ünïcode".encode(), b"123456789"]


def test_the_page_decryptor_decrypts_what_fernet_encrypts():
    key = Fernet.generate_key()
    values = _page_values()
    tokens = [Fernet(key).encrypt(v) for v in values]
    assert decrypt_page([key], tokens) == values


def test_the_page_decryptor_decrypts_tokens_of_old_and_new_keys_in_one_page():
    new, old = Fernet.generate_key(), Fernet.generate_key()
    values = _page_values()
    tokens = [(Fernet(old) if i % 2 else Fernet(new)).encrypt(v) for i, v in enumerate(values)]
    assert decrypt_page([new, old], tokens) == values
    assert [MultiFernet([Fernet(new), Fernet(old)]).decrypt(t) for t in tokens] == values


def test_an_empty_export_page_is_empty():
    assert decrypt_page([Fernet.generate_key()], []) == []


@pytest.mark.parametrize("position", [0, 5, 20, 40, -40, -1])
def test_a_tampered_token_is_refused_by_the_page_decryptor(position):
    key = Fernet.generate_key()
    token = bytearray(Fernet(key).encrypt(b"123-45-6789 fake"))
    token[position] = ord("A") if token[position] != ord("A") else ord("B")
    with pytest.raises(InvalidToken):
        decrypt_page([key], [Fernet(key).encrypt(b"fine"), bytes(token)])


def test_a_token_under_an_unknown_key_is_refused_by_the_page_decryptor():
    with pytest.raises(InvalidToken):
        decrypt_page([Fernet.generate_key()], [Fernet(Fernet.generate_key()).encrypt(b"secret")])


def test_the_registry_fields_round_trip_through_the_page_decryptor(db):
    """What members.fields stores (ciphertext in the database) decrypts to the model's values."""
    from django.db.models import BinaryField
    from django.db.models.functions import Cast

    from members import crypto
    from members.models import Member
    from tests.factories import MemberFactory

    member = MemberFactory()
    raw = (
        Member.objects.filter(pk=member.pk)
        .values_list(Cast("ssn", BinaryField()), Cast("date_of_birth", BinaryField()))
        .get()
    )
    ssn, dob = decrypt_page(crypto.derived_fernet_keys(), [bytes(v) for v in raw])
    assert ssn.decode() == member.ssn and dob.decode() == member.date_of_birth.isoformat()
