"""The price book against genai-prices' own `calc_price`, one synthetic call at a time.

For each model whose price version in force came from genai-prices, a few synthetic calls
(every token class, and prompts either side of each of the source's size tiers) are priced
by the portal (`pricing.price_event`) and by the `calc_price` of the version's genai-prices
entry at the same instant, converted at the version's FX rate and markup. A difference over
TOLERANCE is listed with the classes that cause it. `manage.py verify_prices` prints it.
"""

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, localcontext

from genai_prices import Usage
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import StartDateConstraint, TieredPrices, TimeOfDateConstraint

from billing.catalog.models import CatalogModel, PriceVersion
from billing.catalog.pricing import PriceNotFound, contract_discount, price_event, price_in_force

TOLERANCE = Decimal("0.000001")  # CNY
SOURCE_PREFIX = "genai-prices:"
HUNDRED = Decimal(100)
MILLION = Decimal(1_000_000)
# Above every tier genai-prices knows of (the largest starts at 524,288 prompt tokens).
LARGE_PROMPT = 600_000


@dataclass(frozen=True)
class Tokens:
    """One call's tokens as the gateway reports them: `input_tokens` are the uncached ones."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0

    @property
    def prompt(self) -> int:
        return self.input_tokens + self.cached_input_tokens + self.cache_write_tokens

    def usage(self) -> Usage:
        """The same call as genai-prices counts it: its input_tokens include the cache's."""
        return Usage(
            input_tokens=self.prompt,
            cache_read_tokens=self.cached_input_tokens,
            cache_write_tokens=self.cache_write_tokens,
            output_tokens=self.output_tokens,
        )

    def __str__(self) -> str:
        return (
            f"{self.input_tokens} in + {self.cached_input_tokens} cached + "
            f"{self.cache_write_tokens} cache write + {self.output_tokens} out"
        )


def mixed_call(prompt: int) -> Tokens:
    """A call of `prompt` prompt tokens with every class in it."""
    cached, written = prompt * 3 // 10, prompt // 10
    return Tokens(prompt - cached - written, cached, written, 2_345)


SYNTHETIC_CALL = mixed_call(19_345)


@dataclass(frozen=True)
class Difference:
    tokens: Tokens
    portal: Decimal
    source: Decimal
    reasons: tuple[str, ...]


@dataclass
class ModelCheck:
    """One model: skipped (and why), or compared, with the calls that priced differently."""

    model_id: str
    version: PriceVersion | None = None
    skipped: str = ""
    differences: list[Difference] = field(default_factory=list)


def genai_entry(source_entry: str):
    """The genai-prices provider and model that a version's `source_entry` names.

    Found by id rather than by calc_price's matcher, which does not take every entry's own
    id (openai's ft:gpt-4o matches only ft:gpt-4o-2024-...). Raises LookupError.
    """
    provider_id, model_id = source_entry.removeprefix(SOURCE_PREFIX).split("/", 1)
    provider = next((p for p in get_snapshot().providers if p.id == provider_id), None)
    models = provider.models if provider is not None else ()
    model = next((m for m in models if m.id == model_id), None)
    if model is None:
        raise LookupError(f"genai-prices has no {source_entry}")
    return provider, model


