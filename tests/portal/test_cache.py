"""The Redis cache: the backends Django builds per context share one redis.Redis.

Runs without a Redis server: a client connects only when it sends a command."""

import contextvars

import pytest
from django.core.cache import caches


@pytest.fixture
def redis_cache(settings):
    """The Redis cache as production configures it (REDIS_CACHE_OPTIONS), at an address
    nothing is asked of."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
            "OPTIONS": settings.REDIS_CACHE_OPTIONS,
        }
    }


def backend_in_a_fresh_context():
    """caches["default"] as a new request's task sees it (under ASGI every request's context
    starts without one)."""
    return contextvars.Context().run(lambda: caches["default"])


def test_backends_of_separate_contexts_share_one_redis_client(redis_cache):
    first, second = backend_in_a_fresh_context(), backend_in_a_fresh_context()

    assert first is not second  # Django's way: a backend per context
    assert first.client.get_client() is second.client.get_client()
