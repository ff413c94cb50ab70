from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from genai_prices import Usage, calc_price
from hypothesis import given
from hypothesis import strategies as st

from accounts.audit_trail import Actor
from billing.catalog.importer import import_catalog, read_genai_prices
from billing.catalog.models import CatalogModel, ContractDiscount, PriceVersion, StartedPriceError
from billing.catalog.pricing import (
    PriceNotFound,
    cost_of,
    discounted,
    effective_price,
    price_event,
    price_in_force,
    priced_with,
)
from tests.factories import (
    CatalogModelFactory,
    ContractDiscountFactory,
    OrganizationFactory,
    PriceVersionFactory,
)

pytestmark = pytest.mark.django_db

AT = datetime(2026, 6, 1, 4, tzinfo=UTC)


def discount(organization, percent, **kwargs):
    return ContractDiscountFactory(organization=organization, percent=Decimal(percent), **kwargs)


def test_without_discount_the_list_price_applies(priced_model, org):
    price = effective_price(organization=org, model=priced_model, at=AT)
    assert (price.input_price, price.output_price, price.cached_input_price) == (
        2,
        8,
        Decimal("0.5"),
    )
    assert price.discount_percent == 0
    assert price.price_version == priced_model.prices.get()


def test_the_most_specific_discount_wins(priced_model, org):
    discount(org, "10")
    assert effective_price(organization=org, model=priced_model, at=AT).input_price == (
        Decimal("1.8")
    )
    discount(org, "20", provider=priced_model.provider)
    assert effective_price(organization=org, model=priced_model, at=AT).input_price == (
        Decimal("1.6")
    )
    discount(org, "5", model=priced_model)  # smaller, but most specific
    price = effective_price(organization=org, model=priced_model, at=AT)
    assert price.discount_percent == Decimal("5")
    assert price.output_price == Decimal("7.6")


def test_a_discount_applies_only_within_its_dates_in_the_business_time_zone(priced_model, org):
    discount(org, "30", valid_from=date(2026, 6, 2), valid_to=date(2026, 6, 30))
    # 2026-06-01T16:00Z is already 2 June in Asia/Shanghai.
    assert effective_price(organization=org, model=priced_model, at=AT).discount_percent == 0
    late = datetime(2026, 6, 1, 16, tzinfo=UTC)
    assert effective_price(organization=org, model=priced_model, at=late).discount_percent == 30
    after = datetime(2026, 7, 1, 0, tzinfo=UTC)  # 08:00 on 1 July: past the last day
    assert effective_price(organization=org, model=priced_model, at=after).discount_percent == 0


def test_another_organizations_discount_never_applies(priced_model, org):
    discount(OrganizationFactory(), "50")
    assert effective_price(organization=org, model=priced_model, at=AT).discount_percent == 0


def test_another_providers_discount_never_applies(priced_model, org):
    other = CatalogModelFactory()
    discount(org, "50", provider=other.provider)
    discount(org, "40", model=other)
    assert effective_price(organization=org, model=priced_model, at=AT).discount_percent == 0


def test_the_version_in_force_at_the_time_is_used(priced_model):
    later = PriceVersionFactory(
        model=priced_model, effective_from=datetime(2026, 7, 1, tzinfo=UTC), input_price=3
    )
    assert effective_price(organization=None, model=priced_model, at=AT).input_price == 2
    at_july = datetime(2026, 7, 2, tzinfo=UTC)
    assert effective_price(organization=None, model=priced_model, at=at_july).price_version == later
    with pytest.raises(PriceNotFound):
        effective_price(organization=None, model=priced_model, at=datetime(2025, 1, 1, tzinfo=UTC))


def test_cost_of_is_exact_and_unrounded(priced_model):
    price = effective_price(organization=None, model=priced_model, at=AT)
    cost = cost_of(price=price, at=AT, input_tokens=1, output_tokens=3, cached_input_tokens=7)
    assert cost == Decimal("0.0000295")  # (2 + 24 + 3.5) / 1e6


def test_a_discount_outside_0_to_100_is_refused(org):
    bad = ContractDiscount(organization=org, percent=Decimal("100.01"), valid_from=AT.date())
    with pytest.raises(ValidationError):
        bad.full_clean()


prices = st.decimals(min_value=0, max_value=Decimal("9999999999"), places=8)
percents = st.decimals(min_value=0, max_value=100, places=2)
tokens = st.integers(min_value=0, max_value=10**12)


