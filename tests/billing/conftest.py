from datetime import UTC, datetime

import pytest
from django.core.cache import cache

from accounts.permissions import Role
from tests.billing.metering_world import world  # noqa: F401  (the metering tests' fixture)
from tests.billing.quota_fixtures import *  # noqa: F403 (quota, notification, webhook tests)
from tests.factories import (
    CatalogModelFactory,
    MembershipFactory,
    OrganizationFactory,
    PriceVersionFactory,
    ProviderFactory,
)

PAST = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def priced_model(db):
    """deepseek/deepseek-chat at 2 / 8 / 0.5 CNY per million since 2026-01-01."""
    provider = ProviderFactory(slug="deepseek", name="DeepSeek")
    model = CatalogModelFactory(
        model_id="deepseek/deepseek-chat", provider=provider, display_name="DeepSeek Chat"
    )
    PriceVersionFactory(model=model, effective_from=PAST)
    return model


@pytest.fixture
def organization(db):
    return OrganizationFactory()


@pytest.fixture
def owner(organization):
    return MembershipFactory(organization=organization, role=Role.OWNER)


@pytest.fixture
def viewer(organization):
    return MembershipFactory(organization=organization, role=Role.VIEWER)


@pytest.fixture
def outsider(db):
    return MembershipFactory(role=Role.OWNER)


@pytest.fixture(autouse=True)
def empty_cache():
    """Cached policy snapshots are keyed by organization id, which tests reuse."""
    cache.clear()
