"""The relay through the official openai client, against fake upstreams on 127.0.0.1."""

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import httpx
import openai
import pytest
from cryptography.fernet import Fernet
from django.utils import timezone
from prometheus_client import REGISTRY

from accounts.models import Organization
from billing.invoicing.models import LedgerEntry
from billing.metering.models import UsageEvent
from portal import crypto
from portal.request_id import RequestIdFilter
from relay import channels, estimate, relay
from relay.app import application
from relay.models import Channel
from tests.conftest import wait_for
from tests.factories import CatalogModelFactory, LedgerEntryFactory
from tests.relay.conftest import (
    CLOSED_PORT,
    EMBEDDING_MODEL,
    MODEL,
    assert_billed,
    usage_event,
)
from tests.relay.fake_upstream import CACHE_WRITE_TOKENS, CACHED_TOKENS, CONTENT, PROMPT_TOKENS

MESSAGES = [{"role": "user", "content": "Say hello to the world."}]


def test_a_chat_completion_is_relayed_with_the_channel_credential_and_billed_exactly(
    relay_world, upstreams
):
    relay_world.channel("a", upstreams.a)
    client = relay_world.client(relay_world.key())

    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    completion = raw.parse()

    assert completion.choices[0].message.content == "".join(CONTENT)
    assert completion.usage.prompt_tokens == PROMPT_TOKENS
    [call] = upstreams.a.received
    assert call["authorization"] == "Bearer sk-a-secret"  # never the caller's key
    assert call["body"]["model"] == "deepseek-chat"  # the upstream's own name ...
    assert completion.model == MODEL  # ... and the caller's in the answer
    assert call["body"]["messages"] == MESSAGES
    event = usage_event(raw.headers["x-request-id"])
    assert event.model == relay_world.model
    assert_billed(
        relay_world, event, input_tokens=PROMPT_TOKENS - CACHED_TOKENS, output_tokens=len(CONTENT),
        cached=CACHED_TOKENS,
    )  # fmt: skip


def test_a_model_alias_reaches_the_catalog_model(relay_world, upstreams):
    relay_world.model.aliases.create(alias="deepseek-v3")
    relay_world.channel("a", upstreams.a)
    raw = relay_world.client(relay_world.key()).chat.completions.with_raw_response.create(
        model="deepseek-v3", messages=MESSAGES
    )
    assert raw.parse().model == MODEL  # as OpenAI's aliases: the answer names the model
    assert usage_event(raw.headers["x-request-id"]).model == relay_world.model


def test_a_stream_is_passed_through_and_billed_from_the_final_usage_chunk(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    client = relay_world.client(relay_world.key())

    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    ) as response:
        chunks = list(response.parse())
        request_id = response.headers["x-request-id"]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(CONTENT)
    assert all(c.choices for c in chunks), "the relay's own usage request stays hidden"
    assert {c.model for c in chunks} == {MODEL}  # not the upstream's "deepseek-chat"
    # The relay asked the upstream for usage in the final chunk.
    assert upstreams.a.received[0]["body"]["stream_options"] == {"include_usage": True}
    assert_billed(
        relay_world, usage_event(request_id), input_tokens=PROMPT_TOKENS - CACHED_TOKENS,
        output_tokens=len(CONTENT), cached=CACHED_TOKENS,
    )  # fmt: skip


def chat_and_stream(world, upstream, behaviour: str) -> tuple[str, str]:
    """One chat completion and one streamed chat through `upstream` answering `behaviour`:
    their request ids."""
    world.channel("a", upstream)
    upstream.default = behaviour
    client = world.client(world.key())
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    with client.chat.completions.with_streaming_response.create(
        model=MODEL, messages=MESSAGES, stream=True
    ) as response:
        list(response.parse())
        return raw.headers["x-request-id"], response.headers["x-request-id"]


