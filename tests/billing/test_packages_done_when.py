"""Issue #23, "Done when", end to end: staff publish a 100-million-token domestic-models pack
valid 12 months; a customer buys it with a (fake WeChat Pay) payment and allocates it to a
department; that department's calls draw it down exactly once (a retried batch draws nothing
twice) while another department pays from the balance; the 80 % alert fires; the month's
invoice shows the covered usage at 0 with the pack's reference; the pack's tokens reconcile;
and a consolidated-billing organization's charges (its usage and the same pack, charged on
the operator's bill rather than invoiced) appear in the month's settlement file, pushed to a
fake operator billing system."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone, translation
from pypdf import PdfReader

from accounts.audit_trail import Actor
from billing.invoicing import documents, ledger, reconciliation
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice
from billing.managed import settlement as settlements
from billing.managed.billing_system import billing_system
from billing.metering import services as metering
from billing.packages import services as packages
from billing.packages.models import Entitlement, EntitlementEntry, Offer, OfferTerms
from billing.payments import services as payments
from billing.sales import services as sales
from notifications.models import Notification
from portal.periods import add_months, month_of, month_start
from tests.billing import fake_operator_billing
from tests.billing.metering_world import build_world
from tests.billing.payments.conftest import key_pairs, wechat  # noqa: F401 (fixtures)
from tests.billing.payments.test_wechat import notify
from tests.factories import LedgerEntryFactory, OrganizationFactory, as_actor

pytestmark = pytest.mark.django_db

HUNDRED_MILLION = 100_000_000
NAME = "Domestic models 100M"


def publish_pack(client, staff) -> Offer:
    """Staff in the console: the offer, its terms (CNY 5,000 + 6 % VAT, 12 months, domestic
    models) and publishing it."""
    added = client.post(
        reverse("admin:billing_offer_add"),
        {"kind": "pack", "name_en": NAME, "name_zh": "国产模型 1 亿 tokens",
         "visibility": "public", "description_en": "", "description_zh": "",
         "terms-TOTAL_FORMS": "0", "terms-INITIAL_FORMS": "0", "terms-MIN_NUM_FORMS": "0",
         "terms-MAX_NUM_FORMS": "1000"},
    )  # fmt: skip
    assert added.status_code == 302
    offer = Offer.objects.get(name_en=NAME)
    # The console's "New terms from a date" starts terms in the future; the same service
    # (save_terms) with a start a minute ago lets the customer buy now.
    packages.save_terms(
        actor=Actor(user=staff),
        terms=OfferTerms(
            offer=offer,
            effective_from=timezone.now() - timedelta(minutes=1),
            price_amount=Decimal("5000.00"),
            token_amount=HUNDRED_MILLION,
            scope=OfferTerms.Scope.REGION,
            scope_region="cn",
            validity_days=365,
        ),
    )
    client.post(
        reverse("admin:billing_offer_changelist"),
        {"action": "publish", "_selected_action": [offer.pk]},
    )
    offer.refresh_from_db()
    assert offer.is_published
    return offer


def call(world, key, *, input_tokens, output_tokens=0):
    """A call of chat-2 (a domestic model: 1 CNY per million input, 3 per million output)."""
    return world.event(key=key, model="chat-2", at=timezone.now(), input_tokens=input_tokens,
                       output_tokens=output_tokens)  # fmt: skip


def test_done_when(
    client,
    staff_user,
    wechat,  # noqa: F811 (the fixture imported above)
    settings,
    server_port,
    django_capture_on_commit_callbacks,
):
    settings.INVOICE_GRACE_DAYS = 2
    offer = publish_pack(client, staff_user)

    # The customer (prepaid, 100 CNY on the balance) buys it online with WeChat Pay.
    customer = build_world(OrganizationFactory(payment_mode="prepaid"))
    LedgerEntryFactory(organization=customer.org, kind="top_up", amount=Decimal(100))
    buyer = as_actor(customer.members["owner"])
    assert list(sales.offered_packs(customer.org)) == [offer]
    purchase = sales.buy_pack(
        actor=buyer, organization=customer.org, offer=offer, from_balance=False
    )
    payment = payments.start_payment(actor=buyer, organization=customer.org,
                                     provider_code="wechat", invoice=purchase.invoice)  # fmt: skip
    assert payment.amount == Decimal("5300.00")  # 5,000.00 + 6 % VAT, invoiced at purchase
    for _repeat in range(2):  # WeChat Pay may report twice: one pack
        assert notify(client, wechat.paid(payment.out_trade_no)).status_code == 200
    purchase.refresh_from_db()
    pack = purchase.entitlement
    reference = purchase.invoice.number
    assert (pack.reference, pack.granted) == (reference, HUNDRED_MILLION)
    assert pack.expires_at - pack.starts_at == timedelta(days=365)
    assert Entitlement.objects.filter(organization=customer.org).count() == 1
    assert ledger.balance(customer.org) == Decimal(100)  # 5,300 paid in, 5,300 charged

    # Allocated to department A: only its keys draw it.
    packages.allocate(actor=buyer, entitlement=pack, department=customer.deps["A"])

    # A's calls: 2 x 40.5 M tokens (81 %), sent twice (a retried batch); B's call pays.
    batch = [call(customer, "a", input_tokens=40_000_000, output_tokens=500_000)
             for _ in range(2)]  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        first = metering.ingest_usage(events=batch)
    with django_capture_on_commit_callbacks(execute=True):
        retried = metering.ingest_usage(events=batch)
        metering.ingest_usage(events=[call(customer, "b", input_tokens=1_234_567)])
    assert (len(first.events), retried.duplicates) == (2, 2)
    pack.refresh_from_db()
    assert (pack.consumed, pack.remaining) == (81_000_000, 19_000_000)
    assert EntitlementEntry.objects.filter(entitlement=pack, kind="draw").count() == 2
    assert ledger.balance(customer.org) == Decimal(100) - Decimal("1.234567")  # only B's call

    # The 80 % alert, once.
    with translation.override("en"):
        alerts = [n.subject for n in Notification.objects.filter(organization=customer.org)]
    assert alerts.count(f"Your token pack {NAME} is 80 % used") == 1

    # A consolidated-billing organization (postpaid) calls too.
    operator_billed = build_world(OrganizationFactory(payment_mode="postpaid", name="某市政务云"))
    settlements.set_consolidated_billing(
        actor=Actor(user=staff_user), organization=operator_billed.org, enabled=True,
        operator_account_number="0571-88886666",
    )  # fmt: skip
    metering.ingest_usage(events=[call(operator_billed, "a", input_tokens=2_000_000)])
    # Then it buys the pack: charged on the operator's bill (no invoice of ours), granted now.
    on_bill = sales.buy_pack(actor=as_actor(operator_billed.members["owner"]),
                             organization=operator_billed.org, offer=offer,
                             from_balance=False)  # fmt: skip
    assert on_bill.invoice is None and on_bill.entitlement.granted == HUNDRED_MILLION

    # The month's close, once its grace period is over.
    month = month_of(first.events[0].occurred_at)
    close = month_start(add_months(month, 1)) + timedelta(days=2, hours=17)
    metering.roll_up()
    invoicing.run_billing_day(now=close)
    invoice = Invoice.objects.get(organization=customer.org, kind="invoice", period_start=month)
    a_line, b_line = invoice.lines.order_by("department__code")
    assert (a_line.requests, a_line.amount, a_line.covered_amount) == (2, 0, Decimal(83))
    [covered] = a_line.coverage
    assert (covered["reference"], Decimal(covered["units"])) == (reference, 81_000_000)
    assert b_line.amount == Decimal("1.23")
    assert invoice.subtotal_amount == Decimal("1.23")
    pdf = PdfReader(io.BytesIO(documents.invoice_pdf(invoice, language="en")))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert f"Covered by {NAME}" in text and reference in text and "81,000,000" in text
    assert not Invoice.objects.filter(organization=operator_billed.org).exists()

    # The pack's tokens reconcile: sold = consumed + expired + remaining, entries agree.
    assert packages.unreconciled_entitlements() == []
    assert reconciliation.pack_problems() == []
    far = close + timedelta(days=200)
    report = reconciliation.verify_billing(now=far, organization=customer.org)
    assert report.problems == []
    assert ledger.unreconciled_invoices() == []

    # The settlement file of the month, pushed to the operator's billing system.
    settings.OPERATOR_BILLING_URL = f"http://127.0.0.1:{server_port}/settlements"
    settings.OPERATOR_BILLING_TOKEN = fake_operator_billing.TOKEN
    with fake_operator_billing.receiver(server_port) as received:
        settlement = settlements.settle(now=close, system=billing_system())
    assert settlement.month == month
    [(_key, body)] = received
    [row] = body["rows"]
    assert (row["organization_id"], row["operator_account_number"], row["usage"]) == (
        operator_billed.org.public_id, "0571-88886666", "2.00"
    )  # fmt: skip
    # The usage's 6 % and the pack's VAT at purchase: 0.12 + 300.00.
    assert (row["packs"], row["vat"], row["total"]) == ("5000.00", "300.12", "5302.12")
    assert "0571-88886666" in body["csv"]