@given(price=prices, percent=percents)
def test_discounting_is_exact_and_within_bounds(price, percent):
    result = discounted(price, percent)
    assert Fraction(result) == Fraction(price) * (100 - Fraction(percent)) / 100
    assert 0 <= result <= price


@given(price=prices)
def test_zero_and_full_discounts(price):
    assert discounted(price, Decimal(0)) == price
    assert discounted(price, Decimal(100)) == 0


@given(p_in=prices, p_out=prices, percent=percents, n_in=tokens, n_out=tokens, n_cached=tokens)
def test_cost_of_equals_the_exact_rational_cost(p_in, p_out, percent, n_in, n_out, n_cached):
    version = PriceVersion(
        input_price=p_in, output_price=p_out, cached_input_price=p_in / 10, cache_write_price=0
    )
    cost = cost_of(
        price=priced_with(version, percent),
        at=AT,
        input_tokens=n_in,
        output_tokens=n_out,
        cached_input_tokens=n_cached,
    )
    factor = (100 - Fraction(percent)) / 100
    expected = (
        n_in * Fraction(p_in) * factor
        + n_out * Fraction(p_out) * factor
        + n_cached * Fraction(p_in) * factor / 10
    ) / 10**6
    assert Fraction(cost) == expected


# --- The price book is append-only once a version has started -------------------------


def test_a_started_version_cannot_be_edited(priced_model):
    version = priced_model.prices.get()
    version.input_price = Decimal("1")
    with pytest.raises(StartedPriceError):
        version.save()
    with pytest.raises(StartedPriceError):
        PriceVersion.objects.filter(pk=version.pk).update(input_price=1)
    version.refresh_from_db()
    assert version.input_price == 2


def test_a_started_version_cannot_be_deleted(priced_model):
    version = priced_model.prices.get()
    with pytest.raises(StartedPriceError):
        version.delete()
    with pytest.raises(StartedPriceError):
        PriceVersion.objects.all().delete()
    assert PriceVersion.objects.filter(pk=version.pk).exists()


def test_a_future_version_may_be_corrected_or_removed(priced_model):
    future = PriceVersionFactory(
        model=priced_model, effective_from=timezone.now() + timedelta(days=3)
    )
    future.input_price = Decimal("2.5")
    future.save()
    future.refresh_from_db()
    assert future.input_price == Decimal("2.5")
    future.effective_from = timezone.now() - timedelta(days=1)  # never backdated into use
    with pytest.raises(StartedPriceError):
        future.save()
    PriceVersion.objects.get(pk=future.pk).delete()
    assert priced_model.prices.count() == 1


# --- Faithful to genai-prices' calc_price (the bundled data, imported) ----------------

RATE = Decimal("7.20")
SHELF_FROM = datetime(2026, 8, 1, tzinfo=UTC)


@pytest.fixture
def shelf(db):
    """The bundled genai-prices data with its history from 2026-08-01, at 7.20 CNY/USD."""
    import_catalog(
        read_genai_prices(),
        source="genai-prices",
        usd_cny_rate=RATE,
        markup_percent=Decimal(0),
        effective_from=SHELF_FROM,
        actor=Actor.system(),
    )
    return {m.model_id: m for m in CatalogModel.objects.all()}


def genai_cny(model, at, *, input_tokens, output_tokens, cached=0, written=0):
    """calc_price of the version's source entry, in CNY: genai-prices' input_tokens is the
    whole prompt (ours: the uncached part; cached and cache-write tokens beside it)."""
    provider_id, model_ref = price_in_force(model, at).source_entry.split(":")[1].split("/", 1)
    usage = Usage(
        input_tokens=input_tokens + cached + written,
        cache_read_tokens=cached,
        cache_write_tokens=written,
        output_tokens=output_tokens,
    )
    result = calc_price(usage, model_ref, provider_id=provider_id, genai_request_timestamp=at)
    return result.total_price * RATE


def ours(model, at, *, organization=None, **tokens):
    return price_event(organization=organization, model=model, at=at, **tokens)