def test_cache_reads_and_writes_are_billed_apart_from_input_and_counted_by_token_quotas(
    relay_world, upstreams
):
    """The gateway contract: input_tokens are the uncached prompt tokens; OpenAI-shaped
    prompt_tokens include the cache reads and writes, so the relay takes them out. A token
    quota counts every class: input + cached input + cache write + output."""
    from billing.quotas import services as quotas
    from billing.quotas.models import Quota
    from projects import services as projects_services

    owner = relay_world.owner
    actor = projects_services.Actor(user=owner.user, membership=owner)
    quota = quotas.create_quota(
        actor=actor, scope=Quota.Scope.ORGANIZATION, metric=Quota.Metric.TOKENS,
        limit=Decimal(10**6), on_exceed=Quota.OnExceed.ALERT,
    )  # fmt: skip
    uncached = PROMPT_TOKENS - CACHED_TOKENS - CACHE_WRITE_TOKENS
    for request_id in chat_and_stream(relay_world, upstreams.a, "cache_write"):
        assert_billed(
            relay_world, usage_event(request_id), input_tokens=uncached,
            output_tokens=len(CONTENT), cached=CACHED_TOKENS, cache_write=CACHE_WRITE_TOKENS,
        )  # fmt: skip
    period = quota.periods.get()
    assert period.consumed_tokens == 2 * (PROMPT_TOKENS + len(CONTENT))


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        # OpenAI: prompt_tokens include the cached ones
        ({"prompt_tokens": 100, "completion_tokens": 7,
          "prompt_tokens_details": {"cached_tokens": 60}}, (40, 7, 60, 0)),
        # OpenRouter: ... and the cache writes
        ({"prompt_tokens": 100, "completion_tokens": 7,
          "prompt_tokens_details": {"cached_tokens": 60, "cache_write_tokens": 30}},
         (10, 7, 60, 30)),
        # DeepSeek: the cache hits beside prompt_tokens
        ({"prompt_tokens": 100, "completion_tokens": 7, "prompt_cache_hit_tokens": 64,
          "prompt_cache_miss_tokens": 36}, (36, 7, 64, 0)),
        # Anthropic: input_tokens without the cache reads and writes
        ({"input_tokens": 10, "output_tokens": 7, "cache_read_input_tokens": 60,
          "cache_creation_input_tokens": 30}, (10, 7, 60, 30)),
        # embeddings; counts that cannot be right are capped or read as 0
        ({"prompt_tokens": 11, "total_tokens": 11}, (11, 0, 0, 0)),
        ({"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": 9}}, (0, 0, 5, 0)),
        ({"prompt_tokens": "many", "completion_tokens": -3, "prompt_tokens_details": []},
         (0, 0, 0, 0)),
    ],
)  # fmt: skip
def test_upstream_usage_is_read_as_the_gateway_contract_counts(usage, expected):
    found = relay.Usage.from_upstream(usage)
    tokens = (found.input_tokens, found.output_tokens, found.cached_input_tokens)
    assert (*tokens, found.cache_write_tokens) == expected


