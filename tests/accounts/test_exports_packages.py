"""The data export's packs and plans: purchases (billed by our invoice, or by a charge on the
operator's consolidated bill), entitlements and their token ledger, plans and plan fees, and
the charges on the operator's bill; never another organization's rows."""

from decimal import Decimal

import pytest

from accounts.audit_trail import Actor
from billing.invoicing.consolidated_models import OperatorCharge
from billing.managed import settlement as settlements
from billing.metering import services as metering
from billing.packages.models import Entitlement, EntitlementEntry
from billing.sales import plans as sales_plans
from billing.sales import services as sales
from billing.sales.models import PlanFee
from tests.accounts.test_exports_finance import archive_of, rows
from tests.billing.metering_world import build_world
from tests.billing.plan_data import plan_offer
from tests.billing.test_packages_store import domestic_pack, top_up
from tests.factories import OrganizationFactory, UserFactory, as_actor

pytestmark = pytest.mark.django_db

PACKAGE_FILES = (
    "purchases.csv",
    "entitlements.csv",
    "entitlement_entries.csv",
    "subscriptions.csv",
    "plan_fees.csv",
    "operator_charges.csv",
)


def on_operator_bill():
    """An organization on the consolidated bill with a pack and a plan charged there, and one
    call drawn from them."""
    w = build_world(OrganizationFactory(payment_mode="postpaid", name="某市政务云"))
    settlements.set_consolidated_billing(
        actor=as_actor(UserFactory(is_staff=True)), organization=w.org, enabled=True,
        operator_account_number="0571-88886666",
    )  # fmt: skip
    owner = as_actor(w.members["owner"])
    w.purchase = sales.buy_pack(
        actor=owner, organization=w.org, offer=domestic_pack(), from_balance=False
    )
    w.subscription = sales_plans.subscribe(
        actor=owner, organization=w.org, offer=plan_offer("300.00", tokens=10**6),
        from_balance=False,
    )  # fmt: skip
    metering.ingest_usage(events=[w.event(request_id="req-operator-bill")])
    return w


def invoiced_and_credited():
    """A prepaid organization with a pack paid by invoice, one call drawn from it, then
    credited by staff."""
    w = build_world(OrganizationFactory(payment_mode="prepaid", name="乙公司"))
    top_up(w, "6000.00")
    w.purchase = sales.buy_pack(
        actor=as_actor(w.members["owner"]), organization=w.org, offer=domestic_pack(),
        from_balance=True,
    )  # fmt: skip
    metering.ingest_usage(events=[w.event(request_id="req-invoiced")])
    w.note = sales.credit_purchase(actor=Actor.system(), purchase=w.purchase, reason="refund")
    return w


def test_packs_plans_and_operator_charges_of_the_organization_only():
    a, b = on_operator_bill(), invoiced_and_credited()

    archive = archive_of(a.org)
    (purchase,) = rows(archive, "purchases.csv")
    charge = a.purchase.operator_charge
    pack = a.purchase.entitlement
    assert Decimal(purchase.pop("total_amount")) == Decimal("5300.00")  # SQLite: "5300"
    assert purchase == {
        "id": a.purchase.public_id,
        "offer_id": a.purchase.offer.public_id,
        "offer": "Domestic models 100M",
        "bought_at": a.purchase.created_at.isoformat(),
        "invoice": "",
        "operator_charge_id": charge.public_id,
        "currency": "CNY",
        "status": "charged",
        "credit_note": "",
        "entitlement_id": pack.public_id,
    }
    entitlements = {row["id"]: row for row in rows(archive, "entitlements.csv")}
    allowance = Entitlement.objects.get(subscription=a.subscription)
    assert set(entitlements) == {pack.public_id, allowance.public_id}
    assert (entitlements[pack.public_id]["source"], entitlements[pack.public_id]["reference"]) == (
        "pack", charge.public_id,
    )  # fmt: skip
    drawn = Entitlement.objects.get(consumed__gt=0, organization=a.org)  # pack before plan
    used = entitlements[drawn.public_id]
    assert Decimal(used["consumed"]) == drawn.consumed
    assert Decimal(used["remaining"]) == drawn.granted - drawn.consumed
    assert entitlements[allowance.public_id]["subscription_id"] == a.subscription.public_id
    entries = rows(archive, "entitlement_entries.csv")
    assert len(entries) == EntitlementEntry.objects.filter(organization=a.org).count() == 3
    (draw,) = [row for row in entries if row["kind"] == "draw"]
    assert (draw["entitlement_id"], draw["request_id"]) == (drawn.public_id, "req-operator-bill")
    assert Decimal(draw["units"]) == -drawn.consumed

    (subscription,) = rows(archive, "subscriptions.csv")
    assert (subscription["id"], subscription["status"]) == (a.subscription.public_id, "active")
    (fee,) = rows(archive, "plan_fees.csv")
    fee_charge = PlanFee.objects.get(subscription=a.subscription).operator_charge
    assert (fee["kind"], fee["operator_charge_id"], fee["status"]) == (
        "period", fee_charge.public_id, "charged",
    )  # fmt: skip
    charges = {row["id"]: row for row in rows(archive, "operator_charges.csv")}
    assert set(charges) == {charge.public_id, fee_charge.public_id}
    assert {k: charges[charge.public_id][k] for k in ("category", "subtotal_amount", "tax_rate",
                                                      "tax_amount", "total_amount")} == {
        "category": "pack", "subtotal_amount": "5000.00", "tax_rate": "0.0600",
        "tax_amount": "300.00", "total_amount": "5300.00",
    }  # fmt: skip

    everything = b"".join(archive.read(name) for name in archive.namelist())
    b_pack = b.purchase.entitlement
    for secret in (b.purchase.public_id, b.purchase.invoice.number, b.note.number,
                   b_pack.public_id, "req-invoiced"):  # fmt: skip
        assert secret.encode() not in everything, secret

    b_archive = archive_of(b.org)
    (credited,) = rows(b_archive, "purchases.csv")
    assert (credited["invoice"], credited["operator_charge_id"], credited["status"]) == (
        b.purchase.invoice.number, "", "paid",
    )  # fmt: skip
    assert credited["credit_note"] == b.note.number
    assert Decimal(credited["total_amount"]) == b.purchase.invoice.total_amount
    (b_entitlement,) = rows(b_archive, "entitlements.csv")
    assert (b_entitlement["id"], b_entitlement["status"]) == (b_pack.public_id, "expired")
    kinds = sorted(row["kind"] for row in rows(b_archive, "entitlement_entries.csv"))
    assert kinds == ["draw", "expiry", "grant"]
    for name in ("subscriptions.csv", "plan_fees.csv", "operator_charges.csv"):
        assert rows(b_archive, name) == [], name
    everything = b"".join(b_archive.read(name) for name in b_archive.namelist())
    for secret in (a.purchase.public_id, charge.public_id, fee_charge.public_id,
                   pack.public_id, allowance.public_id, a.subscription.public_id,
                   "req-operator-bill"):  # fmt: skip
        assert secret.encode() not in everything, secret
    assert OperatorCharge.objects.count() == 2


def test_the_readme_lists_every_file():
    readme = archive_of(OrganizationFactory()).read("README.txt").decode()
    for name in PACKAGE_FILES:
        assert name in readme, name
