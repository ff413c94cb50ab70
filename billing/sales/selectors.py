"""What the packs pages and API read: the offers an organization may buy with their terms in
force, and a held pack's consumption and forecast.

Consumption by model and by department joins the pack's draws (EntitlementEntry, kept for
ever) to their usage events while those exist; draws whose events were purged after their
retention are counted apart ("older usage"), so the totals always add up to what was drawn."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import OuterRef, Subquery, Sum
from django.utils import timezone

from billing.metering.models import UsageEvent
from billing.packages.models import Entitlement, EntitlementEntry, Offer, OfferTerms
from billing.packages.selectors import covered_models, terms_in_force
from billing.sales.services import offered_packs, purchases_left

FORECAST_DAYS = 7  # the recent pace a forecast extrapolates


@dataclass
class OfferRow:
    offer: Offer
    terms: OfferTerms
    covered: list[str]  # model ids; empty when the scope is "all" or a region
    left: int | None  # purchases left, None: no limit


def offers_for(organization) -> list[OfferRow]:
    rows = []
    for offer in offered_packs(organization):
        terms = terms_in_force(offer)
        if terms is None:
            continue  # no price yet: not for sale
        covered = (
            list(covered_models(terms).order_by("model_id").values_list("model_id", flat=True))
            if terms.scope == OfferTerms.Scope.MODELS
            else []
        )
        rows.append(OfferRow(offer, terms, covered, purchases_left(organization, offer, terms)))
    return rows


def consumption(entitlement: Entitlement) -> dict[str, list[tuple[str | None, Decimal]]]:
    """Units drawn by model and by department (None: events purged, or no department)."""
    draws = EntitlementEntry.objects.filter(
        entitlement=entitlement, kind=EntitlementEntry.Kind.DRAW
    )
    event = UsageEvent.objects.filter(pk=OuterRef("event_id"))
    found = {}
    for name, column in (("model", "model__model_id"), ("department", "department__name")):
        rows = (
            draws.annotate(group=Subquery(event.values(column)[:1]))
            .values("group")
            .annotate(units=Sum("units"))
            .order_by("group")
        )
        found[name] = sorted(
            ((row["group"], -Decimal(row["units"])) for row in rows), key=lambda r: -r[1]
        )
    return found


@dataclass
class Forecast:
    per_day: Decimal
    runs_out_at: datetime | None  # None: not at this pace before it expires (or no use yet)


def forecast(entitlement: Entitlement, now: datetime | None = None) -> Forecast:
    """Linear: the last FORECAST_DAYS' draws (fewer days for a younger pack) per day,
    extrapolated over what remains. Nothing cleverer, and the page says so."""
    now = now or timezone.now()
    since = max(now - timedelta(days=FORECAST_DAYS), entitlement.starts_at)
    days = Decimal((now - since) / timedelta(days=1))
    drawn = EntitlementEntry.objects.filter(
        entitlement=entitlement, kind=EntitlementEntry.Kind.DRAW, created_at__gte=since
    ).aggregate(units=Sum("units"))["units"]
    per_day = -Decimal(drawn) / days if drawn and days > 0 else Decimal(0)
    if per_day <= 0 or entitlement.remaining <= 0:
        return Forecast(per_day, None)
    runs_out = now + timedelta(days=float(entitlement.remaining / per_day))
    return Forecast(per_day, runs_out if runs_out < entitlement.expires_at else None)
