"""Shared reads of the catalog: model resolution, the public shelf, model policies."""

import secrets
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Department
from billing.catalog.models import CatalogModel, ModelAlias, ModelPolicy, PriceVersion
from billing.catalog.pricing import CLASSES, RateCard, Schedule, schedule_of
from portal.money import format_unit_price
from projects.authorize import Refusal


def resolve_model(identifier: str) -> CatalogModel | None:
    """The catalog model reached by a model id or any of its aliases, in one query."""
    return (
        CatalogModel.objects.filter(Q(model_id=identifier) | Q(aliases__alias=identifier))
        .select_related("provider")
        .first()
    )


def resolve_models(identifiers) -> dict[str, CatalogModel]:
    """resolve_model() for many identifiers at once, in two queries: {identifier: model}.
    (An alias never shadows another model's id, so the two lookups cannot disagree.)"""
    identifiers = set(identifiers)
    found = {
        m.model_id: m
        for m in CatalogModel.objects.filter(model_id__in=identifiers).select_related("provider")
    }
    aliases = ModelAlias.objects.filter(alias__in=identifiers - found.keys())
    found.update({a.alias: a.model for a in aliases.select_related("model__provider")})
    return found


def catalog_models():
    """The public shelf: every model not retired, with its provider and current list prices
    (`list_input_price`, `list_output_price`, `list_cached_input_price`,
    `list_cache_write_price`, `list_request_price`, `list_conditions` annotations)."""
    current = PriceVersion.objects.filter(
        model=OuterRef("pk"), effective_from__lte=timezone.now()
    ).order_by("-effective_from")
    return (
        CatalogModel.objects.exclude(status=CatalogModel.Status.RETIRED)
        .select_related("provider")
        .annotate(
            list_input_price=Subquery(current.values("input_price")[:1]),
            list_output_price=Subquery(current.values("output_price")[:1]),
            list_cached_input_price=Subquery(current.values("cached_input_price")[:1]),
            list_cache_write_price=Subquery(current.values("cache_write_price")[:1]),
            list_request_price=Subquery(current.values("request_price")[:1]),
            list_conditions=Subquery(current.values("conditions")[:1]),
        )
    )


# --- Model policies ----------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRule:
    allow_listed: bool  # True: only what is listed; False: all but what is listed
    model_ids: frozenset[str]
    provider_slugs: frozenset[str]
    filed_only: bool

    def allows(self, model_id: str, provider_slug: str, is_filed: bool) -> bool:
        if self.filed_only and not is_filed:
            return False
        listed = model_id in self.model_ids or provider_slug in self.provider_slugs
        return listed if self.allow_listed else not listed


@dataclass(frozen=True)
class ModelPolicySnapshot:
    """The rules that apply to one department (or the organization): all must allow.

    Small, picklable and cacheable; the authorize call keeps it with the
    `policy_cache_version(organization_id)` it was loaded under.
    """

    rules: tuple[PolicyRule, ...] = ()

    def allows(self, model_id: str, provider_slug: str, is_filed: bool) -> bool:
        return all(rule.allows(model_id, provider_slug, is_filed) for rule in self.rules)


def _version_key(organization_id: int) -> str:
    return f"billing:model-policy-version:{organization_id}"


def _new_version() -> str:
    return secrets.token_hex(8)


def policy_cache_version(organization_id: int) -> str:
    """A token that changes whenever a policy of the organization changes.

    Random rather than a counter: if the cache loses the key, the new token never
    matches a snapshot cached before, so a stale policy is never served.
    """
    return cache.get_or_set(_version_key(organization_id), _new_version, None)


def bump_policy_cache_version(organization_id: int) -> None:
    cache.set(_version_key(organization_id), _new_version(), None)


def policy_cache_keys(organization_id: int, department_id: int | None) -> list[str]:
    """The cache entries model_policy_snapshot() reads: the version, then the snapshot."""
    return [
        _version_key(organization_id),
        f"billing:model-policy:{organization_id}:{department_id}",
    ]


def model_policy_snapshot(
    organization_id: int, department_id: int | None, found=cache
) -> ModelPolicySnapshot:
    """The effective model policy for a key of `department_id` (None: organization level).

    Cached with the organization's policy version read BEFORE the database, and believed
    only while that version is current, so it is fresh the moment a policy changes.
    `found` is anything with `get_many(keys)`: the cache, or entries the caller already
    fetched (the gateway's one round trip).
    """
    version_key, key = policy_cache_keys(organization_id, department_id)
    entries = found.get_many([version_key, key])
    version = entries.get(version_key) or policy_cache_version(organization_id)
    cached = entries.get(key)
    if cached is not None and cached[0] == version:
        return cached[1]
    snapshot = _load_snapshot(organization_id, department_id)
    cache.set(key, (version, snapshot), 3600)
    return snapshot


