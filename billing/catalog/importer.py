"""Filling the shelf: read providers, models and USD prices from public sources, and
write them into the catalog and price book in CNY.

Three readers turn a source into `SourceModel` / `Skipped` entries; `import_catalog()`
writes them. Prices stay Decimal from the source text to the stored value: JSON numbers
are parsed with `parse_float=Decimal` and per-token prices become per-million prices by
an exact multiplication. Re-importing is idempotent: an unchanged price creates nothing.
"""

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.audit_trail import Actor, record_actor_event
from billing.catalog.models import PRICE_FIELDS, CatalogModel, ModelAlias, PriceVersion, Provider

MILLION = Decimal(1_000_000)
EIGHT_PLACES = Decimal("0.00000001")

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


@dataclass
class SourceModel:
    """One model as a source describes it; None means the source does not say."""

    provider_slug: str
    model_id: str
    display_name: str
    input_price: Decimal  # USD per million tokens
    output_price: Decimal
    cached_input_price: Decimal = Decimal(0)
    cache_write_price: Decimal = Decimal(0)
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


# --- genai-prices ----------------------------------------------------------------------


def read_genai_prices(at: datetime) -> list[SourceModel | Skipped]:
    """The models of the genai-prices data bundled with the installed package.

    Imports `genai_prices.data` directly, the module the package itself loads when no
    update was fetched: nothing here touches the network.
    """
    from genai_prices.data import providers

    makers = [p for p in providers if _is_maker(p.id)]
    entries: list[SourceModel | Skipped] = []
    for provider in providers:
        if provider.id == "openrouter":
            continue
        if not _is_maker(provider.id):
            entries += [
                Skipped(f"{provider.id}/{m.id}", "hosting platform") for m in provider.models
            ]
            continue
        slug = GENAI_PROVIDER_SLUGS.get(provider.id, provider.id)
        others = [p for p in makers if p is not provider and p.model_match is not None]
        for info in provider.models:
            model_id = f"{slug}/{info.id}"
            if "/" in info.id or any(p.model_match.is_match(info.id.lower()) for p in others):
                entries.append(Skipped(model_id, "another maker's model"))
                continue
            entries.append(
                _genai_entry(info, at, slug, model_id, provider.name, provider.pricing_urls)
            )
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
            entries.append(_genai_entry(info, at, info.id.split("/")[0], info.id, "", None))
    return entries


def _is_maker(provider_id: str) -> bool:
    return provider_id not in HOSTING_PLATFORMS and not provider_id.startswith("huggingface_")


def _genai_entry(info, at, slug, model_id, provider_name, urls) -> SourceModel | Skipped:
    prices = _genai_base_prices(info, at)
    base = {key: _base_tier(getattr(prices, key, None)) for key in _GENAI_KEYS}
    if base["input_mtok"] is None:
        return Skipped(model_id, "no per-token price")
    inputs = ["text"] + [
        m for m in ("image", "audio", "video") if getattr(prices, f"input_{m}_mtok")
    ]
    outputs = ["text"] + [m for m in ("image", "audio") if getattr(prices, f"output_{m}_mtok")]
    capabilities = {}
    if base["cache_read_mtok"] is not None:
        capabilities["supports_prompt_caching"] = True
    if "image" in inputs:
        capabilities["supports_vision"] = True
    return SourceModel(
        provider_slug=slug,
        provider_name=provider_name,
        website=urls[0] if urls else "",
        model_id=model_id,
        display_name=info.name or model_id.split("/", 1)[-1],
        description=info.description,
        kind=CatalogModel.Kind.CHAT
        if base["output_mtok"] is not None
        else CatalogModel.Kind.EMBEDDING,
        context_window=info.context_window,
        input_modalities=inputs if len(inputs) > 1 else None,
        output_modalities=outputs if len(outputs) > 1 else None,
        capabilities=capabilities,
        deprecated=bool(info.deprecated),
        input_price=base["input_mtok"],
        output_price=base["output_mtok"] or Decimal(0),
        cached_input_price=base["cache_read_mtok"] or Decimal(0),
        cache_write_price=base["cache_write_mtok"] or Decimal(0),
        aliases=(model_id.split("/", 1)[1],),
    )


_GENAI_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


