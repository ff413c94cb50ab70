from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from billing.catalog.models import ContractDiscount, PriceVersion, StartedPriceError
from billing.catalog.pricing import (
    PriceNotFound,
    cost_of,
    discounted,
    effective_price,
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
