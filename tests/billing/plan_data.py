"""Plans for the plan tests: `plan_offer()` publishes a monthly plan with terms in force since
yesterday; `prepaid(world)` makes a metering world prepaid with 1,000.00 on its balance."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from accounts.audit_trail import Actor
from billing.packages import services as packages
from billing.packages.models import Offer, OfferTerms
from tests.factories import LedgerEntryFactory


def plan_offer(price="300.00", *, tokens=None, credit=None, discount=0, commitment=0,
               name="Team", **offer):  # fmt: skip
    offer = Offer.objects.create(
        kind=Offer.Kind.PLAN, name_en=name, name_zh=f"{name}版", is_published=True, **offer
    )
    packages.save_terms(
        actor=Actor.system(),
        terms=OfferTerms(
            offer=offer,
            effective_from=timezone.now() - timedelta(days=1),
            price_amount=Decimal(price),
            token_amount=tokens,
            credit_amount=credit,
            scope=OfferTerms.Scope.ALL,
            period=OfferTerms.Period.MONTH,
            overage_discount_percent=Decimal(discount),
            commitment_months=commitment,
        ),
    )
    return offer


def prepaid(world):
    world.org.payment_mode = "prepaid"
    world.org.save()
    LedgerEntryFactory(organization=world.org, kind="top_up", amount=Decimal("1000.00"))
    return world
