"""Issue 11 item 1: no role ever sees an identifier without a reasoned reveal.

Plants distinctive identifiers (SSN, TIN, date of birth, driver's licence, passport, alien registration,
bank account, gate code, a fraud-list value), then renders every page the admin site registers
(changelist, change/view page, history, delete confirmation), every GET route of the URL conf (the API
included, with real ids filled in) and the CSV exports, as anonymous, the member, and every staff role,
and searches each response for the planted values in any formatting (with and without dashes or
spaces, dates in every format Django or a person would write them).
"""

from __future__ import annotations

import datetime
import html
import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from members import roles
from members.crypto import blind_index
from members.models import AuditEvent
from members.registry_roles import FIELD_SERVICES
from redflags.models import KnownFraudEntry
from tests import factories

pytestmark = pytest.mark.django_db

SSN = "123418765"
TIN = "987654329"
DOB = datetime.date(1961, 7, 23)
LICENCE = "Q73518246"
PASSPORT = "X31415926"
ALIEN = "A271828182"
BANK_ACCOUNT = "731904826155"
GATE_CODE = "8841GATE"
FRAUD_VALUE = "123774321"

ROLES = ["anonymous", "member", FIELD_SERVICES, *roles.ALL_ROLES]
# Declared in members/identifiers.py: gate codes are the Field Services group's to see (meter readers).
ALLOWED = {FIELD_SERVICES: {"gate code"}}


def _forms() -> dict[str, list[str]]:
    """Every way a planted value could be written in a page."""
    dob = [
        DOB.isoformat(),
        DOB.strftime("%m/%d/%Y"),
        DOB.strftime("%d/%m/%Y"),
        DOB.strftime("%B %-d, %Y"),
        DOB.strftime("%b. %-d, %Y"),
        DOB.strftime("%b %-d, %Y"),
        DOB.strftime("%-d %B %Y"),
        DOB.strftime("%Y%m%d"),
    ]
    return {
        "SSN": [SSN, f"{SSN[:3]}-{SSN[3:5]}-{SSN[5:]}", f"{SSN[:3]} {SSN[3:5]} {SSN[5:]}"],
        "TIN": [TIN, f"{TIN[:2]}-{TIN[2:]}"],
        "date of birth": dob,
        "licence": [LICENCE],
        "passport": [PASSPORT],
        "alien registration": [ALIEN],
        "bank account": [BANK_ACCOUNT],
        "gate code": [GATE_CODE],
        "fraud-list value": [FRAUD_VALUE, f"{FRAUD_VALUE[:3]}-{FRAUD_VALUE[3:5]}-{FRAUD_VALUE[5:]}"],
    }


FORMS = _forms()


def leaks(body: str, allowed: set[str] = frozenset()) -> list[str]:
    text = html.unescape(body).lower()
    squeezed = re.sub(r"[\s\-]", "", text)
    found = []
    for what, forms in FORMS.items():
        if what in allowed:
            continue
        for form in forms:
            if form.lower() in text or (form.isalnum() and len(form) >= 8 and form.lower() in squeezed):
                found.append(f"{what} ({form})")
                break
    return found


@pytest.fixture
def planted(make_user):
    member_user = make_user("planted-member", is_staff=False)
    member = factories.MemberFactory(
        user=member_user,
        ssn=SSN,
        tax_id_index=blind_index("ssn", SSN),
        ssn_last4=SSN[-4:],
        date_of_birth=DOB,
        drivers_licence_number=LICENCE,
        drivers_licence_state="IL",
        licence_index=blind_index("licence", (LICENCE, "IL")),
        passport_number=PASSPORT,
        passport_index=blind_index("passport", PASSPORT),
        alien_registration_number=ALIEN,
        alien_registration_index=blind_index("alien_registration", ALIEN),
    )
    business = factories.BusinessMemberFactory(tin=TIN, tax_id_index=blind_index("ssn", TIN), ssn_last4=TIN[-4:])
    financial = factories.FinancialAccountFactory(member=member, account_number=BANK_ACCOUNT, last4=BANK_ACCOUNT[-4:])
    premise = factories.PremiseFactory(gate_code=GATE_CODE)
    account = factories.OpenAccountFactory(member=member, premise=premise)
    factories.MeterFactory(premise=premise)
    factories.BillFactory(account=account)
    factories.PaymentFactory(account=account)
    factories.AuthorizedPartyFactory(account=account)
    factories.CapitalCreditAllocationFactory(member=member)
    factories.ReturnedMailFactory(member=member)
    factories.StatementNoticeFactory(member=member)
    KnownFraudEntry.objects.create(
        kind=KnownFraudEntry.Kind.TAX_ID,
        index_value=blind_index("ssn", FRAUD_VALUE)[:16],
        value=FRAUD_VALUE,
        source="t",
    )
    return {"member": member, "business": business, "financial": financial, "premise": premise, "account": account}


