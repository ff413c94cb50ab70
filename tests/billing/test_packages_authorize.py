"""authorize lets a call through on an empty balance when a pack or plan allowance covers it,
and its answer's limits say what is left; warm, it still reads nothing from the database."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.audit_trail import Actor
from billing.metering import services as metering
from billing.packages import gate
from billing.packages import services as packages
from billing.packages.models import Offer, OfferTerms
from projects import authorize as authorization
from tests.billing.metering_world import build_world
from tests.factories import ApiKeyFactory, CatalogModelFactory, PriceVersionFactory

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)


def pack(tokens=1000, scope_models=(), name=("Pack", "模型包"), **terms):
    offer = Offer.objects.create(kind=Offer.Kind.PACK, name_en=name[0], name_zh=name[1])
    terms = OfferTerms(
        offer=offer,
        effective_from=NOW - timedelta(days=3),
        price_amount=Decimal("100"),
        token_amount=tokens,
        validity_days=365,
        **terms,
    )
    return packages.save_terms(actor=Actor.system(), terms=terms, scope_models=scope_models)


def domestic_pack(tokens):
    return pack(
        tokens, name=("Domestic", "国产模型包"), scope=OfferTerms.Scope.REGION, scope_region="cn"
    )


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


def test_a_weighted_pack_covers_a_model_added_after_its_terms_as_the_draw_does(
    world, ask, django_capture_on_commit_callbacks
):
    held = packages.grant_pack(
        organization=world.org,
        terms=pack(
            10_000,
            scope="region",
            scope_region="cn",
            counting="weighted",
            reference_price_per_million=Decimal("2"),
        ),
        reference="w",
        at=NOW - timedelta(days=1),
    )
    later = CatalogModelFactory(model_id="chat-3", provider=world.models["chat-1"].provider)
    PriceVersionFactory(model=later, effective_from=NOW - timedelta(days=1),
                        input_price=Decimal("6"), output_price=Decimal("20"))  # fmt: skip
    assert "chat-3" not in held.terms.weights
    call = ask(world, model="chat-3")
    answer = call()
    assert answer["allowed"] is True  # on an empty balance
    assert [e["id"] for e in answer["limits"]["entitlements"]] == [held.public_id]
    with django_capture_on_commit_callbacks(execute=True):
        metering.ingest_usage(events=[world.event(model="chat-3", at=NOW)])
    held.refresh_from_db()
    assert held.consumed == 1000 * 3 + 200 * 10  # 6 / 2 in, 20 / 2 out
    assert call()["limits"]["entitlements"][0]["remaining"] == "5000"


def cold_build_queries(org) -> int:
    with CaptureQueriesContext(connection) as queries:
        gate.build_snapshot(org.pk)
    return len(queries)


@pytest.mark.parametrize("scope", ["models", "region"])
def test_a_cold_snapshot_costs_the_same_queries_for_one_pack_as_for_five(world, scope):
    def grant(n):
        scoped = {
            "models": {"scope_models": [world.models["chat-2"]]},
            "region": {"scope_region": "cn"},
        }
        packages.grant_pack(
            organization=world.org,
            terms=pack(scope=scope, **scoped[scope]),
            reference=f"buy-{n}",
            department=world.deps["AB"[n % 2]],
        )

    grant(0)
    one = cold_build_queries(world.org)
    for n in range(1, 5):
        grant(n)
    assert cold_build_queries(world.org) == one == 3  # entitlements, their models, departments


def test_a_cold_snapshot_says_what_each_pack_covers_in_four_queries(world):
    chat1, chat2 = world.models["chat-1"], world.models["chat-2"]
    held = {
        name: packages.grant_pack(
            organization=world.org, terms=terms, reference=name, department=department
        )
        for name, terms, department in [
            ("listed", pack(scope="models", scope_models=[chat2]), None),
            ("region", domestic_pack(1000), world.deps["ROOT"]),
            ("all", pack(scope="all"), world.deps["A"]),
            (
                "weighted",
                pack(
                    scope="models",
                    scope_models=[chat1, chat2],
                    counting="weighted",
                    reference_price_per_million=Decimal("2"),
                ),
                None,
            ),
        ]
    }
    with CaptureQueriesContext(connection) as queries:
        entries = {entry["id"]: entry for entry in gate.build_snapshot(world.org.pk)}
    assert len(queries) == 4  # entitlements, listed models, region models, departments
    covered = {name: entries[e.public_id]["models"] for name, e in held.items()}
    assert covered == {
        "listed": ["chat-2"],
        "region": ["chat-1", "chat-2"],
        "all": None,
        "weighted": ["chat-1", "chat-2"],
    }
    deps = world.deps
    allocated = {name: entries[e.public_id]["departments"] for name, e in held.items()}
    assert allocated == {
        "listed": None,
        "region": sorted([deps["ROOT"].pk, deps["A"].pk, deps["B"].pk]),
        "all": [deps["A"].pk],
        "weighted": None,
    }
    assert entries[held["all"].public_id]["remaining"] == "1000"