def test_a_caller_who_asks_for_stream_usage_gets_it(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    stream = relay_world.client(relay_world.key()).chat.completions.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == len(CONTENT)


def test_without_upstream_usage_the_relay_counts_and_marks_the_event_estimated(
    relay_world, upstreams
):
    request_ids = chat_and_stream(relay_world, upstreams.a, "no_usage")

    prompt = estimate.count(MESSAGES[0]["content"]) + 3 + 3
    reply = estimate.count("".join(CONTENT))
    for request_id in request_ids:
        assert_billed(
            relay_world, usage_event(request_id), input_tokens=prompt, output_tokens=reply,
            estimated=True,
        )  # fmt: skip


def test_embeddings_and_completions(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    client = relay_world.client(relay_world.key())

    raw = client.embeddings.with_raw_response.create(model=EMBEDDING_MODEL, input="some text")
    assert raw.parse().data[0].embedding == [0.25, -0.5, 0.125]
    assert upstreams.a.received[-1]["body"]["model"] == EMBEDDING_MODEL  # same name upstream
    event = usage_event(raw.headers["x-request-id"])
    assert event.model == relay_world.embedding_model
    assert_billed(relay_world, event, input_tokens=PROMPT_TOKENS, output_tokens=0)

    raw = client.completions.with_raw_response.create(model=MODEL, prompt="Say hello")
    assert raw.parse().choices[0].text == "".join(CONTENT)
    assert raw.parse().model == MODEL
    assert upstreams.a.received[-1]["path"] == "/completions"
    assert usage_event(raw.headers["x-request-id"]).output_tokens == len(CONTENT)


def test_the_model_list_holds_the_served_models_the_key_may_use(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    everything = relay_world.client(relay_world.key()).models.list()
    assert sorted(m.id for m in everything) == sorted([MODEL, EMBEDDING_MODEL])
    only_chat = relay_world.client(relay_world.key(allowed_models=[MODEL])).models.list()
    assert [m.id for m in only_chat] == [MODEL]
    with pytest.raises(openai.AuthenticationError):
        relay_world.client("tp-not-a-key").models.list()


def test_a_model_is_retrieved_when_the_key_may_use_it_else_404(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    relay_world.model.aliases.create(alias="deepseek-v3")
    CatalogModelFactory(model_id="deepseek/unserved", provider=relay_world.model.provider)
    client = relay_world.client(relay_world.key(allowed_models=[MODEL]))

    def count(status):
        labels = {"method": "GET", "route": "v1/models/{model:path}", "status": status}
        return REGISTRY.get_sample_value("portal_http_request_duration_seconds_count", labels) or 0

    before = count("2xx"), count("4xx")
    found = client.models.retrieve(MODEL)  # the SDK sends deepseek%2Fdeepseek-chat
    assert (found.id, found.object, found.owned_by) == (MODEL, "model", "token-portal")
    assert client.models.retrieve("deepseek-v3").id == MODEL  # an alias names the model
    # The slash as it is (curl, a hand-written URL) reaches the same route.
    plain = httpx.get(
        f"{relay_world.relay}/models/{MODEL}", headers={"authorization": f"Bearer {client.api_key}"}
    )
    assert (plain.status_code, plain.json()["id"]) == (200, MODEL)

    # Not the key's, served by no channel, not in the catalog, absurdly long: not found.
    for missing in [EMBEDDING_MODEL, "deepseek/unserved", "no/such-model", "x" * 500]:
        with pytest.raises(openai.NotFoundError) as raised:
            client.models.retrieve(missing)
        assert (raised.value.code, raised.value.type) == (
            "model_not_found",
            "invalid_request_error",
        )
    assert (count("2xx"), count("4xx")) == (before[0] + 3, before[1] + 4)

    # A refusal of the key itself answers as the list does.
    with pytest.raises(openai.AuthenticationError):
        relay_world.client("tp-not-a-key").models.retrieve(MODEL)
    elsewhere = relay_world.client(relay_world.key(ip_allowlist=["203.0.113.0/24"]))
    for call in (elsewhere.models.list, lambda: elsewhere.models.retrieve(MODEL)):
        with pytest.raises(openai.PermissionDeniedError) as raised:
            call()
        assert raised.value.code == "ip_not_allowed"
    assert upstreams.a.received == []


# --- Refusals -------------------------------------------------------------------------------


def set_status(world, status):
    from projects import services as projects_services

    Organization.objects.filter(pk=world.organization.pk).update(status=status)
    projects_services.invalidate_organization_keys(organization_id=world.organization.pk)


def expire_keys(world):
    from projects import authorize
    from projects.models import ApiKey

    keys = ApiKey.objects.filter(project=world.project)
    keys.update(expires_at=timezone.now() - timedelta(minutes=1))
    authorize.API_KEYS.invalidate([key.prefix for key in keys])


def spend_the_balance(world):
    from billing.invoicing import ledger

    LedgerEntryFactory(
        organization=world.organization, kind=LedgerEntry.Kind.ADJUSTMENT, amount=-1_000_000
    )
    ledger.invalidate_headroom(world.organization.pk)


REFUSALS = [
    # (how the key or world is made, the openai exception, status, code)
    ("invalid", openai.AuthenticationError, 401, "invalid_api_key"),
    ("revoked", openai.AuthenticationError, 401, "invalid_api_key"),
    ("expired", openai.AuthenticationError, 401, "invalid_api_key"),
    ("archived", openai.PermissionDeniedError, 403, "project_archived"),
    ("unverified", openai.PermissionDeniedError, 403, "organization_unverified"),
    ("other_model", openai.PermissionDeniedError, 403, "model_not_allowed"),
    ("ip", openai.PermissionDeniedError, 403, "ip_not_allowed"),
    ("suspended", openai.PermissionDeniedError, 403, "organization_suspended"),
    ("quota", openai.RateLimitError, 429, "quota_exceeded"),
    ("balance", openai.RateLimitError, 429, "insufficient_balance"),
]


@pytest.mark.parametrize(("case", "exception", "status", "code"), REFUSALS)
def test_every_refusal_in_openai_shape_and_nothing_reaches_the_upstream(
    relay_world, upstreams, case, exception, status, code
):
    from billing.quotas import services as quotas
    from billing.quotas.models import Quota
    from projects import services as projects_services

    relay_world.channel("a", upstreams.a)
    key = {
        "invalid": lambda: "tp-invalid-key",
        "other_model": lambda: relay_world.key(allowed_models=[EMBEDDING_MODEL]),
        "ip": lambda: relay_world.key(ip_allowlist=["203.0.113.0/24"]),
    }.get(case, relay_world.key)()
    actor = projects_services.Actor(user=relay_world.owner.user, membership=relay_world.owner)
    if case == "suspended":
        set_status(relay_world, Organization.Status.SUSPENDED)
    elif case == "unverified":
        set_status(relay_world, Organization.Status.PENDING)
    elif case == "revoked":
        projects_services.revoke_api_key(actor=actor, key=relay_world.project.api_keys.get())
    elif case == "expired":
        expire_keys(relay_world)
    elif case == "archived":
        projects_services.archive_project(actor=actor, project=relay_world.project)
    elif case == "balance":
        spend_the_balance(relay_world)
    elif case == "quota":
        quota = quotas.create_quota(
            actor=actor, scope=Quota.Scope.ORGANIZATION, limit=Decimal(10),
            on_exceed=Quota.OnExceed.BLOCK,
        )  # fmt: skip
        relay_world.client(key).chat.completions.create(model=MODEL, messages=MESSAGES)
        wait_for(lambda: quota.periods.filter(consumed_tokens__gte=10).exists(), timeout=15)
        upstreams.a.received.clear()

    events_before = UsageEvent.objects.count()

    with pytest.raises(exception) as raised:
        relay_world.client(key).chat.completions.create(model=MODEL, messages=MESSAGES)

    assert raised.value.status_code == status
    assert raised.value.code == code
    assert set(raised.value.body) >= {"message", "type", "code"}
    assert upstreams.a.received == []
    assert UsageEvent.objects.count() == events_before


def test_a_model_no_channel_serves_and_bad_requests(relay_world, upstreams):
    client = relay_world.client(relay_world.key())
    with pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert raised.value.code == "model_not_found"
    no_key = httpx.post(f"{relay_world.relay}/chat/completions", json={"model": MODEL})
    assert no_key.status_code == 401
    assert no_key.json()["error"]["code"] == "missing_api_key"
    headers = {"authorization": f"Bearer {relay_world.key()}"}
    for body, code in [(b"{not json", "invalid_json"), (b'{"messages": []}', "missing_model")]:
        answer = httpx.post(f"{relay_world.relay}/chat/completions", content=body, headers=headers)
        assert (answer.status_code, answer.json()["error"]["code"]) == (400, code)


def test_unknown_paths_wrong_methods_hosts_and_oversized_bodies_in_openai_shape(
    relay_world, upstreams, settings
):
    headers = {"authorization": f"Bearer {relay_world.key()}"}
    unknown = httpx.post(f"{relay_world.relay}/images/generations", json={}, headers=headers)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "not_found")
    wrong_method = httpx.get(f"{relay_world.relay}/chat/completions", headers=headers)
    assert (wrong_method.status_code, wrong_method.json()["error"]["code"]) == (
        405, "method_not_allowed",
    )  # fmt: skip
    assert wrong_method.headers["allow"] == "POST"
    other_host = httpx.get(
        f"{relay_world.relay}/models", headers={**headers, "host": "evil.example"}
    )
    assert (other_host.status_code, other_host.json()["error"]["code"]) == (400, "invalid_host")
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x" * 1000}]}
    too_large = httpx.post(f"{relay_world.relay}/chat/completions", json=body, headers=headers)
    assert (too_large.status_code, too_large.json()["error"]["code"]) == (413, "request_too_large")
    assert too_large.headers["x-content-type-options"] == "nosniff"
    assert upstreams.a.received == []


def test_a_fault_of_the_relay_is_a_500_in_openai_shape(relay_world, upstreams, settings):
    relay_world.channel("a", upstreams.a)
    key = relay_world.key()
    # Keys changed without `reencrypt_secrets`: no key decrypts the channel's credential.
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    settings.SECRET_KEY = "another-secret-key-than-the-one-the-credential-was-stored-under"
    with pytest.raises(openai.InternalServerError) as raised:
        relay_world.client(key).chat.completions.create(model=MODEL, messages=MESSAGES)
    assert raised.value.code == "internal_error"
    assert upstreams.a.received == []


def test_relay_latency_is_measured_by_route(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    client = relay_world.client(relay_world.key())

    def count(route, status):
        labels = {"method": "POST", "route": route, "status": status}
        return REGISTRY.get_sample_value("portal_http_request_duration_seconds_count", labels) or 0

    route = "v1/chat/completions"
    before = count(route, "2xx"), count(route, "4xx")
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="no/such-model", messages=MESSAGES)
    assert (count(route, "2xx"), count(route, "4xx")) == (before[0] + 1, before[1] + 1)


# --- Upstream failures: fail-over, timeouts, the breaker -----------------------------------------


def test_an_upstream_4xx_is_the_callers_answer_without_failover(relay_world, upstreams):
    relay_world.channel("a", upstreams.a, priority=2)
    relay_world.channel("b", upstreams.b, priority=1)
    upstreams.a.plan = ["400"]
    with pytest.raises(openai.BadRequestError) as raised:
        relay_world.client(relay_world.key()).chat.completions.create(
            model=MODEL, messages=MESSAGES
        )
    assert raised.value.code == "fake_400"
    assert upstreams.b.received == []
    assert UsageEvent.objects.count() == 0


def test_5xx_timeouts_and_refused_connections_fail_over_in_priority_order(
    relay_world, upstreams, relay_settings
):
    relay_settings.RELAY_BREAKER_FAILURES = 5
    first = relay_world.channel("a", upstreams.a, priority=3)
    relay_world.channel("b", upstreams.b, priority=2)
    client = relay_world.client(relay_world.key())

    upstreams.a.plan = ["500"]
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).id == "b-1"
    upstreams.a.plan = ["slow"]
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).id == "b-1"
    assert [len(upstreams.a.received), len(upstreams.b.received)] == [2, 2]

    # A dead channel ahead of both: the connection is refused, the call goes on.
    dead = type("Dead", (), {"url": f"http://127.0.0.1:{CLOSED_PORT}/v1"})
    relay_world.channel("dead", dead, priority=9)
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).id == "a-1"

    def by_name():
        """the dead channel's failure is recorded (after the answer)"""
        found = {h.channel.name: h for h in channels.health()}
        return found if found["dead"].failures else None

    failures = wait_for(by_name, timeout=10, interval=0.05)
    assert failures["dead"].failures == 1 and "connection" in failures["dead"].recent[0][1]
    assert failures["a"].failures == 0  # its last call succeeded
    assert [error.split(":")[0] for _, error in failures["a"].recent] == ["timeout", "HTTP 500"]
    assert first.pk == failures["a"].channel.pk


