"""The relay world: a live relay (uvicorn in a thread of the test process, on the test
database and cache), fake upstreams on 127.0.0.1, a funded organization with a project that
makes keys, and the official openai client pointed at the relay (`relay_world`)."""

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace

import openai
import pytest
from django.core.cache import cache

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.catalog.pricing import price_event
from billing.metering.models import UsageEvent
from portal.asgi import application
from projects import services as projects_services
from relay import services
from tests.conftest import closed_port, free_port, wait_for
from tests.factories import (
    CatalogModelFactory,
    LedgerEntryFactory,
    MembershipFactory,
    PriceVersionFactory,
    ProviderFactory,
    as_actor,
)
from tests.relay.fake_upstream import FakeUpstream, serve

MODEL = "deepseek/deepseek-chat"
EMBEDDING_MODEL = "baai/bge-m3"
KEY_NUMBERS = itertools.count(1)
CLOSED_PORT = closed_port()  # the relay and the fake upstreams take free ports when they start


@pytest.fixture(autouse=True)
def relay_settings(settings, empty_cache):
    settings.RELAY_READ_TIMEOUT_SECONDS = 1.0
    settings.RELAY_CONNECT_TIMEOUT_SECONDS = 1.0
    settings.RELAY_BREAKER_FAILURES = 2
    settings.RELAY_BREAKER_COOLDOWN_SECONDS = 60
    settings.RELAY_BILL_EVERY_SECONDS = 0.05
    yield settings
    cache.clear()


@pytest.fixture
def relay(transactional_db):
    """The base URL of a live relay: portal.asgi under uvicorn, as in production."""
    with serve(application, free_port(), lifespan="on") as base:
        yield base + "/v1"


@pytest.fixture
def upstreams():
    """Two fake providers, a and b, on their own ports."""
    a, b = FakeUpstream("a"), FakeUpstream("b")
    with serve(a, free_port()) as url_a, serve(b, free_port()) as url_b:
        a.url, b.url = url_a + "/v1", url_b + "/v1"
        yield SimpleNamespace(a=a, b=b)


@dataclass
class World:
    organization: object
    owner: object
    project: object
    model: object
    embedding_model: object
    relay: str

    def key(self, **settings) -> str:
        _, plaintext = projects_services.create_api_key(
            actor=as_actor(self.owner),
            project=self.project,
            name=f"relay key {next(KEY_NUMBERS)}",  # names are unique in a project
            **settings,
        )
        return plaintext

    def client(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(api_key=key, base_url=self.relay, max_retries=0, timeout=20)

    def channel(self, name, upstream, *, priority=0, weight=1, upstream_model="deepseek-chat"):
        return services.configure_channel(
            actor=Actor.system(), name=name, base_url=upstream.url, credential=f"sk-{name}-secret",
            models={MODEL: upstream_model, EMBEDDING_MODEL: ""}, priority=priority,
            weight=weight,
        )  # fmt: skip


@pytest.fixture
def relay_world(relay):
    return build_world(relay)


def build_world(relay: str) -> World:
    """A priced chat and embedding model, a funded organization with a project."""
    provider = ProviderFactory(slug="deepseek", name="DeepSeek")
    model = CatalogModelFactory(model_id=MODEL, provider=provider)
    PriceVersionFactory(model=model, effective_from=datetime(2026, 1, 1, tzinfo=UTC))
    embedding = CatalogModelFactory(model_id=EMBEDDING_MODEL, provider=provider)
    PriceVersionFactory(model=embedding, effective_from=datetime(2026, 1, 1, tzinfo=UTC))
    owner = MembershipFactory(role=Role.OWNER)
    organization = owner.organization
    LedgerEntryFactory(organization=organization, amount=1_000_000)
    project = projects_services.create_project(actor=as_actor(owner), name="Relay project")
    return World(organization, owner, project, model, embedding, relay)


def usage_event(request_id: str) -> UsageEvent:
    """The usage event of a relay call; billing runs after the answer, so wait for it."""

    def billed():
        """the relay's usage event is stored"""
        return UsageEvent.objects.filter(request_id=request_id).first()

    return wait_for(billed, timeout=15, interval=0.05)


def assert_billed(
    world, event, *, input_tokens, output_tokens, cached=0, cache_write=0, estimated=False
):
    """The event has these tokens, the world's key, and costs exactly what its price says."""
    tokens = (event.input_tokens, event.output_tokens, event.cached_input_tokens)
    assert (*tokens, event.cache_write_tokens) == (
        input_tokens, output_tokens, cached, cache_write,
    )  # fmt: skip
    assert event.estimated is estimated
    assert event.api_key.project == world.project
    assert event.cost_amount == price_event(
        organization=world.organization, model=event.model, at=event.occurred_at,
        input_tokens=input_tokens, output_tokens=output_tokens, cached_input_tokens=cached,
        cache_write_tokens=cache_write,
    )  # fmt: skip
    assert event.cost_amount > 0