class _Comparison:
    """Both prices of calls of one model at one instant, in CNY."""

    def __init__(self, *, model, version, organization, at):
        self.model, self.version, self.organization, self.at = model, version, organization, at
        self.provider, self.entry = genai_entry(version.source_entry)
        self.prices = self.entry.get_prices(at)
        percent = (
            contract_discount(organization=organization, model=model, at=at)
            if organization is not None
            else Decimal(0)
        )
        markup = version.markup_percent or Decimal(0)
        with localcontext() as ctx:
            ctx.prec = 60
            self.cny_per_usd = (
                version.fx_rate * (HUNDRED + markup) / HUNDRED * (HUNDRED - percent) / HUNDRED
            )

    def portal(self, tokens: Tokens) -> Decimal:
        return price_event(
            organization=self.organization, model=self.model, at=self.at, **asdict(tokens)
        )

    def source(self, tokens: Tokens) -> Decimal:
        with localcontext() as ctx:
            ctx.prec = 60
            usd = self.entry.calc_price(
                tokens.usage(), self.provider, genai_request_timestamp=self.at
            ).total_price
            return usd * self.cny_per_usd

    def tier_starts(self) -> list[int]:
        prices = self.prices.__dict__.values()
        return sorted({t.start for p in prices if isinstance(p, TieredPrices) for t in p.tiers})

    def calls(self) -> list[Tokens]:
        """The synthetic call, a prompt either side of each tier start, and a large prompt."""
        prompts = [n for start in self.tier_starts() for n in (start, start + 1)]
        return [SYNTHETIC_CALL, *(mixed_call(n) for n in prompts), mixed_call(LARGE_PROMPT)]

    def compare(self, tokens: Tokens) -> Difference | None:
        portal, source = self.portal(tokens), self.source(tokens)
        if abs(portal - source) <= TOLERANCE:
            return None
        return Difference(tokens, portal, source, tuple(self.explain(tokens)))

    def explain(self, tokens: Tokens) -> list[str]:
        """Which price classes differ at this prompt size, and what the source does then."""
        size, out = tokens.prompt or 1, tokens.output_tokens or 1_000
        probes = {
            "none": Tokens(),
            "input": Tokens(input_tokens=size),
            "cached": Tokens(cached_input_tokens=size),
            "write": Tokens(cache_write_tokens=size),
            "output": Tokens(input_tokens=size, output_tokens=out),
        }
        prices = {name: (self.portal(t), self.source(t)) for name, t in probes.items()}
        reasons = []
        fee = prices["none"]
        if abs(fee[0] - fee[1]) > TOLERANCE:
            reasons.append(f"per-request fee: portal {fee[0]:.8f}, genai-prices {fee[1]:.8f}")
        classes = (
            ("uncached input", "input", "none", size),
            ("cache read", "cached", "none", size),
            ("cache write", "write", "none", size),
            ("output", "output", "input", out),
        )
        for label, name, base, count in classes:
            portal, source = ((prices[name][i] - prices[base][i]) * MILLION / count for i in (0, 1))
            if abs(portal - source) * count / MILLION > TOLERANCE:
                reasons.append(
                    f"{label} at a {size}-token prompt: portal {portal:.8f}, "
                    f"genai-prices {source:.8f} CNY per million"
                )
        if not reasons:
            reasons.append("the call differs though no single class does")
        return reasons + self.context(tokens)

    def context(self, tokens: Tokens) -> list[str]:
        """What genai-prices applies to this call that a plain price list does not say."""
        notes = []
        crossed = [start for start in self.tier_starts() if tokens.prompt > start]
        if crossed:
            notes.append(f"genai-prices' prompt-size tier above {crossed[-1]} tokens applies")
        conditional = self.entry.prices
        if isinstance(conditional, list):
            windows = [c.constraint for c in conditional]
            for window in windows:
                if isinstance(window, TimeOfDateConstraint):
                    state = "inside" if window.active(self.at) else "outside"
                    notes.append(
                        f"{self.at.astimezone(UTC):%H:%M} UTC is {state} genai-prices' "
                        f"time-of-day window {window.start_time:%H:%M}-{window.end_time:%H:%M %Z}"
                    )
            started = self.version.effective_from.astimezone(UTC).date()
            day = self.at.astimezone(UTC).date()
            changes = [
                w.start_date
                for w in windows
                if isinstance(w, StartDateConstraint) and started < w.start_date <= day
            ]
            if changes:
                notes.append(
                    f"genai-prices' price changed on {max(changes)}, after this version "
                    f"started on {started}"
                )
        return notes


def check_model(model: CatalogModel, *, at: datetime, organization=None) -> ModelCheck:
    """Compare the portal's and genai-prices' prices of `model`'s synthetic calls at `at`."""
    try:
        version = price_in_force(model, at)
    except PriceNotFound:
        return ModelCheck(model.model_id, skipped="no price in force at that time")
    check = ModelCheck(model.model_id, version=version)
    if not version.source_entry.startswith(SOURCE_PREFIX):
        check.skipped = (
            "manual price"
            if version.source == "manual"
            else "no genai-prices entry recorded on the price version"
            if version.source == "genai-prices"
            else f"priced from {version.source}, not genai-prices"
        )
        return check
    if version.fx_rate is None:
        check.skipped = "no FX rate recorded on the price version"
        return check
    try:
        comparison = _Comparison(model=model, version=version, organization=organization, at=at)
    except LookupError:
        check.skipped = "model unknown to genai-prices"
        return check
    for tokens in comparison.calls():
        difference = comparison.compare(tokens)
        if difference is not None:
            check.differences.append(difference)
    return check


def catalog_models(
    *, first: int | None = None, model_ids: Sequence[str] = ()
) -> list[CatalogModel]:
    """The catalog models named by `model_ids`, else the first `first` by id (all when None).

    Raises LookupError naming the ids that are no model's.
    """
    models = CatalogModel.objects.order_by("model_id")
    if model_ids:
        found = list(models.filter(model_id__in=model_ids))
        unknown = set(model_ids) - {m.model_id for m in found}
        if unknown:
            raise LookupError(", ".join(sorted(unknown)))
        return found
    return list(models[:first] if first is not None else models)
