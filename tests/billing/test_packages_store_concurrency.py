"""Purchases at the same moment: the purchase limit and the balance hold (the organization's
row and the running balance row are locked while a purchase is decided). Run it on
PostgreSQL too."""

import pytest
from django.core.exceptions import ValidationError

from billing.invoicing import ledger
from billing.packages.models import Entitlement
from billing.sales import services as sales
from billing.sales.models import Purchase
from tests.billing.invoicing_data import at_once
from tests.billing.metering_world import build_world
from tests.billing.test_packages_store import buyer, domestic_pack, top_up

WORKERS = 4


def buy_at_once(world, offer, *, from_balance):
    """Purchases started together; the refusals (ValidationError) they met."""
    refused = []

    def buy():
        try:
            sales.buy_pack(
                actor=buyer(world), organization=world.org, offer=offer, from_balance=from_balance
            )
        except ValidationError as error:
            refused.append(error)

    assert at_once([buy] * WORKERS) == []
    return refused


@pytest.fixture
def world(transactional_db):
    w = build_world()
    w.org.payment_mode = "prepaid"
    w.org.save()
    return w


def test_the_purchase_limit_holds_when_buying_at_once(world):
    refused = buy_at_once(world, domestic_pack(limit=1), from_balance=False)
    assert len(refused) == WORKERS - 1
    assert Purchase.objects.count() == 1


def test_the_balance_pays_only_what_it_covers_when_buying_at_once(world):
    top_up(world, "10600.00")  # two packs of 5,300.00
    refused = buy_at_once(world, domestic_pack(), from_balance=True)
    assert len(refused) == WORKERS - 2
    assert Entitlement.objects.count() == Purchase.objects.count() == 2
    assert ledger.balance(world.org) == 0
