"""Filling the shelf: read providers, models and USD prices from public sources, and
write them into the catalog and price book in CNY.

Three readers turn a source into `SourceModel` / `Skipped` entries; `import_catalog()`
writes them. Prices stay Decimal from the source text to the stored value: JSON numbers
are parsed with `parse_float=Decimal` and per-token prices become per-million prices by
an exact multiplication. Re-importing is idempotent: an unchanged price creates nothing.

A source entry is a list of dated periods (genai-prices' price history; one period for
the other sources), each a rate card with its prompt-size tiers and daily time windows;
each period becomes a price version from its start (docs/pricing-and-billing.md,
"Price history").
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor, record_actor_event
from billing.catalog.models import PRICE_FIELDS, CatalogModel, ModelAlias, PriceVersion, Provider
from billing.catalog.pricing import CLASSES

MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1000)
PRICE_PLACES = Decimal("1e-12")  # PriceVersion's decimal places

# Makers based in China (by the slugs the sources use); every other provider is international.
CHINESE_PROVIDERS = {
    "01-ai", "alibaba", "baichuan", "baidu", "bytedance", "bytedance-research",
    "bytedance-seed", "dashscope", "deepseek", "doubao", "hunyuan", "inclusionai", "kimi",
    "meituan", "minimax", "moonshot", "moonshotai", "qwen", "sensetime", "stepfun", "tencent",
    "thudm", "volcengine", "xiaomi", "yi", "z-ai", "zai", "zhipu", "zhipuai",
}  # fmt: skip

PROVIDER_NAMES = {
    "01-ai": "01.AI", "baidu": "Baidu", "bytedance": "ByteDance",
    "bytedance-seed": "ByteDance Seed",
    "deepseek": "DeepSeek", "meta-llama": "Meta Llama", "minimax": "MiniMax",
    "mistralai": "Mistral AI", "moonshotai": "Moonshot AI", "qwen": "Qwen (Alibaba Cloud)",
    "stepfun": "StepFun", "tencent": "Tencent", "x-ai": "xAI", "xiaomi": "Xiaomi", "z-ai": "Z.AI",
    "zai": "Z.AI", "zhipuai": "Zhipu AI",
}  # fmt: skip

# genai-prices providers that resell other makers' models: the same models come from
# their makers (or OpenRouter's maker-prefixed list), so these are not imported.
HOSTING_PLATFORMS = {
    "avian", "aws", "azure", "baseten", "cerebras", "cloudflare", "cursor", "databricks",
    "doubleword", "fireworks", "github-copilot", "groq", "modal", "novita", "openai-decisions",
    "ovhcloud", "quicksilverpro", "together", "typesafe",
}  # fmt: skip
# genai-prices provider ids whose maker OpenRouter spells differently.
GENAI_PROVIDER_SLUGS = {"mistral": "mistralai", "zai": "z-ai", "arcee": "arcee-ai"}
GENAI_MAKERS = {slug: provider_id for provider_id, slug in GENAI_PROVIDER_SLUGS.items()}


@dataclass
class SourceRates:
    """A rate card in USD: per million tokens, a fee per call, tiers by prompt size.

    None for a cache class: the source gives no price (charged at the input price)."""

    input: Decimal
    output: Decimal
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    request: Decimal = Decimal(0)
    # class -> [(threshold in prompt tokens, price)], ascending
    tiers: dict[str, list[tuple[int, Decimal]]] = field(default_factory=dict)


@dataclass
class SourceWindow:
    """A daily interval [start, end) in `zone` with its own rates."""

    start: time
    end: time
    zone: str
    rates: SourceRates


@dataclass
class SourcePeriod:
    """The prices from `start` (None: since before any date the source gives)."""

    rates: SourceRates
    windows: list[SourceWindow] = field(default_factory=list)
    start: datetime | None = None


@dataclass
class SourceModel:
    """One model as a source describes it; None means the source does not say."""

    provider_slug: str
    model_id: str
    display_name: str
    periods: list[SourcePeriod]  # by start, the first one open-ended backwards
    source_entry: str = ""  # e.g. "genai-prices:openai/davinci"
    provider_name: str = ""
    website: str = ""
    description: str | None = None
    kind: str = CatalogModel.Kind.CHAT
    context_window: int | None = None
    max_output_tokens: int | None = None
    input_modalities: list[str] | None = None
    output_modalities: list[str] | None = None
    capabilities: dict[str, bool] = field(default_factory=dict)
    deprecated: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Skipped:
    model_id: str
    reason: str


@dataclass
class ImportSummary:
    providers_created: int = 0
    models_created: int = 0
    models_updated: int = 0
    versions_created: int = 0
    versions_unchanged: int = 0
    skipped: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def counts(self) -> dict[str, int]:
        return {
            "providers_created": self.providers_created,
            "models_created": self.models_created,
            "models_updated": self.models_updated,
            "versions_created": self.versions_created,
            "versions_unchanged": self.versions_unchanged,
            "skipped": sum(len(ids) for ids in self.skipped.values()),
        }

    def lines(self) -> list[str]:
        lines = [
            f"Providers created: {self.providers_created}",
            f"Models created: {self.models_created}, updated: {self.models_updated}",
            f"Price versions created: {self.versions_created}, "
            f"unchanged: {self.versions_unchanged}",
            f"Skipped: {sum(len(ids) for ids in self.skipped.values())}",
        ]
        for reason, ids in sorted(self.skipped.items(), key=lambda item: -len(item[1])):
            examples = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
            lines.append(f"  {len(ids)} {reason} (e.g. {examples})")
        return lines


def parse_json(text: str | bytes):
    """JSON with every number that has a fraction or exponent read as an exact Decimal;
    ValidationError when `text` is not JSON (the parser's reason is its __cause__)."""
    try:
        return json.loads(text, parse_float=Decimal)
    except ValueError as error:  # also bytes that are not UTF-8
        raise ValidationError(_("This is not a JSON file."), code="invalid") from error


def per_million(per_token) -> Decimal:
    """A per-token price (a JSON number or a decimal string) as a per-million price, exactly."""
    return Decimal(per_token) * MILLION


def _per_million_or_none(per_token) -> Decimal | None:
    """None when the source gives no price (a cache class then costs the input price)."""
    return None if per_token is None else per_million(per_token)


# --- genai-prices ----------------------------------------------------------------------


def read_genai_prices(at: datetime | None = None) -> list[SourceModel | Skipped]:
    """The models of the genai-prices data bundled with the installed package, with their
    whole price history; `at` (default now) is the moment whose prices describe a model
    (modalities, caching).

    Imports `genai_prices.data` directly, the module the package itself loads when no
    update was fetched: nothing here touches the network.

    Source preference: an OpenRouter id whose maker has its own genai-prices entry for the
    model (matched by the maker's own rules, as `calc_price` with the maker's provider id
    would) is priced from the maker's entry; OpenRouter's list prices only the rest.
    """
    from genai_prices.data import providers

    at = at or timezone.now()
    makers = {p.id: p for p in providers if _is_maker(p.id) and p.id != "openrouter"}
    entries: list[SourceModel | Skipped] = []
    for provider in providers:
        if provider.id == "openrouter":
            continue
        if provider.id not in makers:
            entries += [
                Skipped(f"{provider.id}/{m.id}", "hosting platform") for m in provider.models
            ]
            continue
        slug = GENAI_PROVIDER_SLUGS.get(provider.id, provider.id)
        others = [p for p in makers.values() if p is not provider and p.model_match is not None]
        for info in provider.models:
            model_id = f"{slug}/{info.id}"
            if "/" in info.id or any(p.model_match.is_match(info.id.lower()) for p in others):
                entries.append(Skipped(model_id, "another maker's model"))
                continue
            entries.append(
                _genai_entry(
                    info, info, provider.id, at, slug, model_id, provider.name,
                    provider.pricing_urls,
                )
            )  # fmt: skip
    # OpenRouter's list names each model's maker ("qwen/qwen-max"): import it by maker.
    openrouter = next(p for p in providers if p.id == "openrouter")
    for info in openrouter.models:
        if "/" not in info.id:
            entries.append(Skipped(info.id, "no maker in the id"))
        elif info.id.endswith(":free"):
            entries.append(Skipped(info.id, "free variant of another model"))
        elif info.id.startswith("~"):
            entries.append(Skipped(info.id, "moving alias of another model"))
        else:
            slug, ref = info.id.split("/", 1)
            maker = makers.get(GENAI_MAKERS.get(slug, slug))
            own = maker.find_model(ref) if maker is not None else None
            priced_by = (own, maker.id) if own is not None else (info, openrouter.id)
            entries.append(_genai_entry(info, *priced_by, at, slug, info.id, "", None))
    return entries


def _is_maker(provider_id: str) -> bool:
    return provider_id not in HOSTING_PLATFORMS and not provider_id.startswith("huggingface_")


def _genai_entry(
    info, priced, provider_id, at, slug, model_id, provider_name, urls
) -> SourceModel | Skipped:
    """`info` describes the model; `priced` (the same entry, or the maker's own) prices it."""
    periods = _genai_periods(priced)
    if periods is None:
        return Skipped(model_id, "no per-token price")
    prices = priced.get_prices(at)
    inputs = ["text"] + [
        m for m in ("image", "audio", "video") if getattr(prices, f"input_{m}_mtok")
    ]
    outputs = ["text"] + [m for m in ("image", "audio") if getattr(prices, f"output_{m}_mtok")]
    capabilities = {}
    if prices.cache_read_mtok is not None:
        capabilities["supports_prompt_caching"] = True
    if "image" in inputs:
        capabilities["supports_vision"] = True
    return SourceModel(
        provider_slug=slug,
        provider_name=provider_name,
        website=urls[0] if urls else "",
        model_id=model_id,
        source_entry=f"genai-prices:{provider_id}/{priced.id}",
        display_name=info.name or model_id.split("/", 1)[-1],
        description=info.description,
        kind=CatalogModel.Kind.CHAT
        if prices.output_mtok is not None
        else CatalogModel.Kind.EMBEDDING,
        context_window=info.context_window,
        input_modalities=inputs if len(inputs) > 1 else None,
        output_modalities=outputs if len(outputs) > 1 else None,
        capabilities=capabilities,
        deprecated=bool(info.deprecated),
        periods=periods,
        aliases=(model_id.split("/", 1)[1],),
    )


def _genai_periods(info) -> list[SourcePeriod] | None:
    """The model's price history as periods, resolved as `ModelInfo.get_prices` resolves a
    moment: the last conditional price whose constraint holds wins, else the first one.

    Start dates hold from 00:00 UTC of their day; within a period, what varies is the time
    of day: the time-of-day prices after the standard one become windows (first match
    wins), in UTC as genai-prices compares them. None when a period has no input price.
    """
    from genai_prices.types import ConditionalPrice, ModelPrice, StartDateConstraint

    conditional = (
        [ConditionalPrice(prices=info.prices)]
        if isinstance(info.prices, ModelPrice)
        else info.prices
    )
    days = sorted(
        {
            c.constraint.start_date
            for c in conditional
            if isinstance(c.constraint, StartDateConstraint)
        }
    )
    periods: list[SourcePeriod] = []
    for day in [None, *days]:
        windows, standard = [], conditional[0]
        for price in reversed(conditional):
            constraint = price.constraint
            if constraint is None or (
                isinstance(constraint, StartDateConstraint)
                and day is not None
                and constraint.start_date <= day
            ):
                standard = price
                break
            if not isinstance(constraint, StartDateConstraint):  # a time of day
                windows.append(_genai_window(constraint, price.prices))
        rates = _genai_rates(standard.prices)
        if rates is None or any(w is None for w in windows):
            return None
        start = None if day is None else datetime.combine(day, time(), tzinfo=UTC)
        period = SourcePeriod(rates=rates, windows=windows, start=start)
        if not periods or (periods[-1].rates, periods[-1].windows) != (rates, windows):
            periods.append(period)
    return periods


def _genai_window(constraint, prices) -> SourceWindow | None:
    rates = _genai_rates(prices)
    if rates is None:
        return None
    return SourceWindow(
        start=_utc_time(constraint.start_time),
        end=_utc_time(constraint.end_time),
        zone="UTC",
        rates=rates,
    )


def _utc_time(value: time) -> time:
    """A time of day as its UTC time (naive: already UTC), as genai-prices compares it."""
    if value.tzinfo is None:
        return value
    return datetime.combine(date(1970, 1, 1), value).astimezone(UTC).time()


_GENAI_CLASSES = {
    "input": "input_mtok",
    "output": "output_mtok",
    "cached_input": "cache_read_mtok",
    "cache_write": "cache_write_mtok",
}


def _genai_rates(prices) -> SourceRates | None:
    """The classes the gateway reports (other units are never reported, so cost nothing)."""
    from genai_prices.types import TieredPrices

    values, tiers = {}, {}
    for name, key in _GENAI_CLASSES.items():
        price = getattr(prices, key, None)
        if isinstance(price, TieredPrices):
            tiers[name] = [(tier.start, tier.price) for tier in price.tiers]
            price = price.base
        values[name] = price
    if values["input"] is None:
        return None
    per_thousand = getattr(prices, "requests_kcount", None)
    return SourceRates(
        input=values["input"],
        output=values["output"] or Decimal(0),  # no output price: outputs cost nothing
        cached_input=values["cached_input"],
        cache_write=values["cache_write"],
        request=per_thousand / THOUSAND if per_thousand is not None else Decimal(0),
        tiers=tiers,
    )


# --- OpenRouter /api/v1/models ----------------------------------------------------------


def read_openrouter(document: dict) -> list[SourceModel | Skipped]:
    entries: list[SourceModel | Skipped] = []
    for item in document.get("data", []):
        model_id = item.get("id", "")
        pricing = item.get("pricing") or {}
        if "/" not in model_id:
            entries.append(Skipped(model_id or "?", "no maker in the id"))
            continue
        try:
            prompt, completion = (Decimal(pricing.get(k) or "0") for k in ("prompt", "completion"))
            rates = SourceRates(
                input=per_million(prompt),
                output=per_million(completion),
                cached_input=_per_million_or_none(pricing.get("input_cache_read")),
                cache_write=_per_million_or_none(pricing.get("input_cache_write")),
                request=Decimal(pricing.get("request") or "0"),
            )
        except InvalidOperation:
            entries.append(Skipped(model_id, "unreadable price"))
            continue
        if prompt < 0 or completion < 0:
            entries.append(Skipped(model_id, "variable price (router)"))
            continue
        if prompt == 0 and completion == 0:
            entries.append(Skipped(model_id, "free model"))
            continue
        architecture = item.get("architecture") or {}
        parameters = set(item.get("supported_parameters") or ())
        inputs = architecture.get("input_modalities") or ["text"]
        top = item.get("top_provider") or {}
        entries.append(
            SourceModel(
                provider_slug=model_id.split("/")[0],
                model_id=model_id,
                display_name=item.get("name") or model_id,
                description=item.get("description"),
                kind=CatalogModel.Kind.CHAT,
                context_window=item.get("context_length") or top.get("context_length"),
                max_output_tokens=top.get("max_completion_tokens"),
                input_modalities=inputs,
                output_modalities=architecture.get("output_modalities") or ["text"],
                capabilities={
                    "supports_tools": "tools" in parameters,
                    "supports_reasoning": "reasoning" in parameters,
                    "supports_structured_output": "structured_outputs" in parameters,
                    "supports_vision": "image" in inputs,
                    "supports_prompt_caching": "input_cache_read" in pricing,
                },
                source_entry=f"openrouter:{model_id}",
                periods=[SourcePeriod(rates)],
                aliases=tuple(a for a in [item.get("canonical_slug")] if a and a != model_id),
            )
        )
    return entries


# --- LiteLLM model_prices_and_context_window.json --------------------------------------

_LITELLM_KINDS = {
    "chat": CatalogModel.Kind.CHAT,
    "completion": CatalogModel.Kind.CHAT,
    "responses": CatalogModel.Kind.CHAT,
    "embedding": CatalogModel.Kind.EMBEDDING,
}


def read_litellm(document: dict) -> list[SourceModel | Skipped]:
    entries: list[SourceModel | Skipped] = []
    for key, item in document.items():
        if key == "sample_spec" or not isinstance(item, dict):
            continue
        provider = item.get("litellm_provider") or ""
        model_id = key if key.startswith(f"{provider}/") else f"{provider}/{key}"
        kind = _LITELLM_KINDS.get(item.get("mode", "chat"))
        if not provider:
            entries.append(Skipped(key, "no provider"))
        elif kind is None:
            entries.append(Skipped(model_id, f"mode {item.get('mode')} is not priced by the token"))
        elif "input_cost_per_token" not in item:
            entries.append(Skipped(model_id, "no per-token price"))
        else:
            entries.append(_litellm_entry(item, provider, model_id, key, kind))
    return entries


def _litellm_entry(item, provider, model_id, key, kind) -> SourceModel:
    inputs = list(item.get("supported_modalities") or ["text"])
    if item.get("supports_vision") and "image" not in inputs:
        inputs.append("image")
    return SourceModel(
        provider_slug=provider.replace("_", "-"),
        model_id=model_id,
        display_name=model_id.split("/", 1)[1],
        kind=kind,
        context_window=item.get("max_input_tokens"),
        max_output_tokens=item.get("max_output_tokens"),
        input_modalities=inputs,
        output_modalities=list(item.get("supported_output_modalities") or ["text"]),
        capabilities={
            "supports_tools": bool(item.get("supports_function_calling")),
            "supports_vision": bool(item.get("supports_vision")),
            "supports_reasoning": bool(item.get("supports_reasoning")),
            "supports_prompt_caching": bool(item.get("supports_prompt_caching")),
            "supports_structured_output": bool(item.get("supports_response_schema")),
        },
        deprecated=bool(item.get("deprecation_date")),
        source_entry=f"litellm:{key}",
        periods=[
            SourcePeriod(
                SourceRates(
                    input=per_million(item["input_cost_per_token"]),
                    output=per_million(item.get("output_cost_per_token", 0)),
                    cached_input=_per_million_or_none(item.get("cache_read_input_token_cost")),
                    cache_write=_per_million_or_none(item.get("cache_creation_input_token_cost")),
                )
            )
        ],
        aliases=(key,) if key != model_id else (),
    )


# --- Writing ---------------------------------------------------------------------------


def to_cny(usd: Decimal, *, rate: Decimal, markup_percent: Decimal) -> Decimal:
    """USD -> CNY at `rate`, plus the markup, to PriceVersion's 12 places."""
    cny = usd * rate * (100 + markup_percent) / 100
    return cny.quantize(PRICE_PLACES, rounding=ROUND_HALF_UP)


_DESCRIPTIVE_FIELDS = (
    "display_name", "description", "kind", "context_window", "max_output_tokens",
    "input_modalities", "output_modalities",
)  # fmt: skip


@dataclass
class _Pricing:
    """What one run needs to turn source rates into versions."""

    source: str
    rate: Decimal
    markup: Decimal
    actor: Actor

    def cny(self, usd: Decimal | None) -> Decimal | None:
        return None if usd is None else to_cny(usd, rate=self.rate, markup_percent=self.markup)

    def card(self, rates: SourceRates) -> dict:
        """The rates as PriceVersion.conditions writes a card: CNY decimal strings."""
        card = {name: _text(self.cny(getattr(rates, name))) for name in CLASSES}
        card["request"] = _text(self.cny(rates.request))
        card["tiers"] = self.tiers(rates)
        return card

    def tiers(self, rates: SourceRates) -> dict:
        return {
            name: [[threshold, _text(self.cny(price))] for threshold, price in steps]
            for name, steps in rates.tiers.items()
        }

    def version(self, model, entry: SourceModel, period: SourcePeriod, start) -> PriceVersion:
        conditions = {}
        if tiers := self.tiers(period.rates):
            conditions["tiers"] = tiers
        if period.windows:
            conditions["windows"] = [
                {
                    "start": window.start.isoformat(),
                    "end": window.end.isoformat(),
                    "zone": window.zone,
                    "prices": self.card(window.rates),
                }
                for window in period.windows
            ]
        rates = period.rates
        return PriceVersion(
            model=model,
            effective_from=start,
            currency="CNY",
            source=self.source,
            source_entry=entry.source_entry,
            fx_rate=self.rate,
            markup_percent=self.markup,
            created_by=self.actor.user,
            input_price=self.cny(rates.input),
            output_price=self.cny(rates.output),
            cached_input_price=self.cny(rates.cached_input),
            cache_write_price=self.cny(rates.cache_write),
            request_price=self.cny(rates.request),
            conditions=conditions,
        )


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"  # "0.000000000000", never "0E-12"


@transaction.atomic
def import_catalog(
    entries: list[SourceModel | Skipped],
    *,
    source: str,
    usd_cny_rate: Decimal,
    markup_percent: Decimal,
    effective_from: datetime,
    actor: Actor,
) -> ImportSummary:
    """Write `entries` into the catalog, and each source period from `effective_from` on as
    a price version from its start (the period in force at `effective_from` from there).

    Prices already in use are never re-dated: a period that starts before now where the
    model already has a price in force is applied from now (if it is still in force),
    else left out. Before a model's first version and after now, periods keep their
    dates. A price staff set by hand stays until the source's own price changes.
    """
    now = timezone.now()
    pricing = _Pricing(source=source, rate=usd_cny_rate, markup=markup_percent, actor=actor)
    summary = ImportSummary()
    providers = {p.slug: p for p in Provider.objects.all()}
    models = {m.model_id: m for m in CatalogModel.objects.all()}
    taken_ids = set(models) | set(ModelAlias.objects.values_list("alias", flat=True))
    history: dict[int, list[PriceVersion]] = defaultdict(list)
    for version in PriceVersion.objects.order_by("effective_from"):
        history[version.model_id].append(version)

    seen: set[str] = set()
    new_aliases: list[ModelAlias] = []
    new_versions: list[PriceVersion] = []
    changed_models: set[CatalogModel] = set()
    for entry in entries:
        if isinstance(entry, Skipped):
            summary.skipped[entry.reason].append(entry.model_id)
            continue
        if entry.model_id in seen:
            summary.skipped["listed twice"].append(entry.model_id)
            continue
        seen.add(entry.model_id)
        provider = providers.get(entry.provider_slug)
        if provider is None:
            provider = providers[entry.provider_slug] = Provider.objects.create(
                slug=entry.provider_slug,
                name=PROVIDER_NAMES.get(entry.provider_slug)
                or entry.provider_name
                or entry.provider_slug.title(),
                region=Provider.Region.CHINA
                if entry.provider_slug in CHINESE_PROVIDERS
                else Provider.Region.INTERNATIONAL,
                website=entry.website,
            )
            summary.providers_created += 1
        model = models.get(entry.model_id)
        if model is None:
            if entry.model_id in taken_ids:
                summary.skipped["id is another model's alias"].append(entry.model_id)
                continue
            model = models[entry.model_id] = CatalogModel(
                model_id=entry.model_id, provider=provider
            )
            _describe(model, entry, now)
            model.save()
            taken_ids.add(model.model_id)
            summary.models_created += 1
        elif _describe(model, entry, now):
            changed_models.add(model)
        for alias in entry.aliases:
            if alias not in taken_ids:
                taken_ids.add(alias)
                new_aliases.append(ModelAlias(alias=alias, model=model))
        new_versions += _new_versions(
            model, entry, history[model.pk], pricing, effective_from, now, summary
        )
    CatalogModel.objects.bulk_update(
        changed_models, [*_DESCRIPTIVE_FIELDS, *_CAPABILITIES, "status", "deprecation_date"]
    )
    summary.models_updated = len(changed_models)
    ModelAlias.objects.bulk_create(new_aliases)
    PriceVersion.objects.bulk_create(new_versions)
    summary.versions_created = len(new_versions)
    record_actor_event(
        actor=actor,
        action="catalog.imported",
        changes={
            "after": {
                "source": source,
                "effective_from": effective_from,
                "usd_cny_rate": usd_cny_rate,
                "markup_percent": markup_percent,
                **summary.counts(),
            }
        },
    )
    return summary


def _new_versions(model, entry, versions, pricing, floor, now, summary) -> list[PriceVersion]:
    """The versions `entry`'s periods add to `model`'s history `versions` (kept sorted,
    new ones included); counts each period as created, unchanged or skipped."""
    created: list[PriceVersion] = []
    first = versions[0].effective_from if versions else None
    periods = _from(entry.periods, floor)
    for index, (start, period) in enumerate(periods):
        end = periods[index + 1][0] if index + 1 < len(periods) else None
        candidate = pricing.version(model, entry, period, start)
        starts = []
        if first is None or start < first or start > now:
            starts.append(start)  # no price in use at that time: the source's date
        if first is not None and first <= now and start <= now and (end is None or end > now):
            starts.append(now)  # in force now, after prices already in use
        if not starts:
            # Dated inside prices already in use: those stay.
            if _same(_in_force(versions, start), candidate):
                summary.versions_unchanged += 1
            else:
                summary.skipped["dated before the run, where a price is in use"].append(
                    model.model_id
                )
            continue
        added = refused = 0
        for at in starts:
            if _same(_in_force(versions, at), candidate) or _same(
                _in_force([v for v in versions if v.source == pricing.source], at), candidate
            ):
                continue
            taken = next((v for v in versions if v.effective_from == at), None)
            if taken is not None:
                if taken.source != pricing.source or taken.pk is None:
                    summary.skipped["a later price version exists"].append(model.model_id)
                    refused += 1
                    continue
                taken.delete()  # a future version of this source the source no longer has
                versions.remove(taken)
            version = pricing.version(model, entry, period, at)
            versions.append(version)
            versions.sort(key=lambda v: v.effective_from)
            created.append(version)
            added += 1
        if not added and not refused:
            summary.versions_unchanged += 1
    return created


def _from(periods: list[SourcePeriod], floor: datetime) -> list[tuple[datetime, SourcePeriod]]:
    """The periods from `floor` on, with their starts: the one in force at `floor` starts
    there (earlier ones collapse into it)."""
    kept = []
    for index, period in enumerate(periods):
        following = periods[index + 1].start if index + 1 < len(periods) else None
        if following is not None and following <= floor:
            continue
        start = floor if period.start is None or period.start < floor else period.start
        kept.append((start, period))
    return kept


def _in_force(versions: list[PriceVersion], at: datetime) -> PriceVersion | None:
    return next((v for v in reversed(versions) if v.effective_from <= at), None)


_CAPABILITIES = (
    "supports_tools", "supports_vision", "supports_reasoning", "supports_prompt_caching",
    "supports_structured_output",
)  # fmt: skip


def _describe(model: CatalogModel, entry: SourceModel, at: datetime) -> bool:
    """Copy what the source says onto `model`; whether anything changed."""
    values = {name: getattr(entry, name) for name in _DESCRIPTIVE_FIELDS}
    values.update({k: v for k, v in entry.capabilities.items() if k in _CAPABILITIES})
    if entry.deprecated and model.status in (model.Status.AVAILABLE, model.Status.PREVIEW):
        values.update(status=model.Status.DEPRECATED, deprecation_date=at.date())
    changed = False
    for name, value in values.items():
        if value is not None and getattr(model, name) != value:
            setattr(model, name, value)
            changed = True
    return changed


def _same(version: PriceVersion | None, other: PriceVersion) -> bool:
    """Whether `version` charges what `other` would (its source entry may differ)."""
    return version is not None and all(
        getattr(version, name) == getattr(other, name)
        for name in (*PRICE_FIELDS, "currency", "conditions")
    )
