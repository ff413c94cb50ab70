"""Plan fees on the purchase-invoice path: subscribing invoices the first period with VAT
and, once paid, grants this month's allowance; usage draws packs, then the allowance, then
the balance at the overage discount; the roll renews with the next fee (paid from a prepaid
balance) and the next allowance; an unpaid fee grants nothing until paid; upgrade now."""

from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from functools import partial

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.audit_trail import Actor
from billing.invoicing import ledger
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice, LedgerEntry
from billing.metering import services as metering
from billing.packages import plans
from billing.packages import services as packages
from billing.packages.models import Entitlement, Offer, OfferTerms, Subscription
from billing.packages.services import unreconciled_entitlements
from billing.sales import plans as sales_plans
from billing.sales import services as sales
from billing.sales.models import PlanFee
from portal.periods import month_bounds, month_of
from tests.billing.invoicing_data import at_once
from tests.billing.metering_world import build_world
from tests.billing.plan_data import plan_offer, prepaid
from tests.factories import as_actor

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")


@pytest.fixture
def world(db):
    return prepaid(build_world())


def owner(world):
    return as_actor(world.members["owner"])


def month_share(subscription):
    """The share of the first month left when the plan started, computed here apart."""
    start, end = month_bounds(month_of(subscription.started_at))
    return Decimal((end - subscription.started_at) / timedelta(microseconds=1)) / Decimal(
        (end - start) / timedelta(microseconds=1)
    )


def test_subscribing_invoices_the_first_fee_with_vat_and_grants_the_allowance(world):
    offer = plan_offer("300.00", tokens=1_000_000)
    subscription = sales_plans.subscribe(
        actor=owner(world), organization=world.org, offer=offer, from_balance=True
    )
    share = month_share(subscription)
    fee = PlanFee.objects.get(subscription=subscription)
    invoice = fee.invoice
    subtotal = (Decimal(300) * share).quantize(CENT, ROUND_HALF_UP)
    tax = (subtotal * Decimal("0.06")).quantize(CENT, ROUND_HALF_UP)
    assert (invoice.kind, invoice.status) == (Invoice.Kind.PURCHASE, Invoice.Status.PAID)
    assert (invoice.subtotal_amount, invoice.tax_amount, invoice.total_amount) == (
        subtotal,
        tax,
        subtotal + tax,
    )
    assert ledger.balance(world.org) == Decimal("1000.00") - subtotal - tax
    [allowance] = Entitlement.objects.for_org(world.org).filter(source="plan")
    assert allowance.granted == (Decimal(1_000_000) * share).quantize(Decimal(1), ROUND_DOWN)
    assert allowance.expires_at == month_bounds(month_of(subscription.started_at))[1]
    with pytest.raises(ValidationError):  # one plan per organization
        sales_plans.subscribe(
            actor=owner(world), organization=world.org, offer=offer, from_balance=True
        )


def test_usage_draws_packs_then_the_allowance_then_the_balance_at_the_discount(world):
    # chat-1 calls cost 0.0036 each (1,000 in at 2, 200 out at 8 CNY per million).
    offer = plan_offer("0.00", credit=Decimal("0.01"), discount=25)
    sales_plans.subscribe(
        actor=owner(world), organization=world.org, offer=offer, from_balance=True
    )
    allowance = Entitlement.objects.get(source="plan")
    allowance_left = allowance.granted
    assert 0 < allowance_left <= Decimal("0.01")
    pack_offer = Offer.objects.create(kind=Offer.Kind.PACK, name_en="P", name_zh="包")
    pack_terms = packages.save_terms(
        actor=Actor.system(),
        terms=OfferTerms(
            offer=pack_offer,
            effective_from=timezone.now() - timedelta(days=1),
            price_amount=Decimal("1.00"),
            token_amount=1200,
            scope=OfferTerms.Scope.ALL,
            validity_days=30,
        ),
    )
    pack = packages.grant_pack(organization=world.org, terms=pack_terms, reference="pk")
    before = ledger.balance(world.org)
    calls = 2 + int(allowance_left / Decimal("0.0036")) + 1  # past the pack and the allowance
    for _ in range(calls):
        metering.ingest_usage(events=[world.event(at=timezone.now())])
    pack.refresh_from_db()
    allowance.refresh_from_db()
    assert pack.consumed == 1200  # the first call
    assert allowance.consumed == allowance.granted
    overage = Decimal("0.0036") * (calls - 1) - allowance.granted
    assert before - ledger.balance(world.org) == (overage * Decimal("0.75")).quantize(
        Decimal("0.0000000001")
    )
    assert unreconciled_entitlements() == []


def test_no_overage_discount_before_the_fee_is_paid(world):
    offer = plan_offer("300.00", credit=Decimal("0.01"), discount=50)
    subscription = sales_plans.subscribe(
        actor=owner(world), organization=world.org, offer=offer, from_balance=False
    )
    before = ledger.balance(world.org)
    metering.ingest_usage(events=[world.event(at=timezone.now())])
    assert before - ledger.balance(world.org) == Decimal("0.0036")  # the full price
    fee = PlanFee.objects.get(subscription=subscription)
    sales.pay_invoice_from_balance(invoice=fee.invoice)
    paid = ledger.balance(world.org)
    calls = 1 + int(Decimal("0.01") / Decimal("0.0036")) + 1  # past this month's allowance
    for _ in range(calls):
        metering.ingest_usage(events=[world.event(at=timezone.now())])
    allowance = Entitlement.objects.get(source="plan")
    overage = Decimal("0.0036") * calls - allowance.granted
    assert paid - ledger.balance(world.org) == (overage / 2).quantize(Decimal("0.0000000001"))


