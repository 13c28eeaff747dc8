"""Notices for changes to how a member signs in (password, two-step sign-in), made through allauth's
pages: allauth saves the change and sends its signal; the member's notice is written right after.
Staff logins have no member record and get no member notice."""

from __future__ import annotations

from allauth.account.signals import password_changed, password_reset, password_set
from allauth.mfa.signals import authenticator_added, authenticator_removed, authenticator_reset
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from members.models import Member
from members.notices.services import notice_enqueue

_WHAT = {
    "password_changed": "your password was changed",
    "password_reset": "your password was reset",
    "password_set": "a password was set",
    "authenticator_added": "a two-step sign-in method was added",
    "authenticator_removed": "a two-step sign-in method was removed",
    "authenticator_reset": "your two-step sign-in codes were renewed",
}


def _notify(user, what: str) -> None:
    member = Member.objects.filter(user=user).first() if user is not None else None
    if member is None:
        return
    with transaction.atomic():
        notice_enqueue(
            actor=user, kind="sign_in_changed", member=member, context={"what": what, "when": timezone.now()}
        )


@receiver(password_changed, dispatch_uid="notices.password_changed")
def _password_changed(sender, request=None, user=None, **kwargs):
    _notify(user, _WHAT["password_changed"])


@receiver(password_reset, dispatch_uid="notices.password_reset")
def _password_reset(sender, request=None, user=None, **kwargs):
    _notify(user, _WHAT["password_reset"])


@receiver(password_set, dispatch_uid="notices.password_set")
def _password_set(sender, request=None, user=None, **kwargs):
    _notify(user, _WHAT["password_set"])


@receiver(authenticator_added, dispatch_uid="notices.authenticator_added")
def _authenticator_added(sender, request=None, user=None, **kwargs):
    _notify(user, _WHAT["authenticator_added"])


@receiver(authenticator_removed, dispatch_uid="notices.authenticator_removed")
def _authenticator_removed(sender, request=None, user=None, **kwargs):
    _notify(user, _WHAT["authenticator_removed"])


@receiver(authenticator_reset, dispatch_uid="notices.authenticator_reset")
def _authenticator_reset(sender, request=None, user=None, **kwargs):
    _notify(user, _WHAT["authenticator_reset"])