def _login(client, role: str, planted):
    if role == "anonymous":
        return None
    if role == "member":
        user = planted["member"].user
    else:
        from members.models import User

        user = User.objects.create_user(username=f"probe-{role[:20]}", password="x", is_staff=role != FIELD_SERVICES)
        user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


def _admin_urls(planted) -> list[str]:
    """Changelist and add page of every registered model, and the change, history and delete pages of
    its newest row (of both planted members for the member admin)."""
    urls = []
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        urls.append(reverse("admin:{}_{}_changelist".format(*info)))
        urls.append(reverse("admin:{}_{}_add".format(*info)))
        rows = model._default_manager.order_by("-pk")[:1]
        if model is type(planted["member"]):
            rows = [planted["member"], planted["business"]]
        for obj in rows:
            for page in ("change", "history", "delete"):
                urls.append(reverse("admin:{}_{}_{}".format(*info, page), args=[obj.pk]))
    urls.append(reverse("admin:index"))
    return urls


def _kwargs_for(planted) -> dict[str, str]:
    member, account = planted["member"], planted["account"]
    return {
        "member_id": str(member.pk),
        "account_id": str(account.pk),
        "premise_id": str(planted["premise"].pk),
        "account_number": account.account_number,
        "app_label": "members",
        "action": "close",
    }


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern


def _route_urls(planted) -> list[str]:
    """Every non-admin route and the admin's own pages beside the model ones (the unverified-members
    list, the index of each app...), their parameters filled from the planted records."""
    values = _kwargs_for(planted)
    model_pages = {
        f"{model._meta.app_label}_{model._meta.model_name}_{page}"
        for model in admin.site._registry
        for page in ("changelist", "add", "change", "history", "delete")
    }
    urls = []
    for route, pattern in _walk(get_resolver().url_patterns):
        if "logout" in route or (route.startswith("admin/") and pattern.name in model_pages):
            continue  # the per-model admin pages: _admin_urls renders them with real rows
        names = re.findall(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>", route)
        names = [a or b for a, b in names]
        if any(name not in values for name in names):
            continue
        url = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values[m.group(1)], route)
        url = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values[m.group(1)], url)
        urls.append("/" + url.replace("^", "").rstrip("$").replace("\\", ""))
    return urls


@pytest.mark.parametrize("role", ROLES)
def test_no_role_sees_a_planted_identifier_on_any_page_or_endpoint(client, planted, role):
    _login(client, role, planted)
    found = {}
    for url in [*_admin_urls(planted), *_route_urls(planted)]:
        response = client.get(url)
        # /healthz is 503 without a worker heartbeat; every other page answers below 500.
        assert response.status_code < 500 or url == "/healthz", f"{url} gave {response.status_code} for {role}"
        body = b"".join(response.streaming_content) if response.streaming else response.content
        shown = leaks(body.decode(errors="replace"), ALLOWED.get(role, set()))
        if shown:
            found[url] = shown
    assert found == {}, f"{role} saw identifiers: {found}"


@pytest.mark.parametrize("role", roles.ALL_ROLES)
def test_every_member_action_output_is_free_of_identifiers(client, planted, role):
    _login(client, role, planted)
    url = reverse("admin:members_member_changelist")
    page = client.get(url)
    if page.status_code != 200:
        return
    action_form = page.context["action_form"]  # None for a role with no action (no CSV download for anyone)
    actions = [value for value, _label in action_form.fields["action"].choices if value] if action_form else []
    for action in actions:
        response = client.post(url, {"action": action, "_selected_action": [planted["member"].pk]})
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert leaks(body.decode(errors="replace")) == [], (role, action)


def test_a_view_only_role_sees_masks_and_a_reveal_link_and_the_view_is_logged(client, planted):
    user = _login(client, roles.PRIVACY_OFFICER, planted)
    member = planted["member"]
    response = client.get(reverse("admin:members_member_change", args=[member.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    assert f"***-**-{SSN[-4:]}" in body
    assert reverse("admin:members_member_reveal", args=[member.pk]) in body
    assert leaks(body) == []
    assert AuditEvent.objects.filter(actor=user, action="access.view_member", object_id=str(member.pk)).exists()


def test_after_a_reasoned_reveal_the_value_is_shown_and_the_reveal_is_on_the_access_log(client, planted):
    user = _login(client, roles.PRIVACY_OFFICER, planted)
    member = planted["member"]
    response = client.post(
        reverse("admin:members_member_reveal", args=[member.pk]),
        {"field_name": "ssn", "reason": "Member asked for an access request copy"},
    )
    assert response.status_code == 302
    body = client.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()
    assert f"{SSN[:3]}-{SSN[3:5]}-{SSN[5:]}" in body or SSN in body
    assert AuditEvent.objects.filter(actor=user, action__startswith="access.reveal", object_id=str(member.pk)).exists()
