"""Schemathesis against the API's own OpenAPI schema (issue 11 item 11): for a staff token (a CSR: every
operation) and a member token (the member's own operations), generated inputs never get a server error,
and every documented answer conforms to the schema (body, content type, headers).

The schema is drf-spectacular's (config/schema.py), generated in-process; requests go through Django's
WSGI application inside the test's transaction (real PostgreSQL and Redis). Bounded for CI:
``API_FUZZ_MAX_EXAMPLES`` examples per operation and role (default 100, as issue 11 asks; fewer on demand),
derandomized so a run is reproducible. Status codes the schema does not list (a 400 for a generated
bad value, a 403 for a role without the permission, a 404 for an id that does not exist) are expected
answers to random input: the status-code check is left out, the server-error check is not.
"""

from __future__ import annotations

import json
import os

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from members import roles
from tests.factories import MemberFactory

MAX_EXAMPLES = int(os.environ.get("API_FUZZ_MAX_EXAMPLES", "100"))
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance, response_headers_conformance]


def _raw_schema() -> dict:
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(generated, renderer_context={}))


schema = schemathesis.openapi.from_dict(_raw_schema())
application = get_wsgi_application()


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: a request must not close the connection the test's transaction is on."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


# A member's token is fuzzed on what a member calls (the staff operations answer a member 403 before
# reading the body, which tests/test_platform_authorization_matrix.py covers route by route).
MEMBER_PATHS = ("/api/me/", "/api/usage/accounts/")


@pytest.fixture(params=["staff", "member"])
def token(request, db):
    from django.contrib.auth.models import Group

    from members.models import User

    if request.param == "member" and not any(f" {path}" in request.node.name for path in MEMBER_PATHS):
        pytest.skip("a staff operation: the member's 403 is the authorization matrix's")
    # No password: hashing one (Argon2) for each of ~50 tests would cost more than the fuzzing.
    user = User.objects.create_user(username=f"fuzz-{request.param}", is_staff=request.param == "staff")
    if request.param == "staff":
        user.groups.add(Group.objects.get(name=roles.CSR))
    else:
        MemberFactory(user=user)
    return Token.objects.create(user=user).key


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_never_fails_and_answers_as_its_schema_says(case, token):
    case.call_and_validate(app=application, headers={"Authorization": f"Token {token}"}, checks=CHECKS)
