"""What a model costs an organization: list price, contract discount, cost of a call.

One function, `price_event()`, answers "what does this call cost this organization"; it is
`effective_price()` (the version in force and the organization's discount, which metering
caches per batch) and `cost_of()` (the arithmetic of one call). Metering, quotas, the
catalog pages and the price audit all go through them. Everything is Decimal; nothing is
rounded here (ingestion stores the cost at the column's scale, invoices round per line).

The rules (docs/pricing-and-billing.md, "Pricing rules"), faithful to genai-prices'
`calc_price`:
- a version is a rate card (input, output, cache read, cache write per million tokens, a
  fee per request), optionally replaced during daily time windows by another card;
- cache read and cache write without their own price (NULL) are charged at the input
  price; a price of 0 is free;
- a tiered price applies the tier of the whole prompt (uncached + cache read + cache
  write tokens) to all tokens of its class: the highest tier whose threshold the prompt
  exceeds;
- the contract discount comes off the whole cost.
"""

from dataclasses import dataclass
from datetime import datetime, time
from decimal import Context, Decimal, localcontext
from functools import cache
from zoneinfo import ZoneInfo

from django.db.models import Q

from billing.catalog.models import CatalogModel, ContractDiscount, PriceVersion
from portal.periods import business_zone

MILLION = Decimal(1_000_000)
HUNDRED = Decimal(100)
# Enough digits that no product or sum of prices and token counts is ever rounded.
_PRECISION = 60
_EXACT = Context(prec=_PRECISION)
# The token classes a card prices, as named in PriceVersion.conditions.
CLASSES = ("input", "output", "cached_input", "cache_write")


class PriceNotFound(LookupError):
    """The model has no price version in force at that time."""


@dataclass(frozen=True)
class Rate:
    """A price per million tokens; above a tier's threshold of prompt tokens, its price."""

    base: Decimal
    tiers: tuple[tuple[int, Decimal], ...] = ()  # (threshold, price), ascending

    def at(self, prompt_tokens: int) -> Decimal:
        if not self.tiers:
            return self.base
        for threshold, price in reversed(self.tiers):
            if prompt_tokens > threshold:
                return price
        return self.base


@dataclass(frozen=True)
class RateCard:
    input: Rate
    output: Rate
    cached_input: Rate | None  # None: charged at the input price
    cache_write: Rate | None
    request: Decimal = Decimal(0)  # per call

    @classmethod
    def from_json(cls, data: dict) -> "RateCard":
        tiers = data.get("tiers") or {}

        def rate(name):
            if data.get(name) is None:
                return None
            steps = tuple((int(start), Decimal(price)) for start, price in tiers.get(name, ()))
            return Rate(Decimal(data[name]), steps)

        return cls(
            input=rate("input"),
            output=rate("output"),
            cached_input=rate("cached_input"),
            cache_write=rate("cache_write"),
            request=Decimal(data.get("request") or 0),
        )


@dataclass(frozen=True)
class Window:
    """A daily interval [start, end) in `zone` (end before start: it crosses midnight)."""

    start: time
    end: time
    zone: str
    card: RateCard

    def covers(self, at: datetime) -> bool:
        now = at.astimezone(_zone(self.zone)).time()
        if self.end < self.start:
            return now >= self.start or now < self.end
        return self.start <= now < self.end


@dataclass(frozen=True)
class Schedule:
    """A version's prices: the card, unless one of the windows (first match) is in force."""

    card: RateCard
    windows: tuple[Window, ...] = ()

    def card_at(self, at: datetime) -> RateCard:
        if not self.windows:
            return self.card
        for window in self.windows:
            if window.covers(at):
                return window.card
        return self.card


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def schedule_of(version: PriceVersion) -> Schedule:
    """The version's columns (the standard card) and conditions (tiers, windows) as one."""
    conditions = version.conditions or {}
    card = RateCard.from_json(
        {
            **{name: getattr(version, f"{name}_price") for name in CLASSES},
            "request": version.request_price,
            "tiers": conditions.get("tiers"),
        }
    )
    windows = tuple(
        Window(
            start=time.fromisoformat(w["start"]),
            end=time.fromisoformat(w["end"]),
            zone=w["zone"],
            card=RateCard.from_json(w["prices"]),
        )
        for w in conditions.get("windows", ())
    )
    return Schedule(card=card, windows=windows)


@dataclass(frozen=True)
class EffectivePrice:
    """The version in force and the organization's discount; the standard card's prices per
    million tokens after the discount (None: charged at the input price), for display."""

    input_price: Decimal
    output_price: Decimal
    cached_input_price: Decimal | None
    cache_write_price: Decimal | None
    request_price: Decimal
    currency: str
    price_version: PriceVersion
    discount_percent: Decimal
    schedule: Schedule
    discount_factor: Decimal  # what is paid of the list price: 1 - percent / 100


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
    return priced_with(version, percent)


def priced_with(version: PriceVersion, percent: Decimal) -> EffectivePrice:
    """`version` at `percent` off."""

    def off(price):
        return None if price is None else discounted(price, percent)

    return EffectivePrice(
        input_price=off(version.input_price),
        output_price=off(version.output_price),
        cached_input_price=off(version.cached_input_price),
        cache_write_price=off(version.cache_write_price),
        request_price=off(version.request_price),
        currency=version.currency,
        price_version=version,
        discount_percent=percent,
        schedule=schedule_of(version),
        discount_factor=discounted(Decimal(1), percent),
    )


def cost_of(
    *,
    price: EffectivePrice,
    at: datetime,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Decimal:
    """The exact, unrounded cost of one call at `at` with `price` (its version and discount).

    `input_tokens` are the uncached prompt tokens; cached (cache read) and cache-write
    tokens are counted separately: the prompt is their sum (the tier threshold's count).
    """
    card = price.schedule.card_at(at)
    prompt = input_tokens + cached_input_tokens + cache_write_tokens
    input_rate = card.input.at(prompt)
    # The exact context's methods, not a `with localcontext()`: this runs for every event.
    add, multiply = _EXACT.add, _EXACT.multiply
    tokens = add(
        add(multiply(input_tokens, input_rate), multiply(output_tokens, card.output.at(prompt))),
        add(
            multiply(cached_input_tokens, _or(card.cached_input, input_rate, prompt)),
            multiply(cache_write_tokens, _or(card.cache_write, input_rate, prompt)),
        ),
    )
    cost = add(_EXACT.divide(tokens, MILLION), card.request)
    return multiply(cost, price.discount_factor)


def _or(rate: Rate | None, fallback: Decimal, prompt: int) -> Decimal:
    return fallback if rate is None else rate.at(prompt)


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
    return cost_of(
        price=effective_price(organization=organization, model=model, at=at),
        at=at,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_input_tokens=cached_input_tokens,
        cache_write_tokens=cache_write_tokens,
    )
