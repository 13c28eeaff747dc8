"""The disclosure log's rows are rendered by ``{% disclosure_log_rows %}`` (a fast path for the auditor's page
under load): its markup must be exactly what the template loop it replaced produced, escaping included."""

from __future__ import annotations

import datetime

import pytest
from django.template import Context, Template

from disclosures.models import DisclosureLogEntry

# The template loop the tag replaced, word for word.
THE_LOOP = Template(
    "{% load disclosure_labels %}{% for e in page %}\n"
    "    <tr>\n"
    '      <td>{{ e.seq }}</td><td>{{ e.at|date:"Y-m-d H:i" }}<br><small>{{ e.actor_label }}</small></td>'
    "<td>{{ e.get_outcome_display }}</td>\n"
    "      <td>{{ e.recipient_label }}</td><td>{{ e.basis_kind|basis_kind_label }}<br><small>"
    "{{ e.basis_ref|reference_label }}</small>{% if e.notice_withheld %}<br><strong>notice withheld by order"
    "</strong>{% endif %}</td>\n"
    "      <td>{{ e.member_count }}</td><td><small>{{ e.categories|categories_label }}</small></td>\n"
    "      <td>{% if e.reason %}<small>{{ e.reason|reference_label }}</small>{% else %}{{ e.format|upper }} "
    '<small title="SHA-256 of the file">{{ e.file_sha256|truncatechars:13 }}</small>{% endif %}</td>\n'
    "    </tr>\n"
    "  {% endfor %}"
)
THE_TAG = Template("{% load disclosure_labels %}{% disclosure_log_rows page %}")


def _entries() -> list[DisclosureLogEntry]:
    at = datetime.datetime(2026, 11, 30, 23, 59, 30, tzinfo=datetime.UTC)
    return [
        DisclosureLogEntry(
            seq=7,
            at=at,
            actor_label='<script>alert("x")</script> & co',
            outcome="released",
            recipient_label="Acme <Solar> & Sons",
            basis_kind="consent",
            basis_ref="consent:recipient=3,purpose=energy_efficiency",
            member_count=2,
            categories=["usage", "contact"],
            format="csv",
            file_sha256="ab" * 32,
            reason="",
            notice_withheld=False,
        ),
        DisclosureLogEntry(
            seq=8,
            at=at + datetime.timedelta(hours=5),
            actor_label="clerk",
            outcome="refused",
            recipient_label="",
            basis_kind="subpoena",
            basis_ref="legal_basis:2 subpoena 2026-CV-118",
            member_count=0,
            categories=[],
            format="json",
            file_sha256="",
            reason="withheld: legal_basis:2 subpoena <b>bold</b> \"quoted\" 'single'",
            notice_withheld=True,
        ),
    ]


def _normal(html: str) -> list[str]:
    return [line.strip() for line in html.split("\n") if line.strip()]


@pytest.mark.parametrize("zone", ["UTC", "America/Detroit"])
def test_the_tag_writes_the_markup_the_template_loop_wrote(settings, zone):
    settings.TIME_ZONE = zone
    entries = _entries()
    expected = THE_LOOP.render(Context({"page": entries}))
    written = THE_TAG.render(Context({"page": entries}))
    assert _normal(written) == _normal(expected)
    assert "<script>" not in written and "&lt;script&gt;" in written
    assert "<b>bold</b>" not in written


def test_no_entries_write_no_rows():
    assert THE_TAG.render(Context({"page": []})).strip() == ""
