"""What an attacker tries on the routes of the portal: a forged cross-site request (CSRF), a
member whose role has no billing rights reading billing data, hostile filter values. The
list of what was checked is docs/security.md#probes."""

import pytest
from django.test import Client
from django.urls import get_resolver
from django.urls import path as route
from rest_framework.authentication import SessionAuthentication

from accounts.permissions import Role
from billing.invoicing.models import FapiaoProfile
from relay.contract import GatewayCredentialAuthentication
from tests.factories import MembershipFactory
from tests.test_isolation import OUR_APPS, walk

pytestmark = pytest.mark.django_db

# Views that take no session, so a forged cross-site request has nothing to ride on.
CSRF_EXEMPT_ROUTES = {"payment-notify": "the provider's signature is its credential"}
# API authentications that never read a cookie (a header the browser does not add itself).
HEADER_AUTHENTICATION = {
    "XSessionTokenAuthentication",
    GatewayCredentialAuthentication.__name__,
}


def test_no_view_of_ours_skips_the_csrf_check_but_the_payment_notifications():
    """Django's middleware checks every form post unless a view is exempt. DRF views are
    exempt there and check CSRF themselves for session-authenticated requests, so each
    must authenticate by session (DRF's class, which enforces it) or by a header."""
    unchecked = []
    for _regex, pattern, _namespace in walk(get_resolver().url_patterns):
        view = pattern.callback
        view_class = getattr(view, "view_class", getattr(view, "cls", None))
        if view_class is None or view_class.__module__.split(".")[0] not in OUR_APPS:
            continue
        if not getattr(view, "csrf_exempt", False) or pattern.name in CSRF_EXEMPT_ROUTES:
            continue
        for authentication in getattr(view_class, "authentication_classes", None) or []:
            if not (
                issubclass(authentication, SessionAuthentication)
                or authentication.__name__ in HEADER_AUTHENTICATION
            ):
                unchecked.append((pattern.name, authentication.__name__))
        if not hasattr(view_class, "authentication_classes"):
            unchecked.append((pattern.name, "a plain Django view marked csrf_exempt"))
    assert unchecked == []


PURCHASE = "pur_aaaaaaaaaaaaaaaa"  # checked before any lookup: no purchase needs to exist


@pytest.fixture
def csrf_client(org, owner):
    """The owner's browser, signed in, as another site would make it post: no CSRF token."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(owner.user)
    return browser


@pytest.mark.parametrize(
    ("method", "path", "data"),
    [
        ("post", "/billing/fapiao/", {"title": "Forged"}),
        ("put", "/api/v1/billing/fapiao-profile", {"title": "Forged"}),
        ("patch", "/api/v1/billing/fapiao-profile", {"title": "Forged"}),
        ("post", "/billing/balance-alert/", {"threshold_amount": "1"}),
        ("post", "/notifications/read/", {}),
        ("post", f"/billing/packs/purchases/{PURCHASE}/cancel/", {}),
        ("post", f"/api/v1/billing/purchases/{PURCHASE}/cancel", {}),
    ],
)
def test_a_forged_cross_site_request_changes_nothing(csrf_client, org, method, path, data):
    if method == "post":  # a form, as a page posts it
        answer = csrf_client.post(path, data)
    else:
        answer = getattr(csrf_client, method)(path, data, content_type="application/json")
    assert answer.status_code == 403
    assert not FapiaoProfile.objects.filter(organization=org, title="Forged").exists()


# Billing data: the roles without view_billing get 403 on the page, the file and the API,
# before anything is looked up (an organization not on the operator's bill included).
BILLING_READS = [
    "/billing/",
    "/billing/operator-bill/",
    "/billing/operator-bill.csv",
    "/api/v1/billing/operator-bill",
    "/billing/ledger/",
    "/billing/ledger.csv",
    "/api/v1/billing/balance",
    "/api/v1/billing/ledger",
    "/api/v1/billing/fapiao-profile",
    "/api/v1/fapiao",
    "/api/v1/fapiao-requests",
    "/api/v1/invoices",
    "/api/v1/billing/payments",
    "/billing/statements/2026-11.csv",
    "/api/v1/billing/statements/2026-11",
    f"/billing/packs/purchases/{PURCHASE}/",
]
BILLING_WRITES = [
    ("put", "/api/v1/billing/fapiao-profile", {"title": "Mine now"}),
    ("patch", "/api/v1/billing/fapiao-profile", {"title": "Mine now"}),
    ("post", "/api/v1/billing/payments", {"provider": "wechat", "amount": "10.00"}),
    ("post", f"/billing/packs/purchases/{PURCHASE}/cancel/", {}),
    ("post", f"/api/v1/billing/purchases/{PURCHASE}/cancel", {}),
]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.DEVELOPER])
def test_roles_without_billing_rights_read_and_change_no_billing_data(client, org, role):
    client.force_login(MembershipFactory(organization=org, role=role).user)
    assert {path: client.get(path).status_code for path in BILLING_READS} == {
        path: 403 for path in BILLING_READS
    }
    for method, path, data in BILLING_WRITES:
        answer = getattr(client, method)(path, data, content_type="application/json")
        assert answer.status_code == 403, path
    assert not FapiaoProfile.objects.filter(organization=org).exists()


def test_the_billing_role_passes_the_same_checks(client, org):
    """The walk above is no vacuous 403: a billing member gets past the permission check."""
    client.force_login(MembershipFactory(organization=org, role=Role.BILLING).user)
    assert 403 not in {client.get(path).status_code for path in BILLING_READS}


@pytest.mark.parametrize(
    "outcome", ["<script>alert(1)</script>", "failed' OR '1'='1", "failed\x00", "1" * 5000]
)
def test_a_hostile_call_log_outcome_is_a_400(client, org, owner, outcome):
    client.force_login(owner.user)
    page = client.get("/usage/calls/", {"outcome": outcome})
    assert page.status_code == 400
    assert b"<script>alert(1)" not in page.content
    api = client.get("/api/v1/organization/usage/calls", {"outcome": outcome})
    assert api.status_code == 400


SECRET_MESSAGE = "password=hunter2 in a crashing view"


def crash(request):
    raise RuntimeError(SECRET_MESSAGE)


urlpatterns = [route("crash/", crash), route("api/v1/crash", crash)]


@pytest.mark.parametrize("url", ["/crash/", "/api/v1/crash"])
def test_an_error_with_debug_off_shows_no_trace_message_or_setting(settings, url):
    settings.DEBUG = False
    settings.ROOT_URLCONF = __name__  # a view that fails, beside nothing else
    answer = Client(raise_request_exception=False).get(url)
    assert answer.status_code == 500
    page = answer.content.decode()
    for leak in ("Traceback", SECRET_MESSAGE, "RuntimeError", settings.SECRET_KEY, "DATABASES"):
        assert leak not in page
