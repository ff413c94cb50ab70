"""Packs and plan fees of an organization on the operator's consolidated bill: no invoice
of ours and nothing paid to us; each is a charge on the operator's bill with its VAT, served
at once, and the month's settlement lists it under packs or plan fees (a purchase invoice
paid to us before it joined the bill is not billed again)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent
from billing.invoicing.consolidated_models import OperatorCharge
from billing.invoicing.models import Invoice, LedgerEntry
from billing.managed import settlement as settlements
from billing.metering import services as metering
from billing.packages import plans
from billing.packages.models import Entitlement
from billing.sales import plans as sales_plans
from billing.sales import services as sales
from billing.sales.models import PlanFee, Purchase
from portal.periods import add_months, month_of, month_start
from tests.billing.metering_world import build_world
from tests.billing.plan_data import plan_offer
from tests.billing.test_packages_store import domestic_pack
from tests.factories import InvoiceFactory, OrganizationFactory, UserFactory, as_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    w = build_world(OrganizationFactory(payment_mode="postpaid", name="某市政务云"))
    settlements.set_consolidated_billing(
        actor=as_actor(UserFactory(is_staff=True)), organization=w.org, enabled=True,
        operator_account_number="0571-88886666",
    )  # fmt: skip
    return w


def owner(world):
    return as_actor(world.members["owner"])


def test_a_pack_is_charged_on_the_operator_bill_and_granted_at_once(world):
    offer = domestic_pack(limit=1)
    purchase = sales.buy_pack(
        actor=owner(world), organization=world.org, offer=offer, from_balance=False
    )
    charge = purchase.operator_charge
    assert purchase.invoice is None
    assert (charge.category, charge.subtotal_amount, charge.tax_amount, charge.total_amount) == (
        "pack", Decimal("5000.00"), Decimal("300.00"), Decimal("5300.00"),
    )  # fmt: skip
    pack = purchase.entitlement
    assert (pack.reference, pack.granted, pack.status) == (charge.public_id, 100_000_000, "active")
    # Nothing of ours to pay: no invoice, no ledger entry.
    assert not Invoice.objects.filter(organization=world.org).exists()
    assert not LedgerEntry.objects.filter(organization=world.org).exists()
    bought = AuditEvent.objects.get(action="packages.purchased")
    assert bought.changes["after"]["bill"] == charge.public_id
    # The purchase limit counts it.
    with pytest.raises(ValidationError, match="as often as it may"):
        sales.buy_pack(actor=owner(world), organization=world.org, offer=offer, from_balance=False)
    with pytest.raises(TypeError):  # immutable
        charge.save()


def test_paying_from_the_balance_is_refused_and_nothing_is_made(world):
    offer = domestic_pack()
    with pytest.raises(ValidationError) as refused:
        sales.buy_pack(actor=owner(world), organization=world.org, offer=offer, from_balance=True)
    assert "consolidated bill" in refused.value.message_dict["payment"][0]
    assert not Purchase.objects.exists() and not OperatorCharge.objects.exists()
    assert not Entitlement.objects.exists()


def test_plan_fees_are_charged_there_and_served_at_once(world):
    offer = plan_offer("300.00", tokens=1_000_000)
    subscription = sales_plans.subscribe(
        actor=owner(world), organization=world.org, offer=offer, from_balance=False
    )
    fee = PlanFee.objects.get(subscription=subscription)
    assert fee.invoice is None and fee.operator_charge.category == "plan_fee"
    left, granted = plans.allowance_in_force(subscription, timezone.now())
    assert left == granted > 0  # this month's allowance, pro rata, without a payment
    dearer = plan_offer("600.00", tokens=2_000_000, name="Business")
    upgrade = sales_plans.upgrade_now(
        actor=owner(world), subscription=subscription, offer=dearer, from_balance=False
    )
    subscription.refresh_from_db()
    assert upgrade.operator_charge is not None and subscription.offer == dearer
    assert not Invoice.objects.filter(organization=world.org).exists()
    with pytest.raises(ValidationError):
        sales_plans.upgrade_now(
            actor=owner(world), subscription=subscription, offer=dearer, from_balance=True
        )


def test_the_month_settlement_lists_the_charges_not_what_was_paid_to_us(world):
    sales.buy_pack(
        actor=owner(world), organization=world.org, offer=domestic_pack(), from_balance=False
    )
    sales_plans.subscribe(
        actor=owner(world), organization=world.org, offer=plan_offer("300.00", tokens=10**6),
        from_balance=False,
    )  # fmt: skip
    fee = OperatorCharge.objects.get(category="plan_fee")
    # Bought and paid to us before it joined the bill.
    InvoiceFactory(organization=world.org, kind=Invoice.Kind.PURCHASE,
                   status=Invoice.Status.PAID, subtotal_amount=Decimal("77.00"),
                   issued_at=timezone.now())  # fmt: skip
    [row] = settlements.build_settlement(month=month_of(timezone.now())).rows.all()
    assert (row.packs_amount, row.plan_fees_amount) == (Decimal("5000.00"), fee.subtotal_amount)
    assert row.tax_amount == Decimal("300.00") + fee.tax_amount  # no usage this month
    assert row.total_amount == row.subtotal_amount + row.tax_amount


def test_the_pages_and_the_api_say_where_it_is_billed(world, client_of):
    offer = domestic_pack(limit=2)
    web = client_of(world.members["owner"])
    buy = reverse("billing:pack-buy", args=[offer.public_id])
    page = web.get(buy).content.decode()
    assert "consolidated bill" in page and 'name="pay"' not in page
    bought = web.post(buy, {})
    pack = Entitlement.objects.get()
    assert bought["Location"] == reverse("billing:pack", args=[pack.public_id])
    purchase = pack.purchase
    detail = web.get(reverse("billing:pack-purchase", args=[purchase.public_id])).content.decode()
    assert purchase.operator_charge.public_id in detail and "¥5,300.00" in detail
    api = f"/api/v1/billing/offers/{offer.public_id}/buy"
    refused = web.post(api, {"pay_from_balance": True}, content_type="application/json")
    assert refused.status_code == 400 and "payment" in refused.json()["error"]["fields"]
    answer = web.post(api, {"pay_from_balance": False}, content_type="application/json").json()
    assert (answer["billed_on"], answer["invoice"], answer["total_amount"]) == (
        "operator_bill", None, "5300.00",
    )  # fmt: skip
    assert answer["operator_charge"].startswith("chg_") and answer["entitlement"]
    subscribe = reverse("billing:plan-subscribe", args=[plan_offer(tokens=10**6).public_id])
    assert 'name="pay"' not in web.get(subscribe).content.decode()
    assert web.post(subscribe, {})["Location"] == reverse("billing:plan")


def test_the_customer_reads_the_operator_bill_month_by_month(world, client_of):
    now = timezone.now()
    current = month_of(now)
    previous = add_months(current, -1)
    metering.ingest_usage(events=[
        world.event(key="a", at=month_start(previous) + timedelta(days=3),
                    input_tokens=1_000_000, output_tokens=0),  # 2.00
        world.event(key="a", at=now, input_tokens=500_000, output_tokens=0),  # 1.00
    ])  # fmt: skip
    metering.roll_up()
    settled = settlements.build_settlement(month=previous)
    sales.buy_pack(
        actor=owner(world), organization=world.org, offer=domestic_pack(), from_balance=False
    )
    reader = client_of(world.members["owner"])
    api = reader.get("/api/v1/billing/operator-bill").json()
    assert api["operator_account_number"] == "0571-88886666"
    this_month, last_month = api["months"]
    assert (this_month["month"], this_month["settled"]) == (f"{current:%Y-%m-%d}", False)
    assert (this_month["usage"], this_month["packs"], this_month["vat"]) == (
        "1.00", "5000.00", "300.06",
    )  # fmt: skip
    assert (last_month["settled"], last_month["usage"], last_month["total"]) == (
        True, "2.00", "2.12",
    )  # fmt: skip
    assert last_month["total"] == str(settled.rows.get().total_amount)
    [charge] = api["charges"]
    assert (charge["category"], charge["total_amount"]) == ("pack", "5300.00")
    page = reader.get(reverse("billing:operator-bill")).content.decode()
    assert "0571-88886666" in page and "¥5,301.06" in page and charge["id"] in page
    assert "So far, not settled yet" in page and "Sent to the operator" in page
    csv_text = b"".join(reader.get(reverse("billing:operator-bill-csv")).streaming_content)
    assert f"{previous:%Y-%m},yes,CNY,2.00,0.00,0.00,0.00,2.00,0.12,2.12" in csv_text.decode()
    billing_page = reader.get(reverse("billing:billing")).content.decode()
    assert reverse("billing:operator-bill") in billing_page
    # An organization on our invoices has no operator bill.
    elsewhere = client_of(build_world().members["owner"])
    assert elsewhere.get(reverse("billing:operator-bill")).status_code == 404
    assert elsewhere.get("/api/v1/billing/operator-bill").status_code == 404
    viewer = client_of(world.members["viewer"])  # no view_billing
    assert viewer.get(reverse("billing:operator-bill")).status_code == 403


def test_it_cannot_leave_the_bill_while_a_charge_waits_for_its_settlement(world):
    # Off before the month's settlement, the charge would be billed by no one: our invoices
    # do not bill it and the settlement reads organizations on the bill only.
    sales.buy_pack(
        actor=owner(world), organization=world.org, offer=domestic_pack(), from_balance=False
    )
    with pytest.raises(ValidationError) as refused:
        settlements.set_consolidated_billing(
            actor=as_actor(UserFactory(is_staff=True)), organization=world.org, enabled=False,
            operator_account_number="0571-88886666",
        )  # fmt: skip
    assert "charged on the operator's bill" in refused.value.message_dict["enabled"][0]
    [row] = settlements.build_settlement(month=month_of(timezone.now())).rows.all()
    assert row.packs_amount == Decimal("5000.00")
