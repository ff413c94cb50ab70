"""Fixtures of the projects tests: members placed in `departments`, a small catalog,
projects A and B, a key of A, and the gateway's authorize call (`reason()` reads its answer).
`org`, `owner`, `viewer`, `outsider` and `departments` are the root conftest's."""

import pytest
from django.core.cache import cache

from accounts.models import Department
from accounts.permissions import Role
from billing.catalog.models import CatalogModel
from projects import services
from tests.factories import CatalogModelFactory, ModelAliasFactory, as_actor


@pytest.fixture(autouse=True)
def clear_cache():
    """The gateway caches across requests; every test starts from an empty cache."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def developer_in_a(member, departments):
    """A developer of department A."""
    return member(Role.DEVELOPER, department=departments["A"])


@pytest.fixture
def manager_of_b(member, departments):
    """A viewer who manages department B."""
    membership = member(Role.VIEWER)
    Department.objects.get(pk=departments["B"].pk).managers.add(membership.user)
    return membership


@pytest.fixture
def catalog():
    """chat-1 (with alias chat-latest), chat-2, and the retired old-1."""
    chat1 = CatalogModelFactory(model_id="chat-1")
    ModelAliasFactory(alias="chat-latest", model=chat1)
    return {
        "chat-1": chat1,
        "chat-2": CatalogModelFactory(model_id="chat-2"),
        "old-1": CatalogModelFactory(model_id="old-1", status=CatalogModel.Status.RETIRED),
    }


@pytest.fixture
def project_a(owner, departments):
    return services.create_project(
        actor=as_actor(owner), name="Search A", department=departments["A"]
    )


@pytest.fixture
def project_b(owner, departments):
    return services.create_project(
        actor=as_actor(owner), name="Billing B", department=departments["B"]
    )


@pytest.fixture
def key_a(owner, project_a, catalog):
    """(ApiKey, plaintext) in project A, unrestricted."""
    return services.create_api_key(actor=as_actor(owner), project=project_a, name="A key")


@pytest.fixture
def gateway(client, gateway_token, prepaid_balance):
    """POST to the authorize endpoint as the gateway: gateway(api_key, model, ip) -> response.
    `org` has money on its balance."""

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
