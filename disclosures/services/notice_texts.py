"""The words a member reads before consenting: versioned, written by the Privacy Officer (issue 14.5).

A consent is evidence only with the exact wording shown. The portal shows the newest version of a kind
(``notice_text_current``), fills in the member's choices (``notice_fill``) and hands the version and the
filled-in words to ``consent_grant``, which keeps both with their SHA-256. A new wording is a new version
(``notice_text_publish``); a version a consent was given on can no longer change (database trigger,
disclosures/migrations/0005).
"""

from __future__ import annotations

import string
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from disclosures.models import DataCategory, NoticeText, Purpose
from members.actors import Actor, signed_in_user
from members.audit import audit_record

# The placeholders a notice may use; anything else in braces is refused when the version is written.
PLACEHOLDERS = frozenset({"coop", "recipient", "categories", "purpose", "period", "accounts", "frequency", "end"})


def _check_placeholders(body: str) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(body) if name is not None}
    except ValueError as error:
        raise ValidationError(f"The wording has an unbalanced brace: {error}.") from None
    unknown = sorted(names - PLACEHOLDERS)
    if unknown:
        raise ValidationError(
            "Unknown placeholder(s) "
            + ", ".join("{" + name + "}" for name in unknown)
            + "; use "
            + ", ".join("{" + name + "}" for name in sorted(PLACEHOLDERS))
            + "."
        )


@transaction.atomic
def notice_text_publish(*, actor: Actor, kind: str, title: str, body: str) -> NoticeText:
    """A new version of a kind's wording; from now on the portal shows it."""
    if kind not in NoticeText.Kind.values:
        raise ValidationError(f"Unknown notice kind {kind!r}.")
    if not title.strip() or not body.strip():
        raise ValidationError("A notice needs a title and its wording.")
    _check_placeholders(body)
    # One writer at a time per kind, so two officers cannot both write "version 4".
    NoticeText.objects.select_for_update(no_key=True).filter(kind=kind).exists()
    latest = NoticeText.objects.filter(kind=kind).aggregate(v=Max("version"))["v"] or 0
    notice = NoticeText.objects.create(
        kind=kind, version=latest + 1, title=title.strip(), body=body.strip(), created_by=signed_in_user(actor)
    )
    audit_record(
        actor=actor, action="notice_text.published", obj=notice, fields=["title", "body"], detail={"kind": kind}
    )
    return notice


@transaction.atomic
def notice_text_correct(*, actor: Actor, notice: NoticeText, title: str, body: str) -> NoticeText:
    """Correct a version nobody has consented on yet (the trigger refuses it otherwise)."""
    notice = NoticeText.objects.select_for_update(no_key=True).get(pk=notice.pk)
    if notice.consents.exists():
        raise ValidationError(
            f"Version {notice.version} was shown to members who consented on it; publish a new version instead."
        )
    _check_placeholders(body)
    notice.title, notice.body = title.strip(), body.strip()
    notice.save(update_fields=["title", "body"])
    audit_record(actor=actor, action="notice_text.corrected", obj=notice, fields=["title", "body"])
    return notice


def notice_text_current(kind: str) -> NoticeText:
    """The version the portal shows now (every kind has one from migration 0004 on)."""
    notice = NoticeText.objects.filter(kind=kind).order_by("-version").first()
    if notice is None:
        raise NoticeText.DoesNotExist(f"no notice text of kind {kind}")
    return notice


def notice_fill(notice: NoticeText, **values: str) -> str:
    """The wording as the member reads it, placeholders filled in; missing values read as blanks."""
    return string.Formatter().vformat(notice.body, (), _Blanks(values))


class _Blanks(dict):
    def __missing__(self, key: str) -> str:
        return "…"


def category_words(categories: list[str]) -> str:
    """Categories as a member reads them: "contact information and billing information"."""
    words = [DataCategory(category).label.split(" ", 1)[-1].lower() for category in categories]
    return " and ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)


def portal_consent_wording(
    notice: NoticeText, *, recipient: str, categories: list[str], purpose: str, until: date | None
) -> str:
    """The portal consent notice with the member's choices filled in: the words the consent keeps."""
    return notice_fill(
        notice,
        coop=settings.COOP_NAME,
        recipient=recipient,
        categories=category_words(categories),
        purpose=Purpose(purpose).label.split(": ", 1)[-1],
        period=f"until {until:%B} {until.day}, {until.year}" if until else "until I withdraw it",
    )
