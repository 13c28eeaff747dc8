"""``render_many`` (a release's notices, issue 18): the template rendered once and each member's name put in
its place gives exactly what ``render_notice`` gives for that member, for every kind of notice, and the
guard against identifiers still refuses per member."""

from __future__ import annotations

import pytest
from django.utils import timezone

from members.models import Member
from members.notices.kinds import KINDS
from members.notices.rendering import SensitiveNotice, render_many, render_notice

_NAMES = ("Ada Lovelace", "O'Brien & Sons <Farm>", 'Zoë "Z" Müller', "Line\\break\nName", "")


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_rendered_once_equals_rendered_per_member(kind):
    context = {
        "recipient": "Acme Solar",
        "categories": "contact, billing",
        "basis": "you asked",
        "when": timezone.now(),
    }
    render = render_many(kind=kind, context=context)
    for name in _NAMES:
        member = Member(legal_name=name)
        try:
            expected = render_notice(kind=kind, member=member, context=context)
        except SensitiveNotice:
            with pytest.raises(SensitiveNotice):
                render(member)
            continue
        assert render(member) == expected


def test_a_name_that_looks_like_a_number_is_refused_for_that_member_only():
    context = {"recipient": "Acme Solar", "categories": "contact", "basis": "you asked", "when": timezone.now()}
    render = render_many(kind="data_released", context=context)
    assert render.__name__ == "filled"  # the release's template takes the name as it is: rendered once
    assert "Ada" in render(Member(legal_name="Ada"))[1]
    with pytest.raises(SensitiveNotice):
        render(Member(legal_name="Ada 1234567"))