def test_channels_of_one_priority_share_calls_by_weight(relay_world, upstreams):
    relay_world.channel("a", upstreams.a, weight=3)
    relay_world.channel("b", upstreams.b, weight=1)
    client = relay_world.client(relay_world.key())

    for _ in range(120):
        client.embeddings.create(model=EMBEDDING_MODEL, input="x", encoding_format="float")

    # Binomial(120, 3/4): 90 expected, standard deviation 4.7; these bounds are 6 of them.
    assert 62 <= len(upstreams.a.received) <= 118
    assert len(upstreams.a.received) + len(upstreams.b.received) == 120


def test_a_higher_priority_goes_first_whatever_the_weights():
    def route(pk, priority, weight):
        return channels.Route(pk, f"c{pk}", "", "", "", priority, weight)

    routes = [route(1, priority=1, weight=1000), route(2, 5, 1), route(3, 5, 9)]
    orders = [channels.ordered(routes) for _ in range(4000)]
    assert all(order[2].channel_pk == 1 for order in orders)
    share_of_3 = sum(order[0].channel_pk == 3 for order in orders) / len(orders)
    assert 0.87 <= share_of_3 <= 0.93  # 9 / 10, standard deviation 0.005


def test_every_channel_failing_is_502_and_a_timeout_504(relay_world, upstreams, caplog):
    relay_world.channel("a", upstreams.a)
    client = relay_world.client(relay_world.key())
    upstreams.a.plan = ["500"]
    caplog.handler.addFilter(RequestIdFilter())  # as the console handler: the call's id
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert (raised.value.status_code, raised.value.code) == (502, "upstream_error")
    [failed] = [r for r in caplog.records if "failed on every channel" in r.message]
    assert failed.request_id == raised.value.response.headers["x-request-id"]
    upstreams.a.plan = ["slow"]
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert (raised.value.status_code, raised.value.code) == (504, "upstream_timeout")
    assert UsageEvent.objects.count() == 0


