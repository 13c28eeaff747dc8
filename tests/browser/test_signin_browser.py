"""Sign-in in a real browser (issue 13): staff sign in through the forms with a password and a TOTP code,
add a security key (WebAuthn, through Chromium's virtual authenticator: the browser's real WebAuthn code
path with a software key in place of a USB one), and then sign in with the key instead of a code."""

from __future__ import annotations

import time

from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value

from members import roles
from tests.conftest import PASSWORD


def _totp(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // 30))


def _virtual_key(page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def _password(page, username: str) -> None:
    page.goto("/auth/login/")
    page.fill("input[name=login]", username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url("**/auth/2fa/authenticate/**")


def test_staff_sign_in_with_totp_add_a_security_key_then_sign_in_with_the_key(page_for, make_user, shot):
    user = make_user("keyholder", role=roles.CSR)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)

    page = page_for()
    _virtual_key(page)
    _password(page, "keyholder")
    assert page.locator("input[name=code]").count() == 1  # the password alone signs nobody in
    page.fill("input[name=code]", _totp(secret))
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state()
    assert "/auth/" not in page.url

    page.goto("/auth/2fa/webauthn/add/")
    assert "/auth/reauthenticate/" in page.url  # changing MFA settings is a step-up action
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url("**/auth/2fa/webauthn/add/")
    page.fill("input[name=name]", "Desk key")
    page.click("#mfa_webauthn_add")
    page.wait_for_url(lambda url: "/webauthn/add/" not in url)
    assert "Security key added." in page.inner_text("body")
    keys = Authenticator.objects.filter(user=user, type=Authenticator.Type.WEBAUTHN)
    assert keys.count() == 1 and keys.get().wrap().name == "Desk key"

    # A new session in the same browser (the key stays in the virtual authenticator): password, then key.
    page.context.clear_cookies()
    _password(page, "keyholder")
    shot(page, "signin-second-factor")
    page.get_by_role("button", name="Use a security key").click()
    page.wait_for_url(lambda url: "/auth/" not in url, timeout=15_000)
    response = page.goto("/admin/")
    assert response.status == 200 and "/auth/" not in page.url


def test_a_wrong_totp_code_does_not_sign_in(page_for, make_user):
    user = make_user("wrongcode", role=roles.CSR)
    TOTP.activate(user, generate_totp_secret())
    page = page_for()
    _password(page, "wrongcode")
    page.fill("input[name=code]", "000000")
    page.locator("form button[type=submit]").first.click()
    page.wait_for_load_state()
    assert "/auth/2fa/authenticate/" in page.url
    assert page.goto("/admin/").url.find("/auth/") != -1
