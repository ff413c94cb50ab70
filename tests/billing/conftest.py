"""Fixtures of the billing tests: a priced model here; the quota world (quota_fixtures.py)
and the metering world (metering_world.py) imported below. Organizations and their members
are the root conftest's (`org`, `owner`, `admin`, `viewer`, `outsider`, `departments`)."""

from datetime import UTC, datetime

import pytest

from tests.billing.metering_world import metering_world  # noqa: F401 (a fixture)
from tests.billing.quota_fixtures import *  # noqa: F403 (quota, notification, webhook tests)
from tests.factories import CatalogModelFactory, PriceVersionFactory, ProviderFactory

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


@pytest.fixture(autouse=True)
def cache_starts_empty(empty_cache):
    """Cached policy snapshots are keyed by organization id, which tests reuse."""