def test_the_breaker_opens_after_repeated_failures_and_a_probe_closes_it(
    relay_world, upstreams, relay_settings
):
    channel = relay_world.channel("a", upstreams.a, priority=2)
    relay_world.channel("b", upstreams.b, priority=1)
    client = relay_world.client(relay_world.key())
    upstreams.a.default = "500"

    for _ in range(2):  # RELAY_BREAKER_FAILURES
        assert client.chat.completions.create(model=MODEL, messages=MESSAGES).id == "b-1"
    wait_for(lambda: channels.health()[0].state == "open", timeout=10)
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert len(upstreams.a.received) == 2, "an open channel gets no calls"

    # The cool-down ends (moved into the past): one call probes; a failure opens it again.
    def end_cooldown():
        key = f"relay:breaker:{channel.pk}"
        state = channels.cache.get(key)
        channels.cache.set(key, {**state, "open_until": 1.0}, timeout=None)
        channels.refresh()  # as every process does within channels.VIEW_SECONDS

    end_cooldown()
    assert channels.health()[0].state == "half-open"
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).id == "b-1"
    assert len(upstreams.a.received) == 3
    wait_for(lambda: channels.health()[0].state == "open", timeout=10)

    end_cooldown()
    upstreams.a.default = "ok"
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).id == "a-1"
    wait_for(lambda: channels.health()[0].state == "closed", timeout=10)
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).id == "a-1"