def test_the_roll_renews_with_the_next_fee_paid_from_the_balance_and_grants_once(world):
    offer = plan_offer("300.00", tokens=1_000_000)
    subscription = sales_plans.subscribe(
        actor=owner(world), organization=world.org, offer=offer, from_balance=True
    )
    boundary = subscription.current_period_end
    for minutes in (5, 15):  # the roll runs twice
        plans.roll(boundary + timedelta(minutes=minutes))
    subscription.refresh_from_db()
    assert subscription.current_period_start == boundary
    renewal = PlanFee.objects.get(subscription=subscription, period_start=boundary)
    assert (renewal.invoice.subtotal_amount, renewal.invoice.total_amount) == (
        Decimal("300.00"),
        Decimal("318.00"),
    )
    assert renewal.invoice.status == Invoice.Status.PAID
    assert PlanFee.objects.filter(subscription=subscription).count() == 2
    allowances = Entitlement.objects.filter(source="plan").order_by("starts_at")
    assert [(a.starts_at, a.granted) for a in allowances][1:] == [(boundary, 1_000_000)]
    assert allowances[0].status == Entitlement.Status.EXPIRED  # last month's: breakage
    charges = LedgerEntry.objects.for_org(world.org).filter(kind="invoice")
    assert charges.count() == 2


def test_an_unpaid_fee_grants_nothing_until_a_payment_covers_it(world):
    world.org.payment_mode = "postpaid"
    world.org.save()
    offer = plan_offer("300.00", tokens=1_000_000)
    subscription = sales_plans.subscribe(
        actor=owner(world), organization=world.org, offer=offer, from_balance=False
    )
    fee = PlanFee.objects.get(subscription=subscription)
    assert fee.invoice.status == Invoice.Status.ISSUED
    plans.roll(timezone.now())
    assert not Entitlement.objects.filter(source="plan").exists()
    invoicing.record_payment(
        actor=Actor.system(),
        organization=world.org,
        amount=fee.invoice.total_amount,
        provider="bank",
        reference="tx-1",
        invoice=fee.invoice,
    )
    assert Entitlement.objects.filter(source="plan").count() == 1
    subscription.refresh_from_db()
    assert subscription.paid_until == subscription.current_period_end


def test_upgrade_now_invoices_the_difference_and_adds_the_allowance_once_paid(world):
    subscription = sales_plans.subscribe(
        actor=owner(world),
        organization=world.org,
        offer=plan_offer("300.00", tokens=1_000_000),
        from_balance=True,
    )
    big = plan_offer("900.00", tokens=4_000_000, name="Big")
    fee = sales_plans.upgrade_now(
        actor=owner(world), subscription=subscription, offer=big, from_balance=True
    )
    assert fee.invoice.status == Invoice.Status.PAID
    assert fee.invoice.subtotal_amount > 0
    subscription.refresh_from_db()
    assert subscription.offer == big
    extra = Entitlement.objects.get(reference__contains=":up")
    assert extra.granted == fee.extra_allowance > 0
    assert Subscription.objects.get().terms.token_amount == 4_000_000


def test_a_renewal_the_balance_cannot_pay_waits_and_grants_nothing(world):
    subscription = sales_plans.subscribe(
        actor=owner(world),
        organization=world.org,
        offer=plan_offer("900.00", tokens=1_000_000),
        from_balance=True,
    )
    assert ledger.balance(world.org) < Decimal("954.00")  # the next fee with VAT
    boundary = subscription.current_period_end
    plans.roll(boundary + timedelta(minutes=5))
    renewal = PlanFee.objects.get(subscription=subscription, period_start=boundary)
    assert renewal.invoice.status == Invoice.Status.ISSUED
    assert not Entitlement.objects.filter(source="plan", starts_at=boundary).exists()
    subscription.refresh_from_db()
    assert subscription.paid_until == boundary


@pytest.mark.django_db(transaction=True)
def test_rolls_running_at_once_renew_invoice_and_grant_once():
    """Four workers roll at the same boundary: one renewal, one fee invoice paid once, one
    allowance (the subscription's row lock; PostgreSQL)."""
    w = prepaid(build_world())
    subscription = sales_plans.subscribe(
        actor=owner(w), organization=w.org, offer=plan_offer("300.00", tokens=1000),
        from_balance=True,
    )  # fmt: skip
    boundary = subscription.current_period_end
    later = boundary + timedelta(minutes=5)
    assert at_once([partial(plans.roll, later) for _ in range(4)]) == []
    assert PlanFee.objects.filter(subscription=subscription, period_start=boundary).count() == 1
    assert Entitlement.objects.filter(source="plan", starts_at=boundary).count() == 1
    assert LedgerEntry.objects.for_org(w.org).filter(kind="invoice").count() == 2
    assert unreconciled_entitlements() == []
