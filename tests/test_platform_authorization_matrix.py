"""Issue 11 item 11: an authorization matrix generated from the URL conf.

Every route of ``config.urls`` is requested (GET, with real ids filled in) as anonymous, as a member
and as each staff role. Non-admin routes and the admin's custom routes have their expected outcome in
``EXPECTED`` below; a route missing from it fails the test, so a new route cannot ship without someone
writing down who may reach it. The admin's per-model routes are checked against the roles' declared
permissions (members/roles.py and each app's grants): a role without any permission on a model is
refused its list and its pages, anonymous callers and members are sent to the admin's sign-in page.

Outcomes: ``ok`` means reached (any status below 500 that is not a refusal: 200, a redirect elsewhere,
400/404/405 for a GET on a POST-only route); ``no`` means refused (401, 403, or a redirect to sign-in).
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, get_resolver

from members import roles
from members.models import User
from tests import factories

pytestmark = pytest.mark.django_db

CSR, BIL, RFA, PA, PO, AUD = roles.ALL_ROLES
ANON, MEMBER = "anonymous", "member"
ROLES = (ANON, MEMBER, *roles.ALL_ROLES)
STAFF = set(roles.ALL_ROLES)
EVERYONE = set(ROLES)
SIGNED_IN = EVERYONE - {ANON}


def only(*who) -> set[str]:
    return set(who)


# Route pattern (as the resolver spells it) -> who reaches it. Everyone else is refused.
EXPECTED: dict[str, set[str]] = {
    "": set(),  # home: a redirect for everyone (to sign-in, the portal or the admin)
    "healthz": EVERYONE,
    # Sign-in, password reset, e-mail and two-step pages (django-allauth, members/signin).
    "auth/login/": only(ANON),
    "auth/signup/": only(ANON),  # closed (members/signin/adapter.py): a "sign-up closed" page, no form
    "auth/inactive/": EVERYONE,
    "auth/reauthenticate/": SIGNED_IN,
    "auth/email/": SIGNED_IN,
    "auth/confirm-email/": EVERYONE,
    "auth/^confirm-email/(?P<key>[-:\\w]+)/$": EVERYONE,
    "auth/password/change/": SIGNED_IN,
    "auth/password/set/": set(),  # everyone here has a password: sent on to auth/password/change/
    "auth/password/reset/": EVERYONE,
    "auth/password/reset/done/": EVERYONE,
    "auth/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": EVERYONE,
    "auth/password/reset/key/done/": EVERYONE,
    "auth/login/code/confirm/": set(),  # no sign-in under way: back to auth/login/
    "auth/2fa/": SIGNED_IN,
    "auth/2fa/authenticate/": set(),  # only mid-sign-in; otherwise a redirect
    "auth/2fa/reauthenticate/": set(),
    # Adding a second factor needs a fresh sign-in (allauth's reauthentication_required): a redirect to
    # auth/reauthenticate/ here, as the test's session was not signed in through the form.
    "auth/2fa/totp/activate/": set(),
    "auth/2fa/totp/deactivate/": set(),  # this and the recovery codes need an enrolled factor (none here)
    "auth/2fa/recovery-codes/": set(),
    "auth/2fa/recovery-codes/generate/": set(),
    "auth/2fa/recovery-codes/download/": set(),
    "auth/2fa/webauthn/": SIGNED_IN,
    "auth/2fa/webauthn/add/": set(),  # reauthentication first, as for TOTP
    "auth/2fa/webauthn/reauthenticate/": set(),
    "auth/2fa/webauthn/keys/<int:pk>/remove/": set(),
    "auth/2fa/webauthn/keys/<int:pk>/edit/": set(),
    "api/schema/": STAFF,
    # The registry API: staff with members.view_member (not the member's own login).
    "api/members/": only(CSR, BIL, RFA, PA, PO, AUD),
    "api/members/search/": only(CSR, BIL, RFA, PA, PO, AUD),
    "api/members/<int:member_id>/": only(CSR, BIL, RFA, PA, PO, AUD),
    "api/members/<int:member_id>/reveal/": only(CSR, BIL, RFA, PA, PO, AUD),
    # The member's portal.
    "portal/": only(MEMBER),
    "portal/accounts/<str:account_number>/": only(MEMBER),
    "portal/accounts/<str:account_number>/usage/": only(MEMBER),
    "portal/accounts/<str:account_number>/bills/<str:statement_number>.pdf": only(MEMBER),
    "portal/security/": only(MEMBER),
    "portal/contact/": only(MEMBER),
    "portal/privacy/": only(MEMBER),
    "portal/privacy/consents/<int:consent_id>/revoke/": SIGNED_IN,  # a GET: 405 (the POST is member-scoped)
    "portal/corrections/new/": only(MEMBER),
    "portal/alerts/": only(MEMBER),
    "portal/my-information/": only(MEMBER),  # the page; the download is a POST after step-up
    "portal/requests/": only(MEMBER),
    "portal/requests/new/": only(MEMBER),
    "portal/requests/<int:pk>/": set(),  # member-scoped: request 999999 is nobody's (404 for all)
    "portal/membership-list/": only(MEMBER),
    "portal/membership-list/<int:pk>/download/": SIGNED_IN,  # a GET: 405 (the POST is member-scoped)
    "portal/enroll/": only(ANON),  # signed-in callers are sent to the portal home
    # Accounts API.
    "api/accounts/": only(CSR, BIL, RFA, PA, PO, AUD),
    "api/accounts/<int:account_id>/": only(CSR, BIL, RFA, PA, PO, AUD),
    "api/accounts/<int:account_id>/parties/": only(CSR),  # POST-only (add a party): a 405 for CSRs
    "^api/accounts/(?P<account_id>[0-9]+)/(?P<action>close|suspend|reinstate)/$": only(CSR, BIL),
    "api/premises/": only(CSR, BIL, RFA, PO, AUD),
    "api/premises/<int:premise_id>/": only(CSR, BIL, RFA, PO, AUD),
    "api/bills/": only(CSR, BIL, RFA, PO, AUD),
    "api/payments/": only(CSR, BIL, RFA, PO, AUD),
    # Usage.
    "api/usage/ingest/": only(BIL),  # POST-only: a 405 for Billing
    "api/usage/batches/<int:batch_id>/": set(),  # no such batch: a 404 for everyone
    "api/usage/accounts/<int:account_id>/": only(MEMBER, CSR, BIL),
    # The Green Button UsagePoint -> meter mapping: usage.manage_usage_point_mappings (Billing).
    "api/usage/point-mappings/": only(BIL),
    "api/usage/point-mappings/<int:mapping_id>/": set(),  # no such mapping: a 404 for Billing, 403 for others
    # Without ?first_day/&last_day the downloads answer 400 before looking at the caller (no data in it).
    "api/usage/accounts/<int:account_id>/intervals.csv": SIGNED_IN,
    "api/usage/accounts/<int:account_id>/greenbutton.xml": SIGNED_IN,
    # The CSR's lookup for a call (members/find.py): every role that reads the registry.
    "staff/find/": STAFF,
    # Red Flags pages and API.
    "redflags/caller-verification/": only(CSR),
    "redflags/annual-review/": only(PA),
    "redflags/annual-review.csv": only(PA),
    "redflags/annual-review.pdf": only(PA),
    "api/redflags/cra-alerts/": only(CSR, RFA),  # POST-only: a 405 for those who may record one
    "api/redflags/identity-theft-notices/": only(CSR, RFA),
    # Auditors' pages and API.
    "audit/": only(PO, AUD),
    "audit/disclosures/": only(PO, AUD),
    "audit/refused/": only(PO, AUD),
    "audit/consents/": only(PO, AUD),
    "audit/access-log/": only(PO, AUD),
    "audit/chain/": only(PO, AUD),
    "disclosures/release/": only(PO),
    "api/audit/disclosures/": only(PO, AUD),
    "api/audit/refused/": only(PO, AUD),
    "api/audit/consents/": only(PO, AUD),
    "api/audit/access-log/": only(PO, AUD),
    "api/audit/chain/": only(PO, AUD),
    "api/me/consents/": only(MEMBER),
    "api/me/consents/<int:consent_id>/revoke/": SIGNED_IN,  # a GET: 405 (the POST is member-scoped)
    "api/me/disclosures/": only(MEMBER),
    "api/me/recipients/": only(MEMBER),
    # The admin's own routes beside the per-model ones.
    "admin/": STAFF,
    "admin/login/": set(),  # the admin's own form is gone: a redirect to auth/login/ for everyone
    "admin/password_change/": STAFF,
    "admin/password_change/done/": STAFF,
    "admin/autocomplete/": set(),  # refused without a model and a field to complete
    "admin/jsi18n/": STAFF,
    "admin/members/member/<int:member_id>/reveal/": only(CSR, BIL, RFA, PA, PO, AUD),
    "admin/members/member/search/": set(),  # POST-only: a GET goes back to the list (a redirect)
    "admin/members/user/<id>/password/": set(),
    "admin/r/<path:content_type_id>/<path:object_id>/": set(),  # "view on site": no model has one (404)
    "admin/redflags/reviewitem/<int:pk>/respond/": set(),  # no such item: 404 (tests/redflags cover the page)
    # Filing a member's statement of disagreement for them needs portal.file_statement_for_member (no such
    # request here: 404 for CSR and PO, 403 for others; tests/portal/test_portal_staff_statement.py covers it).
    "admin/portal/correctionrequest/<int:pk>/statement/": set(),
    # Red Flags cases: working a case or opening an attachment needs redflags_cases.work_case (no such
    # case/attachment here: 404 for RFA and PA, 403 for others); the unverified list needs its own perm (PA).
    "admin/redflags_cases/case/<int:pk>/work/": set(),
    "admin/redflags_cases/case/attachment/<int:pk>/": set(),
    "admin/redflags_cases/case/unverified-members/": only(PA),
    # Notices: printing is POST-only (a GET is refused for everyone); the batch PDF needs
    # notices.view_letterbatch (no such batch: 404 for CSR, RFA, PO, AUD; 403 for others).
    "admin/notices/letterbatch/print/": set(),
    "admin/notices/letterbatch/<int:pk>/pdf/": set(),
    # Retention: a destruction certificate's download needs view_destructioncertificate (no such one: 404).
    "admin/retention/destructioncertificate/<int:pk>/download.<str:fmt>": set(),
    "admin/(?P<url>.*)$": set(),  # the admin's catch-all: a 404 for staff, sign-in for everyone else
    "admin/^(?P<app_label>auth|authtoken|django_celery_beat|account|mfa|members|notices|portal|accounts|usage|redflags"
    "|redflags_cases|disclosures|retention|oauth2_provider|connect)/$": STAFF,
    # Green Button Connect My Data (connect/, docs/connect-my-data.md). The consent screen is the OAuth
    # authorization endpoint: a member's page (without a client's parameters it explains the error).
    "oauth/authorize/": only(MEMBER),
    "portal/connected-apps/": only(MEMBER),
    "portal/connected-apps/<int:authorization_id>/end/": SIGNED_IN,  # a GET: 405 (the POST is member-scoped)
    # The token and revocation endpoints are for third parties' servers (client authentication, POST).
    "oauth/token/": EVERYONE,
    "oauth/revoke_token/": EVERYONE,
    "connect/apply/": EVERYONE,  # a third party applies; the Privacy Officer approves
    # ESPI resources answer an OAuth bearer token only: a session (member or staff) is refused.
    **{
        "espi/1_1/resource/" + route: set()
        for route in (
            "ApplicationInformation/<int:application_id>",
            "Authorization",
            "Authorization/<int:authorization_id>",
            "Batch/Subscription/<int:subscription_id>",
            "Subscription/<int:subscription_id>/UsagePoint",
            "Subscription/<int:subscription_id>/UsagePoint/<str:usage_point_id>",
            "Subscription/<int:subscription_id>/UsagePoint/<str:usage_point_id>/MeterReading",
            "Subscription/<int:subscription_id>/UsagePoint/<str:usage_point_id>/MeterReading/<int:meter_reading_id>",
            "Subscription/<int:subscription_id>/UsagePoint/<str:usage_point_id>/MeterReading/<int:meter_reading_id>"
            "/IntervalBlock",
            "Subscription/<int:subscription_id>/UsagePoint/<str:usage_point_id>/MeterReading/<int:meter_reading_id>"
            "/IntervalBlock/<str:block_id>",
            "ReadingType/<str:reading_type_id>",
            "LocalTimeParameters",
            "LocalTimeParameters/<int:parameters_id>",
            "Batch/RetailCustomer/<int:subscription_id>",
            "RetailCustomer/<int:subscription_id>/Customer/1",
            "RetailCustomer/<int:subscription_id>/Customer/1/CustomerAccount/<str:account_id>",
            "RetailCustomer/<int:subscription_id>/Customer/1/CustomerAccount/<str:account_id>"
            "/CustomerAgreement/<str:agreement_id>",
            "RetailCustomer/<int:subscription_id>/Customer/1/CustomerAccount/<str:account_id>"
            "/CustomerAgreement/<str:agreement_id>/ServiceLocation/<str:location_id>",
        )
    },
}
SKIPPED = {"auth/logout/", "admin/logout/"}  # signing out is open to everyone and ends the test's session


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def _model_routes() -> dict[str, type]:
    """The admin's per-model route patterns and the model each belongs to."""
    routes = {}
    for model in admin.site._registry:
        base = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
        for tail in (
            "",
            "add/",
            "<path:object_id>/history/",
            "<path:object_id>/delete/",
            "<path:object_id>/change/",
            "<path:object_id>/",
        ):
            routes[base + tail] = model
    return routes


