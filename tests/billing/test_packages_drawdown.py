"""Packs and plan allowances are drawn at ingestion: in scope, in allocation, earliest expiry
first, split when one runs out, once per event, and only the rest reaches the balance."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial

import pytest

from accounts.audit_trail import Actor
from billing.invoicing import ledger
from billing.invoicing.models import LedgerEntry
from billing.metering import services as metering
from billing.packages import services as packages
from billing.packages.drawdown import covering
from billing.packages.models import (
    Entitlement,
    EntitlementEntry,
    Offer,
    OfferTerms,
    Subscription,
    UsageCoverage,
)
from billing.packages.services import unmatched_coverage, unreconciled_entitlements
from tests.billing.invoicing_data import at_once
from tests.billing.metering_world import build_world
from tests.factories import (
    CatalogModelFactory,
    LedgerEntryFactory,
    PriceVersionFactory,
    ProviderFactory,
)

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)
SOLD = NOW - timedelta(days=2)


def pack(tokens, *, scope=OfferTerms.Scope.ALL, models=(), days=365, counting="one_to_one",
         reference_price=None, region=""):  # fmt: skip
    offer = Offer.objects.create(kind=Offer.Kind.PACK, name_en="Pack", name_zh="资源包")
    terms = OfferTerms(
        offer=offer,
        effective_from=SOLD - timedelta(days=1),
        price_amount=Decimal("100.00"),
        token_amount=tokens,
        scope=scope,
        scope_region=region,
        counting=counting,
        reference_price_per_million=reference_price,
        validity_days=days,
    )
    return packages.save_terms(actor=Actor.system(), terms=terms, scope_models=models)


def sell(world, terms, *, reference, department=None, at=SOLD):
    return packages.grant_pack(
        organization=world.org, terms=terms, reference=reference, at=at, department=department
    )


@pytest.fixture
def world(db):
    w = build_world()
    w.org.payment_mode = "prepaid"
    w.org.save()
    LedgerEntryFactory(organization=w.org, kind="top_up", amount=Decimal("1000"))
    return w


def charged(world):
    """What the balance was charged for usage."""
    usage = LedgerEntry.objects.for_org(world.org).filter(kind="usage_charge")
    return -sum((entry.amount for entry in usage), Decimal(0))


def test_a_pack_covers_its_tokens_and_the_balance_pays_the_rest(world):
    whole = sell(world, pack(1500), reference="p1")
    # 1,000 in + 200 out = 1,200 tokens: covered. The second call's 1,200: 300 covered.
    metering.ingest_usage(events=[world.event(at=NOW)])
    metering.ingest_usage(events=[world.event(at=NOW)])
    whole.refresh_from_db()
    assert whole.consumed == whole.granted == 1500
    [first, second] = UsageCoverage.objects.order_by("event_id")
    assert first.charged_amount == 0 and first.covered_amount > 0
    # chat-1: 2 CNY in, 8 CNY out per million: 0.002 + 0.0016 = 0.0036 a call; 900/1200 unpaid.
    assert second.covered_amount == Decimal("0.0009")
    assert second.charged_amount == Decimal("0.0027")
    assert charged(world) == Decimal("0.0027")
    assert unreconciled_entitlements() == []


def test_coverage_rows_and_draws_that_disagree_are_found(world):
    sell(world, pack(1500), reference="p1")
    metering.ingest_usage(events=[world.event(at=NOW)])
    metering.ingest_usage(events=[world.event(at=NOW)])
    assert unmatched_coverage() == []
    first, second = UsageCoverage.objects.order_by("event_id")
    drawn = first.event_id
    first.delete()  # its draw stays, without a coverage row
    # Covered by a pack, as its row says, though nothing drew; the plan's discount alone
    # (nothing covered) draws nothing, rightly.
    said = UsageCoverage.objects.create(
        event_id=second.event_id + 1, organization=world.org, covered_amount=1, charged_amount=0
    )
    UsageCoverage.objects.create(
        event_id=second.event_id + 2, organization=world.org, covered_amount=0, charged_amount=1
    )
    assert unmatched_coverage() == [(drawn, None, 1), (said.event_id, 1, 0)]


def test_earliest_expiry_first_and_an_event_split_across_packs(world):
    late = sell(world, pack(1000, days=300), reference="late")
    soon = sell(world, pack(700, days=30), reference="soon")
    metering.ingest_usage(events=[world.event(at=NOW)])  # 1,200 tokens
    soon.refresh_from_db()
    late.refresh_from_db()
    assert (soon.consumed, late.consumed) == (700, 500)
    draws = EntitlementEntry.objects.filter(kind="draw").order_by("id")
    assert [(d.entitlement_id, d.units) for d in draws] == [(soon.pk, -700), (late.pk, -500)]
    assert charged(world) == 0


def test_scope_and_allocation_decide_who_draws(world):
    domestic = ProviderFactory(slug="intl-lab", region="intl")
    CatalogModelFactory(model_id="abroad-1", provider=domestic)
    only_chat2 = sell(
        world,
        pack(10_000, scope=OfferTerms.Scope.MODELS, models=[world.models["chat-2"]]),
        reference="chat2",
    )
    for_a = sell(world, pack(10_000), reference="dept-a", department=world.deps["A"])
    metering.ingest_usage(
        events=[
            world.event(key="a", model="chat-1", at=NOW),  # A's key, chat-1: A's pack
            world.event(key="b", model="chat-1", at=NOW),  # B: nothing covers it
            world.event(key="b", model="chat-2", at=NOW),  # B, chat-2: the chat-2 pack
        ]
    )
    for_a.refresh_from_db()
    only_chat2.refresh_from_db()
    assert for_a.consumed == 1200
    assert only_chat2.consumed == 1200
    # B's chat-1 call: 0.0036 CNY from the balance.
    assert charged(world) == Decimal("0.0036")


def test_a_free_token_class_counts_nothing_and_an_unpriced_one_counts_as_input(world):
    free_cache = CatalogModelFactory(
        model_id="chat-free-cache", provider=world.models["chat-1"].provider
    )
    PriceVersionFactory(model=free_cache, effective_from=NOW - timedelta(days=30),
                        input_price=Decimal(2), output_price=Decimal(8),
                        cached_input_price=Decimal(0), cache_write_price=None)  # fmt: skip
    terms = pack(100_000, counting="weighted", reference_price=Decimal("2"))
    assert terms.weights["chat-free-cache"] == {
        "input": "1.000000", "cached": "0.000000", "cache_write": "1.000000", "output": "4.000000",
    }  # fmt: skip


def test_a_retried_batch_draws_nothing_twice(world):
    whole = sell(world, pack(100_000), reference="p1")
    events = [world.event(at=NOW), world.event(at=NOW)]
    metering.ingest_usage(events=events)
    metering.ingest_usage(events=events)
    whole.refresh_from_db()
    assert whole.consumed == 2400
    assert EntitlementEntry.objects.filter(kind="draw").count() == 2


def test_weighted_counting_charges_each_model_by_its_list_price(world):
    # Reference 2 CNY per million: chat-1 input counts 1, output 4; chat-2 input 0.5, output 1.5.
    terms = pack(100_000, counting="weighted", reference_price=Decimal("2"))
    assert terms.weights["chat-2"] == {
        "input": "0.500000",
        "cached": "0.250000",
        "cache_write": "0.500000",
        "output": "1.500000",
    }
    whole = sell(world, terms, reference="w")
    metering.ingest_usage(
        events=[world.event(model="chat-1", at=NOW), world.event(model="chat-2", at=NOW)]
    )
    whole.refresh_from_db()
    assert whole.consumed == (1000 * 1 + 200 * 4) + (1000 * Decimal("0.5") + 200 * Decimal("1.5"))


def added_later(world, model_id="chat-3", region="cn"):
    """A model added to the catalog after the packs' terms: input 4, output 12 per million
    until an hour ago, 6 and 20 since."""
    provider = ProviderFactory(slug=f"lab-{region}", region=region)
    model = CatalogModelFactory(model_id=model_id, provider=provider)
    for starts, (inp, out) in ((SOLD - timedelta(days=30), ("4", "12")),
                               (NOW - timedelta(hours=1), ("6", "20"))):  # fmt: skip
        PriceVersionFactory(model=model, effective_from=starts, input_price=Decimal(inp),
                            output_price=Decimal(out), cached_input_price=None)  # fmt: skip
    return model


def test_a_model_added_after_weighted_terms_counts_at_its_list_price_when_used(world):
    domestic = pack(100_000, scope=OfferTerms.Scope.REGION, region="cn", counting="weighted",
                    reference_price=Decimal("2"))  # fmt: skip
    frozen = dict(domestic.weights)
    whole = sell(world, domestic, reference="w")
    added_later(world)
    # chat-1's list price changes too: its frozen weights (1 in, 4 out) still apply.
    PriceVersionFactory(model=world.models["chat-1"], effective_from=NOW - timedelta(hours=1),
                        input_price=Decimal("20"), output_price=Decimal("80"))  # fmt: skip
    before, after = (
        world.event(model="chat-3", at=NOW - timedelta(days=1)),
        world.event(model="chat-3", at=NOW),
    )
    batch = [before, after, world.event(model="chat-1", at=NOW)]
    metering.ingest_usage(events=batch)
    metering.ingest_usage(events=batch)  # retried: drawn once

    draws = list(EntitlementEntry.objects.filter(kind="draw").order_by("event_id"))
    # 1,000 in + 200 out at the price in force at each call, over the reference 2:
    # yesterday 4 / 2 and 12 / 2; now 6 / 2 and 20 / 2; chat-1 at its frozen 1 and 4.
    assert [d.units for d in draws] == [-(1000 * 2 + 200 * 6), -(1000 * 3 + 200 * 10), -1800]
    then, now = draws[0].derived_weights, draws[1].derived_weights
    assert then == {"chat-3": {"input": "2.000000", "cached": "2.000000",
                               "cache_write": "2.000000", "output": "6.000000"}}  # fmt: skip
    assert now["chat-3"]["input"] == "3.000000" and now["chat-3"]["output"] == "10.000000"
    assert draws[2].derived_weights is None  # chat-1: the terms' frozen weights
    # The value at list price is the price the weight was derived from.
    assert draws[1].value_amount == (1000 * Decimal(6) + 200 * Decimal(20)) / 1_000_000
    whole.refresh_from_db()
    assert whole.consumed == 3200 + 5000 + 1800
    domestic.refresh_from_db()
    assert domestic.weights == frozen and "chat-3" not in frozen
    assert charged(world) == 0
    assert unreconciled_entitlements() == [] and unmatched_coverage() == []


def test_a_later_model_outside_listed_models_stays_uncovered_and_one_to_one_is_unchanged(world):
    listed = sell(
        world,
        pack(
            100_000,
            scope=OfferTerms.Scope.MODELS,
            models=[world.models["chat-1"]],
            counting="weighted",
            reference_price=Decimal("2"),
        ),
        reference="listed",
    )
    added_later(world)
    metering.ingest_usage(events=[world.event(model="chat-3", at=NOW)])
    listed.refresh_from_db()
    assert listed.consumed == 0
    assert charged(world) == Decimal("0.01")  # 1,000 x 6 + 200 x 20 per million

    whole = sell(world, pack(100_000), reference="one-to-one")
    metering.ingest_usage(events=[world.event(model="chat-3", at=NOW)])
    whole.refresh_from_db()
    assert whole.consumed == 1200  # every token counts one, whatever the model
    assert EntitlementEntry.objects.get(kind="draw").derived_weights is None


def test_the_plan_discounts_overage_and_its_money_allowance_is_drawn_after_packs(world):
    offer = Offer.objects.create(kind=Offer.Kind.PLAN, name_en="Team", name_zh="团队版")
    terms = OfferTerms.objects.create(
        offer=offer,
        effective_from=SOLD - timedelta(days=1),
        price_amount=Decimal("999"),
        credit_amount=Decimal("0.0050"),
        scope=OfferTerms.Scope.ALL,
        period=OfferTerms.Period.MONTH,
        overage_discount_percent=Decimal("20"),
    )
    plan = Subscription.objects.create(
        organization=world.org,
        offer=offer,
        terms=terms,
        started_at=SOLD,
        current_period_start=SOLD,
        current_period_end=SOLD + timedelta(days=30),
        paid_until=SOLD + timedelta(days=30),  # its fee is paid: the discount applies
    )
    packages.grant(
        organization=world.org,
        terms=terms,
        reference="plan-period-1",
        starts_at=SOLD,
        expires_at=SOLD + timedelta(days=30),
        granted=terms.credit_amount,
        unit=Entitlement.Unit.MONEY,
        subscription=plan,
    )
    small = sell(world, pack(600), reference="small")
    # Call 1 (0.0036): 600 of 1,200 tokens from the pack (0.0018), 0.0018 from the allowance.
    # Call 2 (0.0036): 0.0032 left in the allowance, 0.0004 overage at 20 % off: 0.00032.
    metering.ingest_usage(events=[world.event(at=NOW)])
    metering.ingest_usage(events=[world.event(at=NOW)])
    small.refresh_from_db()
    assert small.consumed == 600
    allowance = Entitlement.objects.get(source="plan")
    assert allowance.consumed == allowance.granted == Decimal("0.005")
    assert charged(world) == Decimal("0.00032")
    assert unreconciled_entitlements() == []


def test_expiry_posts_the_unused_tokens_once_as_breakage(world):
    whole = sell(world, pack(10_000, days=1), reference="short", at=NOW - timedelta(hours=20))
    metering.ingest_usage(events=[world.event(at=NOW - timedelta(hours=1))])
    assert packages.expire_due(NOW + timedelta(days=1)) == 1
    assert packages.expire_due(NOW + timedelta(days=2)) == 0
    whole.refresh_from_db()
    expiry = EntitlementEntry.objects.get(kind="expiry")
    assert (whole.status, expiry.units) == ("expired", Decimal(-8800))
    assert expiry.value_amount == Decimal("88.00")  # 8,800 of 10,000 tokens of a 100 CNY pack
    assert unreconciled_entitlements() == []
    # Usage after expiry reaches the balance.
    before = charged(world)
    metering.ingest_usage(events=[world.event(at=NOW)])
    assert charged(world) > before


def test_covering_lists_what_authorize_may_allow_on(world):
    sell(world, pack(10_000), reference="a", department=world.deps["A"])
    model = world.models["chat-1"]
    assert covering(world.org, model=model, department_id=world.deps["A"].pk, at=NOW)
    assert covering(world.org, model=model, department_id=world.deps["B"].pk, at=NOW) == []


def test_balance_charges_without_packs_are_unchanged(world):
    metering.ingest_usage(events=[world.event(at=NOW)])
    assert charged(world) == Decimal("0.0036")
    assert not UsageCoverage.objects.exists()
    assert ledger.balance(world.org) == Decimal("1000") - Decimal("0.0036")


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_never_draw_a_pack_beyond_its_tokens():
    """Eight gateways report at once against a pack that covers five calls: exactly five are
    covered, the rest reach the balance, and the figures reconcile (row locks, PostgreSQL)."""
    w = build_world()
    w.org.payment_mode = "prepaid"
    w.org.save()
    LedgerEntryFactory(organization=w.org, kind="top_up", amount=Decimal("1000"))
    whole = sell(w, pack(6000), reference="shared")  # five calls of 1,200 tokens
    batches = [[w.event(at=NOW)] for _ in range(8)]
    errors = at_once([partial(metering.ingest_usage, events=batch) for batch in batches])
    assert errors == []
    whole.refresh_from_db()
    assert whole.consumed == 6000
    assert EntitlementEntry.objects.filter(kind="draw").count() == 5
    assert charged(w) == 3 * Decimal("0.0036")
    assert unreconciled_entitlements() == []
