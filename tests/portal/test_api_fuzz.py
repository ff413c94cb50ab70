"""The whole REST API, fuzzed from its OpenAPI schema (docs/openapi.yaml) with schemathesis
(issue 20, finding 7): every operation, as an organization's owner (allauth's session token,
second factor passed), with generated valid and invalid input. Each answer must not be a
5xx, and an answer the schema documents must match it (response_schema_conformance).

In-process: schemathesis' WSGI transport calls Django in this test's thread and database
transaction; no server. Bounded and reproducible: MAX_EXAMPLES per operation, derandomized.

Left out, and why:
- none of the API's operations changes the owner's own authentication (sign-in, password,
  MFA and sessions live in allauth's headless API, which has its own specification); the
  owner has a second factor, so `require_mfa` may be switched on without locking them out;
- creating a webhook endpoint: it stores a generated URL and deliveries would post to it,
  and tests never name a host outside this machine (tests/notifications cover the endpoint
  with a receiver on 127.0.0.1).
"""

from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.invoicing.consolidated_models import ConsolidatedBilling
from billing.sales import plans
from projects import services as projects_services
from tests.accounts.signin import totp_code, totp_set_up_earlier, verified_user
from tests.billing.plan_data import plan_offer
from tests.factories import (
    CatalogModelFactory,
    GatewayCredentialFactory,
    LedgerEntryFactory,
    MembershipFactory,
    OrganizationFactory,
)

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
MAX_EXAMPLES = 8
NOT_FUZZED = ["v1_webhook_endpoints_create"]  # see the docstring

# The examples and fuzzing phases; the coverage phase's boundary cases would take minutes.
CONFIG = schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": False}}})
schema = schemathesis.openapi.from_path(SCHEMA, config=CONFIG)
# Django itself, as a WSGI application in this thread: the test database's transaction is seen.
schema.app = WSGIHandler()


@pytest.fixture
def wsgi_in_this_transaction():
    """What Django's test client does around a request: the handler must not close the test's
    database connection at a request's start or end."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def owner_headers(db, empty_cache):
    """allauth's session token of an owner who signed in with a second factor."""
    organization = OrganizationFactory()
    user = verified_user("fuzz-owner@example.com")
    MembershipFactory(organization=organization, user=user, role=Role.OWNER)
    LedgerEntryFactory(organization=organization, amount=1000)
    secret = totp_set_up_earlier(user)
    app = Client()
    login = app.post(
        "/_allauth/app/v1/auth/login",
        {"email": user.email, "password": "correct horse battery"},
        content_type="application/json",
    )
    pending = login.json()["meta"]["session_token"]
    done = app.post(
        "/_allauth/app/v1/auth/2fa/authenticate",
        {"code": totp_code(secret)},
        content_type="application/json",
        headers={"x-session-token": pending},
    )
    assert done.status_code == 200, done.content
    return {
        "session": {"X-Session-Token": done.json()["meta"]["session_token"]},
        "gateway": {"Authorization": f"Bearer {GatewayCredentialFactory().plaintext}"},
    }


@schema.exclude(operation_id=NOT_FUZZED).parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_fails_or_answers_outside_its_schema(
    case, owner_headers, wsgi_in_this_transaction
):
    gateway = case.path.startswith("/api/v1/gateway/")
    headers = owner_headers["gateway" if gateway else "session"]
    case.call_and_validate(
        headers=headers, checks=[not_a_server_error, response_schema_conformance]
    )


# --- Real data: every GET of the API, its answer checked against the schema -----------------

# Path parameters the isolation world does not name as its URL kwargs do.
API_PATH_VALUES = {
    "month": lambda a: "2026-11",
    "model_id": lambda a: CatalogModelFactory(model_id="shared/isolation-model").model_id,
}
# What an operation's answer needs in the world beyond the isolation test's (a plan to show).
GIVEN = {
    "/api/v1/billing/plan": lambda a: plans.subscribe(
        actor=Actor(user=a.owner.user, membership=a.owner),
        organization=a.organization,
        offer=plan_offer(name=a.name("plan")),
        from_balance=False,  # its fee invoice stays open: shown too
    ),
    # On the operator's bill (the isolation world charged a pack there): its months and charges.
    "/api/v1/billing/operator-bill": lambda a: ConsolidatedBilling.objects.create(
        organization=a.organization, operator_account_number="A-0001"
    ),
}
GET_OPERATIONS = [
    result.ok()
    for result in schema.get_all_operations()
    if result.ok().method.upper() == "GET" and not result.ok().path.startswith("/api/v1/gateway/")
]


@pytest.mark.parametrize("operation", GET_OPERATIONS, ids=lambda op: op.path)
def test_every_get_answers_real_data_as_the_schema_says(world, operation, wsgi_in_this_transaction):
    """The isolation test's organization (tests/test_isolation.py: members, departments, a
    project and a rotated key, a quota with a period, an alert and an increase request, an
    issued invoice, a webhook with a delivery, a notification, an export), read by its owner."""
    a = world.a
    rotated, _ = projects_services.rotate_api_key(
        actor=Actor(user=a.owner.user, membership=a.owner), key=a.api_key, grace=timedelta(hours=1)
    )
    client = Client()
    client.force_login(a.owner.user)
    values = {**world.values, **{name: make(a) for name, make in API_PATH_VALUES.items()}}
    if given := GIVEN.get(operation.path):
        given(a)
    path_parameters = {name: values[name] for name in (p.name for p in operation.path_parameters)}
    # The reports ask for a time range (a month around the isolation world's invoice).
    query = {"start_time": 1_700_000_000} if "/organization/" in operation.path else {}
    case = operation.Case(path_parameters=path_parameters, query=query)
    response = case.call_and_validate(
        cookies={"sessionid": client.cookies["sessionid"].value},
        checks=[not_a_server_error, response_schema_conformance],
    )
    assert response.status_code == 200, f"{operation.path}: {response.status_code}"
    assert rotated.rotated_from_id == a.api_key.pk
