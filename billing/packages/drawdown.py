"""Drawing usage from entitlements, exactly once, inside the ingestion transaction.

`draw_usage` is a usage consumer (billing.apps registers it after the quota counters and
before the balance charge). For each newly inserted event, in id order, it draws the
entitlements that cover it: packs before the plan's allowance, earliest expiry first, splitting
the event when one runs out. What no entitlement covers is charged at the organization's price
less the plan's overage discount. It records

- one EntitlementEntry (kind draw) per entitlement and event, unique on (entitlement, event):
  a retried batch inserts no event again, and if it did the constraint would refuse the draw;
- one UsageCoverage per event that an entitlement or a plan touched (covered, charged);
- `event.charged_amount` on the in-memory event, which ledger.charge_usage reads.

Concurrent batches of one organization take turns on its entitlements' row locks (taken in id
order, so they never deadlock).
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from django.db import transaction
from django.db.models import F

from accounts.models import Department
from billing.catalog.models import CatalogModel, PriceVersion
from billing.catalog.pricing import cost_of, priced_with
from billing.packages import gate, tasks
from billing.packages.models import (
    Entitlement,
    EntitlementEntry,
    OfferTerms,
    Subscription,
    UsageCoverage,
)

# Entitlement units (tokens, weighted ones with decimals, or CNY) and money values keep the ten
# places of usage costs, so splitting an event leaves no remainder worth a fen.
UNITS = MONEY = Decimal("0.0000000001")
TOKEN_CLASSES = {  # UsageEvent field -> weight key
    "input_tokens": "input",
    "cached_input_tokens": "cached",
    "cache_write_tokens": "cache_write",
    "output_tokens": "output",
}


@dataclass(frozen=True)
class Covered:
    """What a model of an event is, for the scope test."""

    model_id: str
    region: str


def ancestors(parents: dict, department_id: int | None) -> set[int]:
    """The department and those above it (`parents`: id -> parent id)."""
    chain = set()
    while department_id is not None and department_id not in chain:
        chain.add(department_id)
        department_id = parents.get(department_id)
    return chain


def covers(entitlement: Entitlement, model: Covered, model_pk: int, scope_models) -> bool:
    """Scope alone decides, weighted counting too: a model in scope that the terms froze no
    weight for (added to the catalog later) counts at the weight of its list price."""
    terms = entitlement.terms
    if terms.scope == OfferTerms.Scope.MODELS and model_pk not in scope_models[terms.pk]:
        return False
    return terms.scope != OfferTerms.Scope.REGION or model.region == terms.scope_region


def units_needed(
    entitlement: Entitlement, event, model: Covered, version: PriceVersion
) -> tuple[Decimal, dict | None]:
    """What the whole event would take from the entitlement, in its unit, and the weights
    derived for it (weighted counting of a model the terms froze no weight for: the weight
    of `version`, the list price the event was priced at; else None)."""
    if entitlement.unit == Entitlement.Unit.MONEY:
        return event.cost_amount, None
    terms = entitlement.terms
    if terms.counting == OfferTerms.Counting.ONE_TO_ONE:
        return Decimal(sum(getattr(event, field) for field in TOKEN_CLASSES)), None
    frozen = terms.weights.get(model.model_id)
    weights = frozen or terms.weights_at(version)
    units = sum(
        (Decimal(getattr(event, field)) * Decimal(weights[key]))
        for field, key in TOKEN_CLASSES.items()
    )
    return units, None if frozen else {model.model_id: weights}


def list_cost(event, versions: dict[int, PriceVersion]) -> Decimal:
    """The event's cost at list price (no discount): the value finance recognises."""
    return cost_of(
        price=priced_with(versions[event.price_version_id], Decimal(0)),
        at=event.occurred_at,
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
        cached_input_tokens=event.cached_input_tokens,
        cache_write_tokens=event.cache_write_tokens,
    )


def draw_order(entitlement: Entitlement):
    return (entitlement.source != Entitlement.Source.PACK, entitlement.expires_at, entitlement.id)