@pytest.fixture
def world(make_user):
    member = factories.MemberFactory(user=make_user("matrix-member", is_staff=False))
    account = factories.OpenAccountFactory(member=member)
    bill = factories.BillFactory(account=account)
    from disclosures.models import Consent

    consent = Consent.objects.order_by("pk").first()
    values = {
        "member_id": member.pk,
        "account_id": account.pk,
        "premise_id": account.premise_id,
        "account_number": account.account_number,
        "statement_number": bill.statement_number,
        "consent_id": consent.pk if consent else 999999,
        "batch_id": 999999,
        "uidb64": "MQ",
        "token": "set-password",
        "id": member.user.pk,
        "app_label": "members",
        "action": "close",
        "content_type_id": 1,
        "object_id": member.pk,
        "pk": 999999,
        "url": "no-such-page/",
        "mapping_id": 999999,
        "fmt": "pdf",
        "key": "no-such-key",
        "uidb36": "1",
        **dict.fromkeys(
            ("authorization_id", "application_id", "subscription_id", "meter_reading_id", "parameters_id"), 999999
        ),
        "usage_point_id": "1",
        "block_id": "20261101",
        "reading_type_id": "1",
        "agreement_id": "1",
        "location_id": "1",
    }
    return member, values


def _url(route: str, values: dict, obj_id) -> str:
    url = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), route)
    url = re.sub(
        r"<(?:\w+:)?(\w+)>", lambda m: str(obj_id if m.group(1) == "object_id" and obj_id else values[m.group(1)]), url
    )
    return "/" + url.replace("^", "").replace("$", "")


