"""Read queries about offers and what they cover."""

from datetime import datetime

from django.utils import timezone

from billing.catalog.models import CatalogModel
from billing.packages.models import Offer, OfferTerms


def terms_in_force(offer: Offer, at: datetime | None = None) -> OfferTerms | None:
    return offer.terms.filter(effective_from__lte=at or timezone.now()).first()


def covered_models(terms: OfferTerms):
    models = CatalogModel.objects.all()
    if terms.scope == OfferTerms.Scope.MODELS:
        return models.filter(pk__in=terms.scope_models.all())
    if terms.scope == OfferTerms.Scope.REGION:
        return models.filter(provider__region=terms.scope_region)
    return models
