"""A key's requests- and tokens-per-minute limits, enforced by the relay (relay.limits)."""

import openai
import pytest
from django.core.cache import cache

from billing.metering.models import UsageEvent
from relay import limits
from tests.relay.conftest import MODEL, usage_event
from tests.relay.fake_upstream import CONTENT, PROMPT_TOKENS

MESSAGES = [{"role": "user", "content": "Say hello to the world."}]
TOKENS_PER_CALL = PROMPT_TOKENS + len(CONTENT)  # the fake upstream's usage: 14


@pytest.fixture
def clock(monkeypatch):
    """The limits' clock, 20 s into a minute (the relay runs in this process): no test
    straddles a window by accident, and one can move to the next minute."""
    clock = {"now": 60 * 30_000_000 + 20.0}
    monkeypatch.setattr(limits, "now", lambda: clock["now"])
    return clock


def chat(client):
    return client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)


def test_a_key_past_its_requests_per_minute_gets_429_until_the_next_minute(
    relay_world, upstreams, clock
):
    relay_world.channel("a", upstreams.a)
    limited, free = (
        relay_world.client(relay_world.key(rpm_limit=2)),
        relay_world.client(relay_world.key()),
    )
    chat(limited), chat(limited)

    with pytest.raises(openai.RateLimitError) as raised:
        chat(limited)

    error = raised.value
    assert (error.status_code, error.code, error.type) == (429, "rate_limit_exceeded", "requests")
    assert error.response.headers["retry-after"] == "40"  # the rest of the minute
    assert "2 requests per minute" in error.message
    assert len(upstreams.a.received) == 2  # the refused call reached no upstream ...
    chat(free)  # ... and other keys are not limited
    with pytest.raises(openai.RateLimitError):
        chat(limited)  # refusals do not count, but do not free a place either

    clock["now"] += 60
    assert chat(limited).http_response.status_code == 200


def test_a_key_past_its_tokens_per_minute_is_refused_after_the_call_that_crossed_it(
    relay_world, upstreams, clock
):
    relay_world.channel("a", upstreams.a)
    client = relay_world.client(relay_world.key(tpm_limit=2 * TOKENS_PER_CALL - 1))
    for _ in range(2):  # 14 tokens, under the limit; then 28, over it: that call completes
        usage_event(chat(client).headers["x-request-id"])

    with pytest.raises(openai.RateLimitError) as raised:
        chat(client)

    assert (raised.value.code, raised.value.type) == ("rate_limit_exceeded", "tokens")
    assert "27 tokens per minute" in raised.value.message
    assert len(upstreams.a.received) == 2
    clock["now"] += 60
    usage_event(chat(client).headers["x-request-id"])


def test_a_streamed_call_counts_its_tokens_too(relay_world, upstreams, clock):
    relay_world.channel("a", upstreams.a)
    client = relay_world.client(relay_world.key(tpm_limit=TOKENS_PER_CALL))
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices) == (
        "".join(CONTENT)
    )
    usage_event(raw.headers["x-request-id"])  # billed: its tokens are counted

    with pytest.raises(openai.RateLimitError):
        chat(client)


def test_keys_without_limits_are_not_counted(relay_world, upstreams, clock):
    relay_world.channel("a", upstreams.a)
    client = relay_world.client(relay_world.key())
    for _ in range(3):
        usage_event(chat(client).headers["x-request-id"])
    key_id = UsageEvent.objects.values_list("api_key__public_id", flat=True).first()
    for unit in ("requests", "tokens"):
        assert cache.get(limits._counter(unit, key_id, clock["now"])) is None