ON = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_cached_tokens_without_a_cache_price_cost_the_input_price(shelf):
    davinci = shelf["openai/davinci"]
    assert price_in_force(davinci, ON).cached_input_price is None
    tokens = {"input_tokens": 12_345, "cached_input_tokens": 5_000, "output_tokens": 2_345}
    cost = ours(davinci, ON, **tokens)
    assert cost == Decimal("2.83536")  # 19,690 tokens at 20 USD per million, at 7.20
    assert cost == genai_cny(davinci, ON, input_tokens=12_345, cached=5_000, output_tokens=2_345)
    assert cost.quantize(Decimal("0.0001")) == Decimal("2.8354")


def test_a_zero_cache_price_is_free_and_an_empty_one_is_the_input_price(priced_model):
    free = PriceVersionFactory(
        model=priced_model, effective_from=datetime(2026, 6, 1, tzinfo=UTC),
        cached_input_price=0, cache_write_price=None,
    )  # fmt: skip
    at = free.effective_from
    assert ours(priced_model, at, input_tokens=0, output_tokens=0, cached_input_tokens=10**6) == 0
    cost = ours(priced_model, at, input_tokens=0, output_tokens=0, cache_write_tokens=10**6)
    assert cost == 2  # the input price


@pytest.mark.parametrize("hour", [2, 12])  # 01:00-04:00 UTC is a peak window; noon is not
def test_time_windows_price_each_event_at_the_rate_of_its_time(shelf, hour):
    model = shelf["deepseek/deepseek-v4-flash"]
    at = ON.replace(hour=hour)
    tokens = {"input_tokens": 40_000, "cached_input_tokens": 9_000, "output_tokens": 3_000}
    expected = genai_cny(model, at, input_tokens=40_000, cached=9_000, output_tokens=3_000)
    assert ours(model, at, **tokens) == expected


def test_the_peak_window_costs_more_than_off_peak(shelf):
    model = shelf["deepseek/deepseek-v4-flash"]
    tokens = {"input_tokens": 10**6, "output_tokens": 0}
    peak, off_peak = (ours(model, ON.replace(hour=h), **tokens) for h in (2, 12))
    assert (peak, off_peak) == (Decimal("0.3") * RATE, Decimal("0.15") * RATE)


@pytest.mark.parametrize(
    ("uncached", "cached"), [(150_000, 50_000), (150_000, 50_001), (250_000, 0)]
)
def test_a_prompt_over_a_tier_threshold_pays_the_tier_on_all_tokens(shelf, uncached, cached):
    model = shelf["google/gemini-2.5-pro"]
    cost = ours(model, ON, input_tokens=uncached, cached_input_tokens=cached, output_tokens=1000)
    assert cost == genai_cny(model, ON, input_tokens=uncached, cached=cached, output_tokens=1000)
    base = Decimal("1.25") * uncached + Decimal("0.125") * cached + Decimal(10) * 1000
    if uncached + cached <= 200_000:  # the threshold is the whole prompt, not over it
        assert cost == base * RATE / 10**6
    else:
        assert cost > base * RATE / 10**6


def test_a_per_request_fee_is_charged_once_per_call(shelf):
    sonar = shelf["perplexity/sonar"]
    assert price_in_force(sonar, ON).request_price == Decimal("0.012") * RATE
    assert ours(sonar, ON, input_tokens=0, output_tokens=0) == Decimal("0.0864")
    cost = ours(sonar, ON, input_tokens=1000, output_tokens=500)
    assert cost == genai_cny(sonar, ON, input_tokens=1000, output_tokens=500)


def test_the_contract_discount_comes_off_the_whole_cost(shelf, org):
    sonar = shelf["perplexity/sonar"]
    discount(org, "25", model=sonar)
    tokens = {"input_tokens": 1000, "output_tokens": 500}
    list_price = ours(sonar, ON, **tokens)
    assert ours(sonar, ON, organization=org, **tokens) == list_price * Decimal("0.75")


@pytest.mark.parametrize(
    "at",
    [datetime(2026, 8, 10, 2, tzinfo=UTC), datetime(2026, 8, 20, 8, tzinfo=UTC), ON],
)
def test_history_prices_an_event_at_the_source_price_of_its_day(shelf, at):
    model = shelf["deepseek/deepseek-v4-pro"]
    tokens = {"input_tokens": 70_000, "cached_input_tokens": 1_000, "output_tokens": 900}
    expected = genai_cny(model, at, input_tokens=70_000, cached=1_000, output_tokens=900)
    assert ours(model, at, **tokens) == expected