def _outcome(response) -> str:
    """``ok`` reached; ``no`` refused or sent elsewhere (sign-in, the portal, the admin)."""
    status = response.status_code
    if status == 503 and response.request["PATH_INFO"] == "/healthz":
        return "ok"  # no worker heartbeat in tests: the health check answers, and says so
    if status >= 500:
        return f"error {status}"
    if status in (401, 403, 404):
        return "no"  # 404: not found for this caller (member-scoped lookups answer 404 for another's record)
    if status in (301, 302):
        return "no"
    return "ok"


def _sign_in(client, role, member):
    if role == ANON:
        return
    if role == MEMBER:
        client.force_login(member.user)
        return
    user = User.objects.create_user(username=f"matrix-{role[:20]}", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)


def _may_see(role: str, model) -> bool:
    if role not in STAFF:
        return False
    label = model._meta.app_label
    name = model._meta.model_name
    held = roles.ROLE_PERMISSIONS[role]
    return any(f"{label}.{verb}_{name}" in held for verb in ("view", "change"))


def test_every_route_has_an_entry_in_the_table():
    model_routes = _model_routes()
    missing = [
        route
        for route in _walk(get_resolver().url_patterns)
        if route not in EXPECTED and route not in model_routes and route not in SKIPPED
    ]
    assert missing == [], "routes without an expected outcome per role (add them to EXPECTED): " + ", ".join(missing)
    stale = [route for route in EXPECTED if route not in set(_walk(get_resolver().url_patterns))]
    assert stale == []


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_exactly_the_routes_the_table_gives_it(client, world, role):
    member, values = world
    _sign_in(client, role, member)
    model_routes = _model_routes()
    wrong = {}
    for route in _walk(get_resolver().url_patterns):
        if route in SKIPPED:
            continue
        model = model_routes.get(route)
        if model is not None:
            row = model._default_manager.order_by("pk").first()
            url = _url(route, values, row.pk if row else 1)
            if role in (ANON, MEMBER):
                expected = "no"
            elif route.endswith(f"/{model._meta.model_name}/") or (route.endswith("/change/") and row is not None):
                expected = "ok" if _may_see(role, model) else "no"
            else:
                continue  # add, delete, history of each model: Django's own per-action checks (leak test renders them)
        else:
            url = _url(route, values, None)
            expected = "ok" if role in EXPECTED[route] else "no"
        got = _outcome(client.get(url))
        if got.startswith("error") or (expected is not None and got != expected):
            wrong[url] = f"expected {expected}, got {got}"
    assert wrong == {}, f"{role}: {wrong}"
