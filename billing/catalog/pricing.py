"""What a model costs an organization: list price, contract discount, cost of a call.

One function, `effective_price()`, answers "what does this organization pay per million
tokens of this model at this time"; metering, quotas and the catalog pages all ask it.
Everything is Decimal; nothing is rounded here (invoices round once per line).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from django.db.models import Q

from billing.catalog.models import CatalogModel, ContractDiscount, PriceVersion
from portal.periods import business_zone

MILLION = Decimal(1_000_000)
HUNDRED = Decimal(100)
# Enough digits that no product or sum of prices and token counts is ever rounded.
_PRECISION = 60


class PriceNotFound(LookupError):
    """The model has no price version in force at that time."""


@dataclass(frozen=True)
class EffectivePrice:
    """Prices per million tokens after the contract discount, and where they came from."""

    input_price: Decimal
    output_price: Decimal
    cached_input_price: Decimal
    cache_write_price: Decimal
    currency: str
    price_version: PriceVersion
    discount_percent: Decimal


def discounted(price: Decimal, percent: Decimal) -> Decimal:
    """`price` less `percent` per cent, exactly."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return price * (HUNDRED - percent) / HUNDRED


def price_in_force(model: CatalogModel, at: datetime) -> PriceVersion:
    version = model.prices.filter(effective_from__lte=at).order_by("-effective_from").first()
    if version is None:
        raise PriceNotFound(f"{model.model_id} has no price at {at.isoformat()}")
    return version


def contract_discount(*, organization, model: CatalogModel, at: datetime) -> Decimal:
    """The percent off for `organization` on `model` on the business day of `at`.

    The most specific discount valid that day wins: one for the model, else one for its
    provider, else an organization-wide one; among equals, the one that started last.
    """
    day = at.astimezone(business_zone()).date()
    candidates = ContractDiscount.objects.for_org(organization).filter(
        Q(model=model)
        | Q(model__isnull=True, provider_id=model.provider_id)
        | Q(model__isnull=True, provider__isnull=True),
        Q(valid_to__isnull=True) | Q(valid_to__gte=day),
        valid_from__lte=day,
    )
    best = max(candidates, key=lambda d: (d.specificity, d.valid_from, d.pk), default=None)
    return best.percent if best else Decimal(0)


def effective_price(*, organization, model: CatalogModel, at: datetime) -> EffectivePrice:
    """The prices `organization` pays for `model` at `at` (organization None: list price)."""
    version = price_in_force(model, at)
    percent = (
        contract_discount(organization=organization, model=model, at=at)
        if organization is not None
        else Decimal(0)
    )
    return EffectivePrice(
        input_price=discounted(version.input_price, percent),
        output_price=discounted(version.output_price, percent),
        cached_input_price=discounted(version.cached_input_price, percent),
        cache_write_price=discounted(version.cache_write_price, percent),
        currency=version.currency,
        price_version=version,
        discount_percent=percent,
    )


def cost_of(
    *,
    price: EffectivePrice,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int,
    cache_write_tokens: int = 0,
) -> Decimal:
    """The exact, unrounded cost of one call.

    `input_tokens` are the uncached prompt tokens; cached (cache read) and cache-write
    tokens are counted separately and priced at their own rates.
    """
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        total = (
            input_tokens * price.input_price
            + output_tokens * price.output_price
            + cached_input_tokens * price.cached_input_price
            + cache_write_tokens * price.cache_write_price
        )
        return total / MILLION


def price_event(
    *,
    organization,
    model: CatalogModel,
    at: datetime,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Decimal:
    """The exact, unrounded cost of one call at `at` (organization None: list price).

    `input_tokens` are the uncached prompt tokens; cached and cache-write tokens are
    counted separately (the gateway contract).
    """
    price = effective_price(organization=organization, model=model, at=at)
    return cost_of(
        price=price,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        cache_write_tokens=cache_write_tokens,
    )
