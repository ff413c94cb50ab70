import pytest
from django.core.cache import cache

from accounts.models import Department
from accounts.permissions import Role
from billing.catalog.models import CatalogModel, ModelAlias
from billing.invoicing.models import LedgerEntry
from projects import services
from tests.factories import (
    CatalogModelFactory,
    MembershipFactory,
    OrganizationFactory,
    department_tree,
)


@pytest.fixture(autouse=True)
def clear_cache():
    """The gateway caches across requests; every test starts from an empty cache."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def org():
    organization = OrganizationFactory()
    # Prepaid with money on the balance, so that insufficient_balance stays out of the way.
    LedgerEntry.objects.create(
        organization=organization, kind="top_up", amount=1000, currency="CNY"
    )
    return organization


@pytest.fixture
def deps(org):
    """ROOT > (A > A1), B."""
    return department_tree(org)


@pytest.fixture
def owner(org):
    return MembershipFactory(organization=org, role=Role.OWNER)


@pytest.fixture
def developer(org, deps):
    """A developer of department A."""
    return MembershipFactory(organization=org, role=Role.DEVELOPER, department=deps["A"])


@pytest.fixture
def viewer(org):
    return MembershipFactory(organization=org, role=Role.VIEWER)


@pytest.fixture
def manager(org, deps):
    """A viewer who manages department B."""
    membership = MembershipFactory(organization=org, role=Role.VIEWER)
    Department.objects.get(pk=deps["B"].pk).managers.add(membership.user)
    return membership


@pytest.fixture
def outsider():
    """The owner of another organization."""
    return MembershipFactory(role=Role.OWNER)


def actor(membership):
    return services.Actor(user=membership.user, membership=membership)


@pytest.fixture
def catalog():
    """chat-1 (with alias chat-latest), chat-2, and the retired old-1."""
    chat1 = CatalogModelFactory(model_id="chat-1")
    ModelAlias.objects.create(alias="chat-latest", model=chat1)
    return {
        "chat-1": chat1,
        "chat-2": CatalogModelFactory(model_id="chat-2"),
        "old-1": CatalogModelFactory(model_id="old-1", status=CatalogModel.Status.RETIRED),
    }


@pytest.fixture
def project_a(owner, deps):
    return services.create_project(actor=actor(owner), name="Search A", department=deps["A"])


@pytest.fixture
def project_b(owner, deps):
    return services.create_project(actor=actor(owner), name="Billing B", department=deps["B"])


@pytest.fixture
def key_a(owner, project_a, catalog):
    """(ApiKey, plaintext) in project A, unrestricted."""
    return services.create_api_key(actor=actor(owner), project=project_a, name="A key")


@pytest.fixture
def gateway_token(owner):
    _, plaintext = services.create_gateway_credential(
        actor=services.Actor(user=owner.user), name="gw-1"
    )
    return plaintext


@pytest.fixture
def gateway(client, gateway_token):
    """POST to the authorize endpoint as the gateway: gateway(api_key, model, ip) -> response."""

    def call(api_key, model="chat-1", client_ip="203.0.113.7"):
        return client.post(
            "/api/v1/gateway/authorize",
            {"api_key": api_key, "model": model, "client_ip": client_ip},
            content_type="application/json",
            headers={"authorization": f"Bearer {gateway_token}"},
        )

    return call


def reason(response):
    return response.json().get("reason", "allowed" if response.json().get("allowed") else None)