def test_a_probe_claimed_by_a_call_that_never_reaches_the_channel_is_released(
    relay_world, upstreams, relay_settings
):
    """A half-open fallback behind a healthy channel: the call that claims its probe is
    answered by the healthy one; the claim goes back, so the next call that fails over
    probes it rather than finding it out until the claim expires."""
    relay_settings.RELAY_BREAKER_COOLDOWN_SECONDS = 0  # open means half-open at once
    relay_settings.RELAY_READ_TIMEOUT_SECONDS = 60  # an unreleased claim would last 61 s
    relay_world.channel("b", upstreams.b)
    client = relay_world.client(relay_world.key())
    upstreams.b.default = "500"
    for _ in range(2):  # RELAY_BREAKER_FAILURES
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
    wait_for(lambda: channels.health()[0].state == "half-open", timeout=10)

    upstreams.b.default = "ok"
    relay_world.channel("a", upstreams.a, priority=2)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.parse().id == "a-1"
    assert len(upstreams.b.received) == 2, "the fallback was not called"
    usage_event(raw.headers["x-request-id"])  # recorded in the same batch as the release

    upstreams.a.plan = ["500"]
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).id == "b-1"

    def fallback_closed():
        """the probe's success closed the fallback's breaker"""
        return {h.channel.name: h.state for h in channels.health()}["b"] == "closed"

    wait_for(fallback_closed, timeout=10)