def draw_usage(events) -> None:
    if not events:
        return
    org_ids = {event.organization_id for event in events}
    earliest = min(event.occurred_at for event in events)
    held = list(
        Entitlement.objects.filter(
            organization_id__in=org_ids,
            status=Entitlement.Status.ACTIVE,
            expires_at__gt=earliest,
            consumed__lt=F("granted"),
        )
        .select_related("terms")
        .order_by("id")
        .select_for_update(of=("self",))
    )
    plans = _plans(org_ids)
    for event in events:
        event.charged_amount = event.cost_amount
    if not held and not plans:
        return
    by_org = defaultdict(list)
    for entitlement in sorted(held, key=draw_order):
        by_org[entitlement.organization_id].append(entitlement)
    scope_models = _scope_models({e.terms_id for e in held})
    models = {
        pk: Covered(model_id, region)
        for pk, model_id, region in CatalogModel.objects.filter(
            pk__in={event.model_id for event in events}
        ).values_list("pk", "model_id", "provider__region")
    }
    versions = PriceVersion.objects.in_bulk({event.price_version_id for event in events})
    parents = dict(
        Department.objects.filter(organization_id__in=list(by_org)).values_list("id", "parent_id")
    )
    entries, coverages = [], []
    for event in sorted(events, key=lambda e: e.id):
        chain = ancestors(parents, event.department_id)
        candidates = [
            e
            for e in by_org.get(event.organization_id, ())
            if e.starts_at <= event.occurred_at < e.expires_at
            and e.remaining > 0
            and (e.department_id is None or e.department_id in chain)
            and covers(e, models[event.model_id], event.model_id, scope_models)
        ]
        uncovered, drawn = Decimal(1), []
        value = list_cost(event, versions) if candidates else Decimal(0)
        for entitlement in candidates:
            need, derived = units_needed(
                entitlement, event, models[event.model_id], versions[event.price_version_id]
            )
            if need <= 0:
                continue
            take = min((need * uncovered).quantize(UNITS, ROUND_DOWN), entitlement.remaining)
            if take <= 0:
                break
            share = take / need
            uncovered = max(uncovered - share, Decimal(0))
            entitlement.consumed += take
            drawn.append(entitlement)
            entries.append(
                EntitlementEntry(
                    entitlement=entitlement,
                    organization_id=event.organization_id,
                    kind=EntitlementEntry.Kind.DRAW,
                    event_id=event.id,
                    units=-take,
                    value_amount=(value * share).quantize(MONEY),
                    derived_weights=derived,
                    created_at=event.ingested_at,
                )
            )
            if uncovered <= 0:
                break
        plan = plans.get(event.organization_id)
        discount = plan.terms.overage_discount_percent if _in_force(plan, event) else 0
        if not drawn and not discount:
            continue
        covered = (event.cost_amount * (1 - uncovered)).quantize(MONEY)
        charged = ((event.cost_amount - covered) * (100 - Decimal(discount)) / 100).quantize(MONEY)
        event.charged_amount = charged
        coverages.append(
            UsageCoverage(
                event_id=event.id,
                organization_id=event.organization_id,
                covered_amount=covered,
                charged_amount=charged,
            )
        )
    EntitlementEntry.objects.bulk_create(entries)
    UsageCoverage.objects.bulk_create(coverages)
    for entitlement in {entry.entitlement_id: entry.entitlement for entry in entries}.values():
        Entitlement.objects.filter(pk=entitlement.pk).update(consumed=entitlement.consumed)
    for org_id in {entry.organization_id for entry in entries}:
        gate.invalidate(org_id)
    if drawn_ids := sorted({entry.entitlement_id for entry in entries}):
        transaction.on_commit(lambda: tasks.announce_pack_usage.delay(drawn_ids))


def _plans(org_ids) -> dict[int, Subscription]:
    return {
        plan.organization_id: plan
        for plan in Subscription.objects.filter(
            organization_id__in=org_ids, status=Subscription.Status.ACTIVE
        ).select_related("terms")
    }


def _in_force(plan: Subscription | None, event) -> bool:
    """The plan's overage discount applies to time its fees have paid for, as its allowance
    does: none before the first fee is paid, nor in a renewed period still unpaid."""
    return (
        plan is not None
        and plan.paid_until is not None
        and plan.started_at <= event.occurred_at < plan.paid_until
    )


def _scope_models(terms_ids) -> dict[int, set[int]]:
    found = defaultdict(set)
    through = OfferTerms.scope_models.through
    for terms_id, model_id in through.objects.filter(offerterms_id__in=terms_ids).values_list(
        "offerterms_id", "catalogmodel_id"
    ):
        found[terms_id].add(model_id)
    return found


def covering(organization, *, model: CatalogModel, department_id: int | None, at: datetime):
    """The entitlements in force that would cover a call of `model` from a key of the
    department: what authorize allows on, and tells the gateway in its limits."""
    held = list(
        Entitlement.objects.for_org(organization)
        .in_force(at)
        .filter(consumed__lt=F("granted"))
        .select_related("terms")
    )
    if not held:
        return []
    parents = dict(
        Department.objects.filter(organization=organization).values_list("id", "parent_id")
    )
    chain = ancestors(parents, department_id)
    covered = Covered(model.model_id, model.provider.region)
    scope_models = _scope_models({e.terms_id for e in held})
    return sorted(
        (
            e
            for e in held
            if (e.department_id is None or e.department_id in chain)
            and covers(e, covered, model.pk, scope_models)
        ),
        key=draw_order,
    )