def _genai_base_prices(info, at: datetime):
    """The standard prices in force on `at`'s day.

    Dated entries (a price change from a day) are honoured. Time-of-day entries
    (off-peak discounts) are not modelled: the highest of the day's rates is taken.
    """
    from genai_prices.types import ModelPrice, TimeOfDateConstraint

    if isinstance(info.prices, ModelPrice):
        return info.prices
    timed = [c.prices for c in info.prices if isinstance(c.constraint, TimeOfDateConstraint)]
    dated = [
        c.prices
        for c in info.prices
        if c.constraint is None
        or (not isinstance(c.constraint, TimeOfDateConstraint) and c.constraint.active(at))
    ]
    standard = dated[-1] if dated else info.prices[0].prices
    return max([standard, *timed], key=lambda p: _base_tier(getattr(p, "input_mtok", None)) or 0)


def _base_tier(price):
    """Prompt-size tiers are not modelled: a tiered price imports as its base tier."""
    return getattr(price, "base", price)


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
                input_price=per_million(pricing.get("prompt") or "0"),
                output_price=per_million(pricing.get("completion") or "0"),
                cached_input_price=per_million(pricing.get("input_cache_read") or "0"),
                cache_write_price=per_million(pricing.get("input_cache_write") or "0"),
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
        input_price=per_million(item["input_cost_per_token"]),
        output_price=per_million(item.get("output_cost_per_token", 0)),
        cached_input_price=per_million(item.get("cache_read_input_token_cost", 0)),
        cache_write_price=per_million(item.get("cache_creation_input_token_cost", 0)),
        aliases=(key,) if key != model_id else (),
    )


# --- Writing ---------------------------------------------------------------------------


def to_cny(usd: Decimal, *, rate: Decimal, markup_percent: Decimal) -> Decimal:
    """USD per million -> CNY per million at `rate`, plus the markup, to 8 places."""
    cny = usd * rate * (100 + markup_percent) / 100
    return cny.quantize(EIGHT_PLACES, rounding=ROUND_HALF_UP)


_DESCRIPTIVE_FIELDS = (
    "display_name", "description", "kind", "context_window", "max_output_tokens",
    "input_modalities", "output_modalities",
)  # fmt: skip


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
    """Write `entries` into the catalog; a price that differs from the model's current one
    (and from what this source said last time) becomes a new version from `effective_from`.

    A price staff set by hand stays until the source's own price changes.
    """
    summary = ImportSummary()
    providers = {p.slug: p for p in Provider.objects.all()}
    models = {m.model_id: m for m in CatalogModel.objects.all()}
    taken_ids = set(models) | set(ModelAlias.objects.values_list("alias", flat=True))
    latest: dict[int, PriceVersion] = {}
    latest_from_source: dict[int, PriceVersion] = {}
    for version in PriceVersion.objects.order_by("effective_from"):
        latest[version.model_id] = version
        if version.source == source:
            latest_from_source[version.model_id] = version

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
            _describe(model, entry, effective_from)
            model.save()
            taken_ids.add(model.model_id)
            summary.models_created += 1
        elif _describe(model, entry, effective_from):
            changed_models.add(model)
        for alias in entry.aliases:
            if alias not in taken_ids:
                taken_ids.add(alias)
                new_aliases.append(ModelAlias(alias=alias, model=model))

        version = PriceVersion(
            model=model,
            effective_from=effective_from,
            currency="CNY",
            source=source,
            created_by=actor.user,
            **{
                name: to_cny(getattr(entry, name), rate=usd_cny_rate, markup_percent=markup_percent)
                for name in PRICE_FIELDS
            },
        )
        current = latest.get(model.pk)
        if _same_prices(current, version) or _same_prices(
            latest_from_source.get(model.pk), version
        ):
            summary.versions_unchanged += 1
        elif current is not None and current.effective_from >= effective_from:
            summary.skipped["a later price version exists"].append(model.model_id)
        else:
            new_versions.append(version)
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
        changes={"after": {"source": source, "effective_from": effective_from, **summary.counts()}},
    )
    return summary


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


def _same_prices(version: PriceVersion | None, other: PriceVersion) -> bool:
    return version is not None and all(
        getattr(version, name) == getattr(other, name) for name in (*PRICE_FIELDS, "currency")
    )
