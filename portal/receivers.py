"""allauth tells us an e-mail was verified; a pending self-enrollment then becomes a usable login."""

from __future__ import annotations

from allauth.account.signals import email_confirmed
from django.dispatch import receiver

from portal.enrollment import enrollment_verify


@receiver(email_confirmed, dispatch_uid="portal.enrollment_verified")
def _enrollment_verified(sender, request=None, email_address=None, **kwargs):
    if email_address is not None and email_address.user_id:
        enrollment_verify(user=email_address.user)
