"""Probes with unknown prefixes (issue 20, finding 5): anyone can make a well-formed token
with a correct checksum. Each one with a new prefix used to run a query and store a cache
entry for 300 s, an unauthenticated way to fill Redis. Unknown prefixes now share a fixed
number of cache slots, and their refusal runs the same digest comparison as a wrong secret."""

import pytest
from django.core.cache import cache

from projects import authorize, tokens
from projects.models import ApiKey, GatewayCredential
from projects.tokens import _checksum
from tests.projects.conftest import reason

pytestmark = pytest.mark.django_db
SLOTS = 16


@pytest.fixture
def few_slots(monkeypatch, empty_cache):
    monkeypatch.setattr(authorize, "NEGATIVE_SLOTS", SLOTS)


def cache_entries() -> int:
    if hasattr(cache, "keys"):  # django-redis (the test's own database)
        return len(cache.keys("*"))
    return len(cache._cache)  # LocMemCache


def unknown(token_format: tokens.TokenFormat) -> str:
    return token_format.generate()[0]


def test_unknown_key_prefixes_add_at_most_the_slots_to_the_cache(gateway, key_a, few_slots):
    _, plaintext = key_a
    assert reason(gateway(plaintext)) == "allowed"  # everything a real call caches
    before = cache_entries()
    for _ in range(10 * SLOTS):
        assert reason(gateway(unknown(ApiKey.token_format))) == "invalid_key"
    assert cache_entries() - before <= SLOTS


def test_unknown_credential_prefixes_add_at_most_the_slots_to_the_cache(few_slots):
    before = cache_entries()
    for _ in range(10 * SLOTS):
        assert authorize.gateway_credential(unknown(GatewayCredential.token_format)) is None
    assert cache_entries() - before <= SLOTS


def test_a_repeated_unknown_prefix_is_refused_from_the_cache(
    gateway, key_a, few_slots, django_assert_num_queries
):
    probe = unknown(ApiKey.token_format)
    gateway(probe)
    with django_assert_num_queries(0):
        assert reason(gateway(probe)) == "invalid_key"


def test_a_key_made_under_a_prefix_remembered_as_unknown_is_allowed(
    gateway, key_a, few_slots, django_capture_on_commit_callbacks
):
    key, plaintext = key_a
    ApiKey.objects.filter(pk=key.pk).update(prefix="tpk_00000000")  # as if not made yet
    assert reason(gateway(plaintext)) == "invalid_key"  # remembered as unknown
    with django_capture_on_commit_callbacks(execute=True):
        ApiKey.objects.filter(pk=key.pk).update(prefix=key.prefix)
        authorize.API_KEYS.invalidate([key.prefix])  # what making a key does
    assert reason(gateway(plaintext)) == "allowed"


def test_unknown_and_wrong_secret_refusals_take_the_same_path(gateway, key_a, monkeypatch):
    """Both compute the token's digest and compare it in constant time, once."""
    key, _ = key_a
    compared = []
    real_matches = tokens.matches

    def recording(token, pepper_id, stored_digest):
        compared.append(token)
        return real_matches(token, pepper_id, stored_digest)

    monkeypatch.setattr(tokens, "matches", recording)
    forged = ApiKey.token_format.generate()[0]
    body = key.prefix + forged[len(key.prefix) : -6]
    wrong_secret = body + _checksum(body)
    for token in [wrong_secret, unknown(ApiKey.token_format)]:
        for _ in range(2):  # from the database, then from the cache
            compared.clear()
            response = gateway(token)
            assert (response.status_code, response.json()) == (
                403,
                {"allowed": False, "reason": "invalid_key"},
            )
            assert [t for t in compared if t.startswith("tpk_")] == [token]
