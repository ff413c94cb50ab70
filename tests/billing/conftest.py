"""Fixtures of the billing tests: the quota world (quota_fixtures.py) and the metering world
(metering_world.py). Organizations, their members and `priced_model` are the root
conftest's (`org`, `owner`, `admin`, `viewer`, `outsider`, `departments`)."""

import pytest

from tests.billing.metering_world import metering_world  # noqa: F401 (a fixture)
from tests.billing.quota_fixtures import *  # noqa: F403 (quota, notification, webhook tests)


@pytest.fixture(autouse=True)
def cache_starts_empty(empty_cache):
    """Cached policy snapshots are keyed by organization id, which tests reuse."""
