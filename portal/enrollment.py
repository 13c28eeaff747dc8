"""Self-enrollment: a member creates their own portal login by proving the account number plus two of
three things the co-op holds (the service ZIP code, the last four digits of the SSN/TIN, the amount of
the last bill). Nothing here logs or stores the values typed, only which proofs matched.

Every failure gives the same answer ("we could not match those details"), whether the account exists
or not. Attempts are rate-limited per client address and per account number (allauth's rate limiter,
``ACCOUNT_RATE_LIMITS["portal_enroll"]``, with the client address from the trusted proxy). The login
stays inactive until the e-mail given is verified (allauth's confirmation mail); the member is told at
the e-mail and by letter at the mailing address *on file*, and the new online access is a Red Flags
event (``member.online_access_enrolled``, announced by ``members.services.member_enroll_online``).
"""

from __future__ import annotations

import hmac
from decimal import Decimal, InvalidOperation

from allauth.account.models import EmailAddress
from allauth.core import context, ratelimit
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Bill
from members import services as member_services
from members.audit import audit_record, client_ip
from members.models import User
from portal.models import Enrollment

NO_MATCH = "We could not match those details to an account. Check them against your bill, or call us."
TOO_MANY = "Too many attempts. Try again in an hour, or call us and we will set up your online access."
REQUIRED_PROOFS = 2


def _same(given: str, held: str) -> bool:
    return bool(given) and bool(held) and hmac.compare_digest(given.encode(), held.encode())


def _amount(value: str) -> Decimal | None:
    try:
        return Decimal(value.replace("$", "").replace(",", "").strip()).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        return None


def proofs_matched(*, account: Account, service_zip: str, ssn_last4: str, last_bill_amount: str) -> list[str]:
    """Names of the proofs that match what the co-op holds for ``account``."""
    matched = []
    premise = account.premise
    if premise is not None and _same(service_zip.strip()[:5], premise.service_postal_code[:5]):
        matched.append("service_zip")
    if _same(ssn_last4.strip(), account.member.ssn_last4):
        matched.append("ssn_last4")
    last_bill = Bill.objects.filter(account=account).exclude(status=Bill.Status.VOID).order_by("-issued_on").first()
    amount = _amount(last_bill_amount) if last_bill_amount else None
    if last_bill is not None and amount is not None and amount == last_bill.amount_due:
        matched.append("last_bill_amount")
    return matched


def _check_login(username: str, email: str, password: str) -> None:
    errors: dict[str, list[str]] = {}
    try:
        validate_email(email)
    except ValidationError:
        errors["email"] = ["Enter a valid e-mail address."]
    if not username.strip():
        errors["username"] = ["Choose a sign-in name."]
    elif User.objects.filter(username__iexact=username.strip()).exists():
        errors["username"] = ["That sign-in name is taken; choose another."]
    try:
        validate_password(password, User(username=username, email=email))
    except ValidationError as error:
        errors["password"] = error.messages
    if errors:
        raise ValidationError(errors)


def online_access_enroll(
    *,
    request,
    account_number: str,
    service_zip: str = "",
    ssn_last4: str = "",
    last_bill_amount: str = "",
    username: str,
    email: str,
    password: str,
) -> Enrollment:
    """Create an inactive login for the member who proved the account; send the verification e-mail."""
    account_number = account_number.strip()
    if not ratelimit.consume(request, action="portal_enroll", key=account_number.lower()):
        raise ValidationError({"account_number": [TOO_MANY]})
    _check_login(username, email, password)
    account = (
        Account.objects.select_related("member", "premise")
        .filter(account_number=account_number, status=Account.Status.OPEN)
        .first()
    )
    matched = (
        proofs_matched(account=account, service_zip=service_zip, ssn_last4=ssn_last4, last_bill_amount=last_bill_amount)
        if account is not None
        else []
    )
    if account is None or len(matched) < REQUIRED_PROOFS or account.member.user_id is not None:
        _audit_refused(request, account, matched)
        raise ValidationError({"account_number": [NO_MATCH]})
    with transaction.atomic():
        user = User.objects.create_user(username=username.strip(), email=email.strip(), password=password)
        user.is_active = False
        user.save(update_fields=["is_active"])
        address = EmailAddress.objects.create(user=user, email=email.strip(), primary=True, verified=False)
        enrollment = Enrollment.objects.create(
            member=account.member, user=user, account=account, proofs=matched, ip_address=client_ip(request)
        )
        member_services.member_enroll_online(
            member=account.member,
            user=user,
            account_id=account.pk,
            account_number=account.account_number,
            ip_address=client_ip(request),
        )
        transaction.on_commit(lambda: _send_verification(request, address))
    return enrollment


def _send_verification(request, address: EmailAddress) -> None:
    # allauth's mailer reads the request from its own context, which may be gone after commit.
    with context.request_context(request):
        address.send_confirmation(request, signup=True)


def _audit_refused(request, account: Account | None, matched: list[str]) -> None:
    with transaction.atomic():
        audit_record(
            actor=None,
            actor_label="portal:self-enrollment",
            action="member.online_access_refused",
            object_type="accounts.account" if account else "",
            object_id=account.pk if account else "",
            detail={"proofs_matched": matched, "already_enrolled": bool(account and account.member.user_id)},
            ip_address=client_ip(request),
        )


@transaction.atomic
def enrollment_verify(*, user: User) -> Enrollment | None:
    """The enrolled e-mail was verified (allauth's ``email_confirmed``): the login becomes usable."""
    enrollment = Enrollment.objects.select_for_update(no_key=True).filter(user=user, verified_at__isnull=True).first()
    if enrollment is None:
        return None
    enrollment.verified_at = timezone.now()
    enrollment.save(update_fields=["verified_at"])
    user.is_active = True
    user.save(update_fields=["is_active"])
    audit_record(
        actor=None,
        actor_label="portal:self-enrollment",
        action="member.online_access_verified",
        obj=enrollment,
        detail={"member_id": enrollment.member_id},
    )
    return enrollment
