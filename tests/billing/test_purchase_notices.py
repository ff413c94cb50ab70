"""Unpaid purchase invoices (token packs, plan fees) are dunned as monthly invoices are: a
due-soon and an overdue notice, each once, saying what the invoice buys and that it is
delivered once paid; they never count towards a suspension for overdue invoices."""

from datetime import timedelta

import pytest
from django.conf import settings

from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice
from billing.packages.models import Entitlement
from billing.sales import plans as sales_plans
from billing.sales import services as sales
from notifications.models import Notification
from tests.billing.metering_world import build_world
from tests.billing.plan_data import plan_offer
from tests.billing.test_packages_store import domestic_pack
from tests.factories import as_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(db):
    return build_world()


def run_notices(invoice):
    for moment in (
        invoice.due_at - timedelta(days=1),
        invoice.due_at - timedelta(hours=1),
        invoice.due_at + timedelta(days=1),
        invoice.due_at + timedelta(days=2),
    ):
        invoicing.send_invoice_notices(now=moment)


def messages(event_type):
    return [str(n.message) for n in Notification.objects.filter(event_type=event_type)]


def test_an_unpaid_pack_is_dunned_once_and_stays_undelivered(world):
    purchase = sales.buy_pack(
        actor=as_actor(world.members["owner"]),
        organization=world.org,
        offer=domestic_pack(),
        from_balance=False,
    )
    invoice = purchase.invoice
    assert invoice.due_at == invoice.issued_at + timedelta(days=settings.INVOICE_PAYMENT_TERMS_DAYS)
    run_notices(invoice)
    for event_type in ("invoice.due_soon", "invoice.overdue"):
        sent = messages(event_type)
        assert sent  # the owner (and billing members), once each
        assert len(set(sent)) == 1
        assert "Token pack Domestic models 100M" in sent[0]
        assert "delivered once it is paid" in sent[0]
    invoice.refresh_from_db()
    assert invoice.due_soon_sent_at and invoice.overdue_sent_at
    assert invoice.status == Invoice.Status.ISSUED
    assert not Entitlement.objects.filter(source="pack").exists()
    assert invoicing.suspension_allowed_after(world.org) is None


def test_an_unpaid_plan_fee_is_dunned_with_its_period(world):
    subscription = sales_plans.subscribe(
        actor=as_actor(world.members["owner"]),
        organization=world.org,
        offer=plan_offer("300.00", tokens=1000),
        from_balance=False,
    )
    invoice = subscription.fees.get().invoice
    run_notices(invoice)
    [overdue] = set(messages("invoice.overdue"))
    assert "Plan Team," in overdue and invoice.number in overdue
