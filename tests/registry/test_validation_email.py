"""The email fast path accepts only what Django's EmailValidator accepts, and decides nothing else."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from members.validation import _PLAIN_EMAIL, clean_email

ADDRESSES = [
    "member1@example.test",
    "first.last+bills@co-op.example.org",
    "a_b%c@x.io",
    "x@y.co",
    # shapes the fast path must not accept on its own
    ".lead@example.test",
    "trail.@example.test",
    "two..dots@example.test",
    "a@-bad.example",
    "a@bad-.example",
    "a@example.c",
    "a@example.123",
    "a@example",
    "a@localhost",
    "a b@example.test",
    "a@exa mple.test",
    '"quoted"@example.test',
    "a@[192.0.2.1]",
    "user@example.test\n",
    "üser@example.test",
    "a@" + "x" * 64 + ".test",
    "o'brien@example.test",
    "a@sub.example-.test",
    "@example.test",
    "a@",
    "a@@example.test",
]


def _django_accepts(text: str) -> bool:
    try:
        validate_email(text)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("address", ADDRESSES)
def test_fast_path_is_a_subset_of_djangos_validator(address):
    if _PLAIN_EMAIL.match(address):
        assert _django_accepts(address)


@pytest.mark.parametrize("address", ADDRESSES)
def test_clean_email_agrees_with_djangos_validator(address):
    text = address.strip().casefold()
    try:
        cleaned = clean_email(address)
    except ValidationError:
        assert not _django_accepts(text)
    else:
        assert cleaned == text and _django_accepts(text)


def test_fast_path_takes_the_common_shapes():
    assert _PLAIN_EMAIL.match("member1@example.test") and _PLAIN_EMAIL.match("first.last+bills@co-op.example.org")
    assert not _PLAIN_EMAIL.match("user@example.test\n") and not _PLAIN_EMAIL.match("two..dots@example.test")
