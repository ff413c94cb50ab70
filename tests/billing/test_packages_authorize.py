"""authorize lets a call through on an empty balance when a pack or plan allowance covers it,
and its answer's limits say what is left; warm, it still reads nothing from the database."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache

from accounts.audit_trail import Actor
from billing.metering import services as metering
from billing.packages import services as packages
from billing.packages.models import Offer, OfferTerms
from projects import authorize as authorization
from tests.billing.metering_world import build_world
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)


def domestic_pack(tokens):
    offer = Offer.objects.create(kind=Offer.Kind.PACK, name_en="Domestic", name_zh="国产模型包")
    terms = OfferTerms(
        offer=offer,
        effective_from=NOW - timedelta(days=3),
        price_amount=Decimal("100"),
        token_amount=tokens,
        scope=OfferTerms.Scope.REGION,
        scope_region="cn",
        validity_days=365,
    )
    return packages.save_terms(actor=Actor.system(), terms=terms)


@pytest.fixture
def world(db):
    cache.clear()
    w = build_world()
    w.org.payment_mode = "prepaid"  # and nothing on the balance
    w.org.save()
    return w


@pytest.fixture
def ask(gateway_token):
    def call(world, project="a", model="chat-1"):
        secret = ApiKeyFactory(project=world.projects[project], name=f"k-{project}").plaintext
        return lambda: authorization.authorize(
            credential=gateway_token, api_key=secret, model=model, client_ip="203.0.113.7"
        )[1]

    return call


def test_a_covering_pack_allows_on_an_empty_balance_and_says_what_is_left(
    world, ask, django_capture_on_commit_callbacks, django_assert_num_queries
):
    call_a, call_b = ask(world, "a"), ask(world, "b")
    assert call_a()["reason"] == "insufficient_balance"
    with django_capture_on_commit_callbacks(execute=True):
        entitlement = packages.grant_pack(
            organization=world.org,
            terms=domestic_pack(2000),
            reference="buy-1",
            at=NOW - timedelta(days=1),
            department=world.deps["A"],
        )
    answer = call_a()
    assert answer["allowed"] is True
    assert answer["limits"]["entitlements"] == [
        {
            "id": entitlement.public_id,
            "unit": "tokens",
            "remaining": "2000",
            "expires_at": entitlement.expires_at.isoformat(),
        }
    ]
    with django_assert_num_queries(0):  # warm: the snapshot came with the key
        assert call_a()["allowed"] is True
    assert call_b()["reason"] == "insufficient_balance"  # allocated to A, not B

    with django_capture_on_commit_callbacks(execute=True):
        metering.ingest_usage(events=[world.event(key="a", at=NOW)])  # 1,200 tokens
    assert call_a()["limits"]["entitlements"][0]["remaining"] == "800"
    with django_capture_on_commit_callbacks(execute=True):
        metering.ingest_usage(events=[world.event(key="a", at=NOW)])  # the last 800, and more
    assert call_a()["reason"] == "insufficient_balance"


def test_a_pack_for_other_models_does_not_open_the_door(world, ask):
    world.models["chat-1"].provider.region = "intl"
    world.models["chat-1"].provider.save()
    packages.grant_pack(organization=world.org, terms=domestic_pack(10_000), reference="b")
    assert ask(world)()["reason"] == "insufficient_balance"
