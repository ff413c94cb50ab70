"""Undoing a pack purchase: a billing manager cancels an unpaid one (page and API: its invoice
voided, the limit freed, a late payment delivers nothing); staff credit a paid one in the
console (a credit note pro rata to the tokens left, rounded down to the fen, those tokens
revoked at once, the ledger credited, the holders told), once. A cancel racing a payment,
and credits racing each other, end one way (run on PostgreSQL too)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone, translation

from accounts.audit_trail import Actor
from accounts.models import AuditEvent
from accounts.permissions import Role
from billing.invoicing import ledger
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice, LedgerEntry
from billing.metering import services as metering
from billing.packages import reports
from billing.packages import services as packages
from billing.packages.models import Entitlement, EntitlementEntry
from billing.sales import services as sales
from notifications.models import Notification
from notifications.webhooks import EVENT_TYPES
from tests.billing.invoicing_data import at_once
from tests.billing.metering_world import build_world
from tests.billing.test_packages_store import (
    HUNDRED_MILLION,
    buyer,
    domestic_pack,
    top_up,
    world,  # noqa: F401 (fixture)
)
from tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

CANCELLED = "Cancelled by the customer"


def open_purchase(w, offer=None):
    return sales.buy_pack(
        actor=buyer(w), organization=w.org, offer=offer or domestic_pack(),
        from_balance=False,
    )  # fmt: skip


def paid_purchase(w):
    top_up(w, "6000.00")
    return sales.buy_pack(
        actor=buyer(w), organization=w.org, offer=domestic_pack(), from_balance=True
    )


def billing_member(w):
    return MembershipFactory(organization=w.org, role=Role.BILLING)


# --- Cancelling an unpaid purchase (customers) ---------------------------------------------


def test_a_billing_manager_cancels_an_open_purchase_from_its_page(client_of, world):  # noqa: F811
    offer = domestic_pack(limit=1)
    purchase = open_purchase(world, offer)
    assert sales.purchases_left(world.org, offer, offer.terms.get()) == 0
    page_url = reverse("billing:pack-purchase", args=[purchase.public_id])
    cancel = reverse("billing:pack-purchase-cancel", args=[purchase.public_id])
    manager = client_of(billing_member(world))
    assert "Cancel the purchase" in manager.get(page_url).content.decode()
    viewer = client_of(world.members["viewer"])
    assert viewer.post(cancel).status_code == 403
    done = manager.post(cancel)
    assert done["Location"] == page_url
    invoice = Invoice.objects.get(pk=purchase.invoice_id)
    assert (invoice.status, invoice.void_reason) == (Invoice.Status.VOID, CANCELLED)
    assert sales.purchases_left(world.org, offer, offer.terms.get()) == 1  # the limit is freed
    assert AuditEvent.objects.filter(action="packages.purchase_cancelled").count() == 1
    assert AuditEvent.objects.filter(action="billing.invoice_voided").count() == 1
    page = manager.get(page_url).content.decode()
    assert CANCELLED in page and "Cancel the purchase" not in page
    again = manager.post(cancel)
    assert again.status_code == 400
    assert "Only an unpaid purchase can be cancelled (this one: Void)." in again.content.decode()
    assert not LedgerEntry.objects.filter(organization=world.org).exists()


def test_a_paid_purchase_is_not_cancelled_and_nothing_changes(client_of, world):  # noqa: F811
    purchase = paid_purchase(world)
    owner = client_of(world.members["owner"])
    page = owner.get(reverse("billing:pack-purchase", args=[purchase.public_id]))
    assert "Cancel the purchase" not in page.content.decode()
    refused = owner.post(reverse("billing:pack-purchase-cancel", args=[purchase.public_id]))
    assert refused.status_code == 400
    assert "Only an unpaid purchase can be cancelled (this one: Paid)." in (
        refused.content.decode()
    )
    purchase.refresh_from_db()
    assert purchase.invoice.status == Invoice.Status.PAID
    assert purchase.entitlement.status == Entitlement.Status.ACTIVE
    assert ledger.balance(world.org) == Decimal("700.00")
    assert not AuditEvent.objects.filter(action="packages.purchase_cancelled").exists()


def test_the_api_cancels_an_open_purchase_and_refuses_a_paid_one(client_of, world):  # noqa: F811
    purchase = open_purchase(world)
    api = client_of(world.members["owner"])
    url = f"/api/v1/billing/purchases/{purchase.public_id}/cancel"
    assert client_of(world.members["viewer"]).post(url).status_code == 403
    other = build_world(OrganizationFactory())
    assert client_of(other.members["owner"]).post(url).status_code == 404
    done = api.post(url)
    assert done.status_code == 200
    assert (done.json()["id"], done.json()["invoice_status"]) == (purchase.public_id, "void")
    again = api.post(url)
    assert again.status_code == 400
    assert again.json()["error"]["fields"] == {
        "non_field_errors": ["Only an unpaid purchase can be cancelled (this one: Void)."]
    }
    paid = paid_purchase(world)
    refused = api.post(f"/api/v1/billing/purchases/{paid.public_id}/cancel")
    assert refused.status_code == 400
    paid.refresh_from_db()
    assert (paid.invoice.status, paid.entitlement.status) == ("paid", "active")


def test_a_payment_arriving_after_the_cancel_delivers_nothing(world):  # noqa: F811
    purchase = open_purchase(world)
    sales.cancel_purchase(actor=buyer(world), purchase=purchase)
    invoice = Invoice.objects.get(pk=purchase.invoice_id)
    invoicing.mark_paid(invoice=invoice)  # claims issued invoices only: nothing happens
    invoicing.record_payment(
        actor=Actor.system(), organization=world.org, amount=invoice.total_amount,
        provider="bank_transfer", reference="B-late", invoice=invoice,
    )  # fmt: skip
    purchase.refresh_from_db()
    assert purchase.invoice.status == Invoice.Status.VOID
    assert purchase.entitlement is None and not Entitlement.objects.exists()
    assert ledger.balance(world.org) == Decimal("5300.00")  # the money stays on the balance
    with pytest.raises(ValidationError, match="not open for payment"):
        sales.pay_invoice_from_balance(invoice=invoice)


# --- Crediting a paid purchase (staff) ------------------------------------------------------


def test_staff_credit_a_paid_pack_pro_rata_and_its_tokens_left_are_revoked(
    client, staff_user, world,  # noqa: F811
):  # fmt: skip
    purchase = paid_purchase(world)
    pack = purchase.entitlement
    metering.ingest_usage(events=[world.event(input_tokens=1100, output_tokens=0)])
    pack.refresh_from_db()
    left = HUNDRED_MILLION - 1100
    assert (pack.consumed, ledger.balance(world.org)) == (1100, Decimal("700.00"))
    change = client.get(reverse("admin:billing_purchase_change", args=[purchase.pk]))
    assert "Credit the unused tokens" in change.content.decode()
    url = reverse("admin:billing_purchase_credit", args=[purchase.pk])
    assert client.post(url, {"reason": "Service complaint"}).status_code == 302

    note = Invoice.objects.get(kind=Invoice.Kind.CREDIT_NOTE)
    # 5,000.00 x 99,998,900 / 100,000,000 = 4,999.945: rounded down to 4,999.94 (never more
    # than the unused share); VAT at the purchase invoice's 6 %: 299.9964 -> 300.00.
    assert note.credited_invoice_id == purchase.invoice_id
    assert (note.subtotal_amount, note.tax_rate, note.tax_amount, note.total_amount) == (
        Decimal("-4999.94"), Decimal("0.0600"), Decimal("-300.00"), Decimal("-5299.94"),
    )  # fmt: skip
    assert "Service complaint (99,998,900 unused tokens revoked)" in note.lines.get().description
    credit = LedgerEntry.objects.get(kind=LedgerEntry.Kind.CREDIT_NOTE)
    assert (credit.amount, credit.invoice) == (Decimal("5299.94"), note)
    assert ledger.balance(world.org) == Decimal("5999.94")

    pack.refresh_from_db()
    assert pack.status == Entitlement.Status.EXPIRED
    assert pack.expires_at <= timezone.now()
    closed = EntitlementEntry.objects.get(entitlement=pack, kind=EntitlementEntry.Kind.EXPIRY)
    assert (closed.units, closed.value_amount) == (-left, Decimal("0.005"))  # breakage left
    assert packages.unreconciled_entitlements() == []
    assert reports.deferred_revenue(timezone.now() + timedelta(seconds=1)) == 0

    audit = AuditEvent.objects.get(action="packages.purchase_credited", actor=staff_user)
    assert audit.changes["after"]["credit_note"] == note.number
    assert audit.changes["after"]["net"] == "4999.94"
    [told] = Notification.objects.filter(event_type="pack.credited")  # the owner's bell
    with translation.override("en"):
        assert told.subject == "Your token pack Domestic models 100M was credited"
        assert f"Credit note {note.number} credits ¥5,299.94 for the 99,998,900" in told.message
    assert "pack.credited" in EVENT_TYPES

    # Later calls are no longer covered by the pack.
    metering.ingest_usage(events=[world.event()])
    pack.refresh_from_db()
    assert pack.consumed == 1100

    # A second credit is refused, with nothing made.
    again = client.post(url, {"reason": "Twice"})
    assert again.status_code == 200
    assert f"This purchase is already credited ({note.number})." in again.content.decode()
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count() == 1


def test_only_a_paid_pack_with_tokens_left_is_credited(world):  # noqa: F811
    staff = Actor.system()
    unpaid = open_purchase(world)
    with pytest.raises(ValidationError, match="Only a paid pack purchase can be credited"):
        sales.credit_purchase(actor=staff, purchase=unpaid, reason="refund")
    with pytest.raises(ValidationError, match="credited from its purchase"):
        invoicing.create_credit_note(  # the monthly path does not take purchase invoices
            actor=staff, invoice=unpaid.invoice, net_amount=Decimal("1"), reason="refund"
        )
    paid = paid_purchase(world)
    Entitlement.objects.filter(pk=paid.entitlement_id).update(consumed=HUNDRED_MILLION)
    with pytest.raises(ValidationError, match="Nothing is left of this pack"):
        sales.credit_purchase(actor=staff, purchase=paid, reason="refund")
    with pytest.raises(ValidationError, match="Give a reason"):
        sales.credit_purchase(actor=staff, purchase=paid, reason=" ")
    assert not Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).exists()
    assert not EntitlementEntry.objects.filter(kind=EntitlementEntry.Kind.EXPIRY).exists()


def test_a_monthly_credit_note_of_a_purchase_invoice_says_where_it_is_credited(
    client, staff_user, world,  # noqa: F811
):  # fmt: skip
    paid = paid_purchase(world)
    url = reverse("admin:billing_invoice_credit", args=[paid.invoice_id])
    page = client.post(url, {"net_amount": "100.00", "reason": "refund"})
    assert page.status_code == 200
    assert (
        "A purchase invoice is credited from its purchase: staff console → Purchases → the "
        "purchase → Credit the unused tokens." in page.content.decode()
    )
    assert not Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).exists()


# --- At the same moment (PostgreSQL: row locks) ---------------------------------------------


@pytest.fixture
def racing_world(transactional_db):
    w = build_world()
    w.org.payment_mode = "prepaid"
    w.org.save()
    return w


def test_a_cancel_and_a_payment_at_once_end_one_way_or_the_other(racing_world):
    w = racing_world
    for round_ in range(3):
        purchase = open_purchase(w)
        invoice = purchase.invoice

        def cancel(purchase=purchase):
            sales.cancel_purchase(actor=buyer(w), purchase=purchase)

        def pay(invoice=invoice, round_=round_):
            invoicing.record_payment(
                actor=Actor.system(), organization=w.org, amount=invoice.total_amount,
                provider="bank_transfer", reference=f"B-{round_}", invoice=invoice,
            )  # fmt: skip

        assert at_once([cancel, pay], refused=ValidationError) == []
        purchase.refresh_from_db()
        if purchase.invoice.status == Invoice.Status.VOID:
            assert purchase.entitlement is None  # the payment stays on the balance
        else:
            assert purchase.invoice.status == Invoice.Status.PAID
            assert purchase.entitlement is not None
    paid = Invoice.objects.filter(kind="purchase", status="paid").count()
    assert Entitlement.objects.count() == paid
    assert packages.unreconciled_entitlements() == []


def test_two_credits_at_once_make_one_credit_note(racing_world):
    purchase = paid_purchase(racing_world)

    def credit():
        sales.credit_purchase(actor=Actor.system(), purchase=purchase, reason="refund")

    assert at_once([credit] * 3, refused=ValidationError) == []
    assert Invoice.objects.filter(kind=Invoice.Kind.CREDIT_NOTE).count() == 1
    assert ledger.balance(racing_world.org) == Decimal("6000.00")  # 5,300.00 credited back