def _load_snapshot(organization_id: int, department_id: int | None) -> ModelPolicySnapshot:
    departments = set()
    if department_id is not None:
        parents = dict(
            Department.objects.filter(organization_id=organization_id).values_list(
                "id", "parent_id"
            )
        )
        while department_id is not None and department_id not in departments:
            departments.add(department_id)
            department_id = parents.get(department_id)
    policies = (
        ModelPolicy.objects.filter(organization_id=organization_id)
        .filter(Q(department__isnull=True) | Q(department_id__in=departments))
        .prefetch_related("catalog_models", "providers")
    )
    return ModelPolicySnapshot(
        rules=tuple(
            PolicyRule(
                allow_listed=policy.mode == ModelPolicy.Mode.ALLOW,
                model_ids=frozenset(m.model_id for m in policy.catalog_models.all()),
                provider_slugs=frozenset(p.slug for p in policy.providers.all()),
                filed_only=policy.filed_only,
            )
            for policy in policies
        )
    )


def catalog_rows():
    """Every catalog model and alias as authorize caches them (projects.authorize.use_catalog):
    (model id, callable, is_filed, provider slug, alias or None, kind)."""
    rows = CatalogModel.objects.values_list(
        "model_id", "status", "is_filed", "provider__slug", "aliases__alias", "kind"
    )
    for model_id, status, is_filed, provider, alias, kind in rows:
        yield model_id, status != CatalogModel.Status.RETIRED, is_filed, provider, alias, kind


def policy_keys(call) -> list[str]:
    return policy_cache_keys(call.key["organization_pk"], call.key["department_pk"])


def check_organization_policy(call, found) -> str | None:
    """Authorize check: the organization's and its departments' allow/deny lists and
    "filed models only"."""
    policy = model_policy_snapshot(call.key["organization_pk"], call.key["department_pk"], found)
    model = call.model
    allowed = policy.allows(model["model_id"], model["provider"], model["is_filed"])
    return None if allowed else Refusal.MODEL_NOT_ALLOWED


check_organization_policy.cache_keys = policy_keys


# --- Price conditions, as the catalog pages state them ------------------------------------

_CLASS_LABELS = {
    "input": gettext_lazy("input"),
    "output": gettext_lazy("output"),
    "cached_input": gettext_lazy("cached input"),
    "cache_write": gettext_lazy("cache write"),
}


def conditions_text(schedule: Schedule) -> list[str]:
    """One sentence per prompt-size tier and per time window of a version (CNY per million
    tokens; a window's card in full)."""
    lines = [_tiers_text(schedule.card)] if _thresholds(schedule.card) else []
    for window in schedule.windows:
        lines.append(
            _("%(start)s to %(end)s %(zone)s: %(prices)s")
            % {
                "start": f"{window.start:%H:%M}",
                "end": f"{window.end:%H:%M}",
                "zone": window.zone,
                "prices": _card_text(window.card),
            }
        )
        if _thresholds(window.card):
            lines.append(_tiers_text(window.card))
    return lines


def _rates(card: RateCard):
    return [(name, getattr(card, name)) for name in CLASSES if getattr(card, name) is not None]


def _thresholds(card: RateCard) -> list[int]:
    return sorted({start for _name, rate in _rates(card) for start, _price in rate.tiers})


def _yuan(price) -> str:
    return format_unit_price(price)


def _card_text(card: RateCard) -> str:
    parts = [f"{_CLASS_LABELS[name]} {_yuan(rate.base)}" for name, rate in _rates(card)]
    parts += [
        _("%(name)s at the input price") % {"name": _CLASS_LABELS[name]}
        for name in ("cached_input", "cache_write")
        if getattr(card, name) is None
    ]
    if card.request:
        parts.append(_("%(fee)s per request") % {"fee": _yuan(card.request)})
    return ", ".join(parts)


def _tiers_text(card: RateCard) -> str:
    return "; ".join(
        _("prompts over %(tokens)s tokens: %(prices)s")
        % {
            "tokens": f"{threshold:,}",
            "prices": ", ".join(
                f"{_CLASS_LABELS[name]} {_yuan(rate.at(threshold + 1))}"
                for name, rate in _rates(card)
            ),
        }
        for threshold in _thresholds(card)
    )


def invoice_terms(model: CatalogModel, start, end) -> list[str]:
    """What usage of `model` from `start` to `end` was priced with beyond its per-million
    rates (a fee per request, prompt-size tiers, time-of-day rates), for invoice lines."""
    first = model.prices.filter(effective_from__lte=start).order_by("-effective_from")[:1]
    later = model.prices.filter(effective_from__gt=start, effective_from__lt=end)
    terms = []
    for version in [*first, *later]:
        schedule = schedule_of(version)
        cards = [schedule.card, *(window.card for window in schedule.windows)]
        terms += [
            _("%(fee)s per request") % {"fee": _yuan(card.request)}
            for card in cards
            if card.request
        ]
        thresholds = sorted({t for card in cards for t in _thresholds(card)})
        if thresholds:
            terms.append(
                _("prompts over %(tokens)s tokens at a higher rate")
                % {"tokens": ", ".join(f"{t:,}" for t in thresholds)}
            )
        if schedule.windows:
            terms.append(_("time-of-day rates"))
    return list(dict.fromkeys(terms))
