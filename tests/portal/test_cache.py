"""The Redis cache: the backends Django builds per context share one redis.Redis."""

import contextvars
import os

import pytest
from django.core.cache import caches

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="the Redis cache is configured by REDIS_URL"
)


def backend_in_a_fresh_context():
    """caches["default"] as a new request's task sees it (under ASGI every request's context
    starts without one)."""
    return contextvars.Context().run(lambda: caches["default"])


def test_backends_of_separate_contexts_share_one_redis_client():
    first, second = backend_in_a_fresh_context(), backend_in_a_fresh_context()

    assert first is not second  # Django's way: a backend per context
    assert first.client.get_client() is second.client.get_client()


def test_the_shared_client_works_for_every_backend():
    first, second = backend_in_a_fresh_context(), backend_in_a_fresh_context()
    first.set("shared-client-check", "set by one backend", 30)

    assert second.get("shared-client-check") == "set by one backend"
