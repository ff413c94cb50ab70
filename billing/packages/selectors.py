"""Read queries about offers and what they cover."""

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime
from decimal import Decimal

from django.db.models import F, OuterRef, Subquery, Sum
from django.utils import timezone

from billing.catalog.models import CatalogModel
from billing.metering.models import UsageEvent
from billing.packages.models import Offer, OfferTerms, UsageCoverage


def terms_in_force(offer: Offer, at: datetime | None = None) -> OfferTerms | None:
    return offer.terms.filter(effective_from__lte=at or timezone.now()).first()


def covered_models(terms: OfferTerms):
    models = CatalogModel.objects.all()
    if terms.scope == OfferTerms.Scope.MODELS:
        return models.filter(pk__in=terms.scope_models.all())
    if terms.scope == OfferTerms.Scope.REGION:
        return models.filter(provider__region=terms.scope_region)
    return models


def covered_model_ids(terms: Collection[OfferTerms]) -> dict[int, set[str]]:
    """The model ids each of the given terms covers, by terms id, for the terms scoped to
    listed models or a region (terms of all models are left out): at most two queries, one
    per kind of scope, whatever the number of terms."""
    listed = {t.pk for t in terms if t.scope == OfferTerms.Scope.MODELS}
    regions = {t.pk: t.scope_region for t in terms if t.scope == OfferTerms.Scope.REGION}
    found = {pk: set() for pk in listed}
    if listed:
        rows = OfferTerms.scope_models.through.objects.filter(offerterms_id__in=listed)
        for terms_id, model_id in rows.values_list("offerterms_id", "catalogmodel__model_id"):
            found[terms_id].add(model_id)
    if regions:
        by_region = defaultdict(set)
        rows = CatalogModel.objects.filter(provider__region__in=set(regions.values()))
        for region, model_id in rows.values_list("provider__region", "model_id"):
            by_region[region].add(model_id)
        found.update({pk: set(by_region[region]) for pk, region in regions.items()})
    return found


def taken_off_since(organization, start: datetime) -> Decimal:
    """What packs and the plan took off the cost of the organization's usage since `start`
    (covered, and the overage discount): usage cost less this is what it was charged."""
    events = UsageEvent.objects.for_org(organization).filter(occurred_at__gte=start)
    cost = events.filter(id=OuterRef("event_id")).values("cost_amount")
    total = (
        UsageCoverage.objects.for_org(organization)
        .filter(event_id__in=events.values("id"))
        .annotate(cost=Subquery(cost))
        .aggregate(total=Sum(F("cost") - F("charged_amount")))["total"]
    )
    return total or Decimal(0)