def test_a_caller_hanging_up_mid_stream_pays_for_what_was_delivered(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    upstreams.a.plan = ["trickle"]  # one content chunk, then a pause
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}
    headers = {"authorization": f"Bearer {relay_world.key()}"}

    with httpx.stream(
        "POST", f"{relay_world.relay}/chat/completions", json=body, headers=headers, timeout=10
    ) as response:
        request_id = response.headers["x-request-id"]
        received = b""
        for chunk in response.iter_bytes():
            received += chunk
            if CONTENT[0].encode() in received:
                break  # hang up

    event = usage_event(request_id)
    prompt = estimate.count(MESSAGES[0]["content"]) + 6
    assert_billed(
        relay_world, event, input_tokens=prompt, output_tokens=estimate.count(CONTENT[0]),
        estimated=True,
    )  # fmt: skip


def test_a_caller_gone_before_the_first_event_pays_for_the_prompt(relay_world, upstreams):
    """The stream is never iterated when the server knows of the hang-up before the first event
    (here an ASGI server whose send yields, as the spec allows): still billed and released."""
    relay_world.channel("a", upstreams.a)
    body = json.dumps({"model": MODEL, "messages": MESSAGES, "stream": True}).encode()
    headers = [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {relay_world.key()}".encode())]
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
             "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions",
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80)}  # fmt: skip
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        await asyncio.sleep(0)
        sent.append(message)

    async def call_and_shut_down():
        await application(scope, receive, send)
        await relay.drain()  # what the worker's lifespan shutdown does

    asyncio.run(call_and_shut_down())

    assert not any(message.get("body") for message in sent)  # no event reached the caller
    event = UsageEvent.objects.get(api_key__project=relay_world.project)
    prompt = estimate.count(MESSAGES[0]["content"]) + 6
    assert_billed(relay_world, event, input_tokens=prompt, output_tokens=0, estimated=True)
    assert len(upstreams.a.received) == 1


# --- Channels: credentials at rest ---------------------------------------------------------------


def test_the_channel_credential_is_stored_encrypted(relay_world, upstreams):
    channel = relay_world.channel("a", upstreams.a)
    stored = Channel.objects.get(pk=channel.pk).credential_encrypted
    assert "sk-a-secret" not in stored
    assert crypto.decrypt(stored) == "sk-a-secret"


def test_usage_event_time_is_the_call_time(relay_world, upstreams):
    relay_world.channel("a", upstreams.a)
    before = timezone.now()
    raw = relay_world.client(relay_world.key()).chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES
    )
    event = usage_event(raw.headers["x-request-id"])
    assert before <= event.occurred_at <= timezone.now()
    assert event.cost_amount > Decimal(0)


def test_an_unbillable_event_does_not_cost_the_rest_of_its_batch(transactional_db, caplog):
    from relay import relay
    from tests.relay.conftest import build_world

    world = build_world(relay="")
    world.key()
    key = world.project.api_keys.get()
    plan = relay.Plan("req_good", key.public_id, MODEL, [])
    usage = relay.Usage(input_tokens=100, output_tokens=10)
    unpriced = relay.Plan("req_unpriced", key.public_id, "no/such-model", [])

    relay._ingest([relay._event(unpriced, usage), relay._event(plan, usage)])

    assert list(UsageEvent.objects.values_list("request_id", flat=True)) == ["req_good"]
    assert "req_unpriced" in caplog.text


def test_an_upstream_answer_nested_too_deep_to_parse_is_a_502_and_its_stream_event_passes(
    relay_world, upstreams
):
    relay_world.channel("a", upstreams.a)
    client = relay_world.client(relay_world.key())
    upstreams.a.plan = ["nested"]
    with pytest.raises(openai.InternalServerError) as raised:
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert (raised.value.status_code, raised.value.code) == (502, "upstream_error")
    assert UsageEvent.objects.count() == 0

    # In a stream such an event is forwarded as it came; the call is billed from its usage.
    upstreams.a.plan = ["nested"]
    stream = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    body = stream.http_response.read()
    assert b"[" * 1000 in body and body.rstrip().endswith(b"data: [DONE]")
    [event] = wait_for(lambda: list(UsageEvent.objects.all()) or None)
    assert event.output_tokens == len(CONTENT)
