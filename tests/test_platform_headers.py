"""Issue 11 item 10: a strict Content-Security-Policy, no inline script or style in templates, an idle
timeout for staff sessions, a 401 with WWW-Authenticate for a bad token, names without bidi-override or
zero-width characters."""

from __future__ import annotations

import ast
import re
import time
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from rest_framework.authtoken.models import Token

from config.middleware import LAST_SEEN
from members import roles, services
from members.models import AuditEvent
from tests import factories

ROOT = Path(__file__).resolve().parents[1]
INLINE = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.IGNORECASE)


def _template_files():
    for folder in [ROOT / "templates", *ROOT.glob("*/templates"), *ROOT.glob("*/*/templates")]:
        yield from folder.rglob("*.html")


# Templates never served to a browser: each is laid out into a PDF by xhtml2pdf, which takes its page
# layout only from an inline <style> (it cannot fetch a stylesheet through the CSP). The rule: a template
# is exempt only if it is named here with the one function that renders it, that function hands the
# result to ``pisa.CreatePDF``, and no other source file or template names it (so no view can serve it
# as HTML). Anything else, including a new PDF template, must be clean or be added here.
PDF_ONLY_TEMPLATES = {
    "disclosures/audit_table_pdf.html": ("disclosures/rendering.py", "render_table_pdf"),
    "notices/letters.html": ("members/notices/letters.py", "letters_pdf"),
    "portal/bill_pdf.html": ("portal/bill_pdf.py", "bill_pdf"),
}


def _project_sources():
    for path in ROOT.rglob("*"):
        parts = path.relative_to(ROOT).parts
        if parts[0].startswith(".") or parts[0] in ("tests", "var", "node_modules") or "__pycache__" in parts:
            continue
        if path.suffix in (".py", ".html", ".txt", ".xml") and path.is_file():
            yield path


def _function_source(module: Path, name: str) -> str:
    tree = ast.parse(module.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(module.read_text(), node) or ""
    return ""


def test_pdf_only_templates_are_rendered_only_into_pdfs():
    sources = list(_project_sources())
    for template, (module, function) in PDF_ONLY_TEMPLATES.items():
        body = _function_source(ROOT / module, function)
        assert f'"{template}"' in body, (template, module, function)
        assert "pisa.CreatePDF(" in body, (template, module, function)
        named_in = sorted(
            str(path.relative_to(ROOT)) for path in sources if template in path.read_text(errors="replace")
        )
        assert named_in == [module], (template, named_in)


def test_no_template_holds_inline_script_style_or_event_handlers():
    files = list(_template_files())
    assert len(files) > 15
    exempt = {name for name in PDF_ONLY_TEMPLATES}
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        if not any(path.as_posix().endswith("/templates/" + name) for name in exempt)
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if INLINE.search(line)
    ]
    assert offenders == []


def _policy(response) -> str:
    return response.get("Content-Security-Policy", "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("who", "url"),
    [
        (None, "/auth/login/"),
        (None, "/admin/login/"),
        (roles.CSR, "/admin/"),
        (roles.CSR, "/admin/members/member/"),
        (roles.AUDITOR, "/audit/"),
        (roles.CSR, "/api/members/"),
        ("member", "/portal/"),
        (None, "/healthz"),
    ],
)
def test_every_page_carries_a_strict_content_security_policy(client, make_user, who, url):
    if who == "member":
        client.force_login(factories.MemberFactory(user=make_user("csp-member", is_staff=False)).user)
    elif who:
        client.force_login(make_user("csp-staff", role=who))
    policy = _policy(client.get(url))
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.django_db
def test_a_staff_session_ends_after_the_idle_timeout_with_an_audit_row(client, make_user, settings):
    settings.STAFF_IDLE_TIMEOUT_SECONDS = 1800
    csr = make_user("idle-csr", role=roles.CSR)
    client.force_login(csr)
    assert client.get("/admin/").status_code == 200
    session = client.session
    session[LAST_SEEN] = int(time.time()) - 1801
    session.save()
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    event = AuditEvent.objects.get(action="auth.idle_logout", actor=csr)
    assert event.detail["idle_seconds"] >= 1801
    assert client.get("/admin/").status_code == 302  # signed out for good


@pytest.mark.django_db
def test_an_active_staff_session_and_a_member_session_are_not_cut(client, make_user, settings):
    settings.STAFF_IDLE_TIMEOUT_SECONDS = 1800
    client.force_login(make_user("busy-csr", role=roles.CSR))
    session = client.session
    session[LAST_SEEN] = int(time.time()) - 1700
    session.save()
    assert client.get("/admin/").status_code == 200
    member = factories.MemberFactory(user=make_user("idle-member", is_staff=False))
    client.force_login(member.user)
    session = client.session
    session[LAST_SEEN] = int(time.time()) - 99999
    session.save()
    assert client.get("/portal/").status_code == 200
    assert not AuditEvent.objects.filter(action="auth.idle_logout").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Token not-a-real-token", "Token ", "Bearer abc"])
def test_a_bad_api_token_is_a_401_with_www_authenticate(client, header):
    response = client.get("/api/members/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401  # a Bearer header is no credential the API knows: asked for a token
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.django_db
def test_a_good_token_still_works(client, make_user):
    token = Token.objects.create(user=make_user("token-csr", role=roles.CSR))
    assert client.get("/api/members/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 200


BAD_NAMES = ["Alice\u202egnp.exe", "Bob\u200bby", "Carol\u2066 Ltd\u2069", "Dan\ufeff", "Eve\u200f"]


@pytest.mark.django_db
@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_member_name_with_bidi_or_zero_width_characters_is_refused_with_a_clear_message(name, make_user):
    with pytest.raises(ValidationError) as refused:
        services.member_create(actor=None, validate_only=True, kind="person", legal_name=name)
    assert "invisible or text-direction character" in refused.value.message_dict["legal_name"][0]
    member = factories.MemberFactory(legal_name="Plain Name")
    with pytest.raises(ValidationError):
        services.member_change_name(actor=make_user("bidi-csr", role=roles.CSR), member=member, legal_name=name)
    member.refresh_from_db()
    assert member.legal_name == "Plain Name"


@pytest.mark.django_db
def test_the_api_refuses_a_bidi_name_naming_the_field(client, make_user):
    member = factories.MemberFactory(legal_name="Plain Name")
    client.force_login(make_user("bidi-api", role=roles.CSR))
    response = client.patch(
        f"/api/members/{member.pk}/", {"legal_name": "Mallory\u202eevil"}, content_type="application/json"
    )
    assert response.status_code == 400 and "U+202E" in response.json()["legal_name"][0]
    member.refresh_from_db()
    assert member.legal_name == "Plain Name"


@pytest.mark.django_db
def test_an_authorized_party_name_with_a_zero_width_character_is_refused(make_user):
    from accounts import services as account_services

    account = factories.OpenAccountFactory()
    with pytest.raises(ValidationError) as refused:
        account_services.authorized_party_add(
            actor=make_user("party-csr", role=roles.CSR), account=account, name="Zed\u200bZed"
        )
    assert "U+200B" in refused.value.message_dict["name"][0]
