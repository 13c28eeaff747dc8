"""The export's page decryption is interoperable with cryptography's Fernet and refuses tampering."""

from __future__ import annotations

import os

import pytest
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from disclosures.page_decrypt import decrypt_page


def _values() -> list[bytes]:
    sizes = [0, 1, 15, 16, 17, 31, 32, 33, 100, 1000]
    return [os.urandom(n) for n in sizes] + ["naïve — ünïcode".encode(), b"123456789"]


def test_it_decrypts_what_fernet_encrypts():
    key = Fernet.generate_key()
    values = _values()
    tokens = [Fernet(key).encrypt(v) for v in values]
    assert decrypt_page([key], tokens) == values


def test_it_decrypts_tokens_of_old_and_new_keys_in_one_page():
    new, old = Fernet.generate_key(), Fernet.generate_key()
    values = _values()
    tokens = [(Fernet(old) if i % 2 else Fernet(new)).encrypt(v) for i, v in enumerate(values)]
    assert decrypt_page([new, old], tokens) == values
    assert [MultiFernet([Fernet(new), Fernet(old)]).decrypt(t) for t in tokens] == values


def test_an_empty_page_is_empty():
    assert decrypt_page([Fernet.generate_key()], []) == []


@pytest.mark.parametrize("position", [0, 5, 20, 40, -40, -1])
def test_a_tampered_token_is_refused(position):
    key = Fernet.generate_key()
    token = bytearray(Fernet(key).encrypt(b"123-45-6789 fake"))
    token[position] = ord("A") if token[position] != ord("A") else ord("B")
    with pytest.raises(InvalidToken):
        decrypt_page([key], [Fernet(key).encrypt(b"fine"), bytes(token)])


def test_a_token_under_an_unknown_key_is_refused():
    with pytest.raises(InvalidToken):
        decrypt_page([Fernet.generate_key()], [Fernet(Fernet.generate_key()).encrypt(b"secret")])


def test_the_registry_fields_round_trip(db):
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
