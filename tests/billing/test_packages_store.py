"""Buying token packs: a purchase invoice with VAT, paid from the balance, online (fake WeChat
Pay) or by bank transfer; the pack is granted once whatever pays it and however often the
payment is reported; purchase limits; named offers; allocation to a department."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.audit_trail import Actor
from accounts.models import AuditEvent
from billing.invoicing import ledger, remittance, statements, transfers
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice, LedgerEntry
from billing.metering import services as metering
from billing.packages import services as packages
from billing.packages.models import Entitlement, Offer, OfferTerms
from billing.payments import services as payments
from billing.sales import services as sales
from tests.billing.metering_world import build_world
from tests.billing.payments.conftest import key_pairs, wechat  # noqa: F401 (fixtures)
from tests.billing.payments.test_wechat import notify
from tests.factories import DepartmentFactory, LedgerEntryFactory, OrganizationFactory, as_actor

pytestmark = pytest.mark.django_db

NOW = datetime.now(UTC)
HUNDRED_MILLION = 100_000_000


def domestic_pack(*, limit=None, visibility=Offer.Visibility.PUBLIC, offered_to=()):
    """What staff publish: 100 M tokens of domestic models, 12 months, 5,000.00 + 6 % VAT."""
    offer = Offer.objects.create(
        kind=Offer.Kind.PACK,
        name_en="Domestic models 100M",
        name_zh="国产模型 1 亿 tokens",
        visibility=visibility,
        is_published=True,
    )
    offer.offered_to.set(offered_to)
    packages.save_terms(
        actor=Actor.system(),
        terms=OfferTerms(
            offer=offer,
            effective_from=NOW - timedelta(days=1),
            price_amount=Decimal("5000.00"),
            token_amount=HUNDRED_MILLION,
            scope=OfferTerms.Scope.REGION,
            scope_region="cn",
            validity_days=365,
            purchase_limit=limit,
        ),
    )
    return offer


@pytest.fixture
def world(db):
    w = build_world()
    w.org.payment_mode = "prepaid"
    w.org.save()
    return w


def buyer(world):
    return as_actor(world.members["owner"])


def top_up(world, amount):
    LedgerEntryFactory(organization=world.org, kind="top_up", amount=Decimal(amount))


def test_bought_with_the_balance_is_invoiced_with_vat_charged_and_granted(world):
    top_up(world, "6000.00")
    purchase = sales.buy_pack(
        actor=buyer(world), organization=world.org, offer=domestic_pack(), from_balance=True
    )
    invoice = purchase.invoice
    assert (invoice.kind, invoice.status) == (Invoice.Kind.PURCHASE, Invoice.Status.PAID)
    assert (invoice.subtotal_amount, invoice.tax_amount, invoice.total_amount) == (
        Decimal("5000.00"), Decimal("300.00"), Decimal("5300.00"),
    )  # fmt: skip
    assert invoice.number.startswith("TP-")
    assert ledger.balance(world.org) == Decimal("700.00")
    pack = purchase.entitlement
    assert (pack.reference, pack.granted, pack.remaining) == (invoice.number, HUNDRED_MILLION,
                                                              HUNDRED_MILLION)  # fmt: skip
    assert pack.expires_at - pack.starts_at == timedelta(days=365)
    assert AuditEvent.objects.filter(action="packages.purchased").count() == 1


def test_a_short_balance_is_refused_and_nothing_is_made(world):
    top_up(world, "100.00")
    with pytest.raises(ValidationError) as refused:
        sales.buy_pack(
            actor=buyer(world), organization=world.org, offer=domestic_pack(), from_balance=True
        )
    assert "less than the price" in str(refused.value.message_dict["payment"])
    assert not Invoice.objects.exists()
    assert not Entitlement.objects.exists()
    assert ledger.balance(world.org) == Decimal("100.00")


def test_paid_online_the_pack_is_granted_once_however_often_wechat_reports(
    client,
    wechat,  # noqa: F811 (the fixture imported above)
    world,
):
    purchase = sales.buy_pack(
        actor=buyer(world), organization=world.org, offer=domestic_pack(), from_balance=False
    )
    assert purchase.invoice.status == Invoice.Status.ISSUED
    assert purchase.entitlement is None
    assert ledger.balance(world.org) == 0  # not owed before it is paid
    payment = payments.start_payment(
        actor=buyer(world), organization=world.org, provider_code="wechat",
        invoice=purchase.invoice,
    )  # fmt: skip
    assert payment.amount == Decimal("5300.00")
    for _repeat in range(3):
        assert notify(client, wechat.paid(payment.out_trade_no)).status_code == 200
    purchase.refresh_from_db()
    assert purchase.invoice.status == Invoice.Status.PAID
    assert Entitlement.objects.filter(organization=world.org).count() == 1
    assert purchase.entitlement.reference == purchase.invoice.number
    # Paid 5,300.00 in, charged 5,300.00 for the pack: the balance is where it was.
    assert ledger.balance(world.org) == 0
    assert LedgerEntry.objects.filter(invoice=purchase.invoice, kind="invoice").count() == 1


def test_paid_by_bank_transfer_matched_by_the_remittance_reference(world):
    purchase = sales.buy_pack(
        actor=buyer(world), organization=world.org, offer=domestic_pack(), from_balance=False
    )
    code = remittance.reference_for(world.org)
    content = "\n".join([
        "交易流水号,交易日期,贷方金额,对方户名,对方账号,附言",
        f"B100,2026-12-02,5300.00,示例科技有限公司,,资源包 {code}",
    ]).encode()  # fmt: skip
    rows, errors = statements.read_statement(content, currency="CNY")
    assert errors == []
    [line] = transfers.import_statement(
        actor=Actor.system(), rows=rows, source_file="s.csv"
    ).created
    assert (line.organization, line.invoice) == (world.org, purchase.invoice)
    transfers.post_line(actor=Actor.system(), line=line)
    transfers.post_line(actor=Actor.system(), line=line)  # confirmed twice: posted once
    purchase.refresh_from_db()
    assert purchase.invoice.status == Invoice.Status.PAID
    assert purchase.entitlement.granted == HUNDRED_MILLION
    assert Entitlement.objects.count() == 1
    assert ledger.balance(world.org) == 0


def test_a_transfer_of_another_amount_stays_a_top_up(world):
    sales.buy_pack(
        actor=buyer(world), organization=world.org, offer=domestic_pack(), from_balance=False
    )
    assert transfers.invoice_for(world.org, Decimal("1000.00"), "充值") is None


def test_the_purchase_limit_counts_open_and_paid_purchases(world):
    top_up(world, "6000.00")
    offer = domestic_pack(limit=2)
    sales.buy_pack(actor=buyer(world), organization=world.org, offer=offer, from_balance=True)
    sales.buy_pack(actor=buyer(world), organization=world.org, offer=offer, from_balance=False)
    terms = offer.terms.get()
    assert sales.purchases_left(world.org, offer, terms) == 0
    with pytest.raises(ValidationError, match="as often as it may"):
        sales.buy_pack(actor=buyer(world), organization=world.org, offer=offer, from_balance=False)
    assert Invoice.objects.filter(kind="purchase").count() == 2


def test_a_named_offer_is_hidden_from_other_organizations(world):
    other = OrganizationFactory()
    offer = domestic_pack(visibility=Offer.Visibility.NAMED, offered_to=[world.org])
    assert list(sales.offered_packs(world.org)) == [offer]
    assert list(sales.offered_packs(other)) == []
    with pytest.raises(ValidationError, match="not offered"):
        sales.buy_pack(actor=Actor.system(), organization=other, offer=offer, from_balance=False)
    offer.is_published = False
    offer.save()
    assert list(sales.offered_packs(world.org)) == []


def test_allocated_to_a_department_only_its_calls_draw_the_pack(world):
    top_up(world, "6000.00")
    purchase = sales.buy_pack(
        actor=buyer(world), organization=world.org, offer=domestic_pack(), from_balance=True
    )
    packages.allocate(actor=buyer(world), entitlement=purchase.entitlement,
                      department=world.deps["A"])  # fmt: skip
    metering.ingest_usage(events=[world.event(key="a"), world.event(key="b")])
    pack = Entitlement.objects.get()
    assert pack.consumed == 1200  # A's call: 1,000 in + 200 out
    usage = LedgerEntry.objects.for_org(world.org).filter(kind="usage_charge")
    # B's call (chat-1: 2 CNY in, 8 CNY out per million) is paid from the balance.
    assert -sum(entry.amount for entry in usage) == Decimal("0.0036")
    assert AuditEvent.objects.filter(action="packages.allocated").count() == 1


def test_staff_define_publish_and_version_a_pack_in_the_console(client, staff_user, world):
    add = client.post(
        reverse("admin:billing_offer_add"),
        {"kind": "pack", "name_en": "Domestic 100M", "name_zh": "国产 1 亿", "visibility": "public",
         "description_en": "", "description_zh": "", "terms-TOTAL_FORMS": "0",
         "terms-INITIAL_FORMS": "0", "terms-MIN_NUM_FORMS": "0", "terms-MAX_NUM_FORMS": "1000"},
    )  # fmt: skip
    assert add.status_code == 302, add.context["adminform"].form.errors
    offer = Offer.objects.get(name_en="Domestic 100M")
    url = reverse("admin:billing_offer_new_terms", args=[offer.pk])
    assert client.get(url).status_code == 200
    starts = timezone.localtime(timezone.now() + timedelta(minutes=1))
    terms = {"effective_from_0": f"{starts:%Y-%m-%d}", "effective_from_1": f"{starts:%H:%M:%S}",
             "price_amount": "5000.00", "vat_rate": "0.06", "currency": "CNY",
             "token_amount": str(HUNDRED_MILLION), "scope": "region", "scope_region": "cn",
             "counting": "one_to_one", "validity_days": "365", "overage_discount_percent": "0",
             "commitment_months": "0", "renewal_notice_days": "7"}  # fmt: skip
    missing = client.post(url, {**terms, "validity_days": ""})
    assert "Give either days from purchase or an end date." in missing.content.decode()
    past = client.post(url, {**terms, "effective_from_0": "2020-01-01"})
    assert "the past stays as sold" in past.content.decode()
    assert client.post(url, terms).status_code == 302
    saved = offer.terms.get()
    assert (saved.token_amount, saved.scope_region, saved.gross_amount) == (
        HUNDRED_MILLION, "cn", Decimal("5300.00"),
    )  # fmt: skip
    assert AuditEvent.objects.filter(action="packages.terms_added").count() == 1
    assert list(sales.offered_packs(world.org)) == []  # not published yet
    client.post(
        reverse("admin:billing_offer_changelist"),
        {"action": "publish", "_selected_action": [offer.pk]},
    )
    assert list(sales.offered_packs(world.org)) == [offer]
    assert AuditEvent.objects.filter(action="packages.published").count() == 1
    page = client.get(reverse("admin:billing_offer_change", args=[offer.pk]))
    assert "New terms from a date" in page.content.decode()


def test_weighted_terms_show_their_weights_in_the_console(client, staff_user, world):
    offer = domestic_pack()
    packages.save_terms(
        actor=Actor.system(),
        terms=OfferTerms(
            offer=offer, effective_from=NOW + timedelta(days=1), price_amount=Decimal("10"),
            token_amount=1000, scope=OfferTerms.Scope.ALL, counting="weighted",
            reference_price_per_million=Decimal("2"), validity_days=30,
        ),
    )  # fmt: skip
    page = client.get(reverse("admin:billing_offer_change", args=[offer.pk])).content.decode()
    assert "<td>chat-1</td><td>1.000000</td>" in page


def test_customers_read_that_a_model_added_later_counts_at_its_list_price(client_of, world):
    offer = Offer.objects.create(kind=Offer.Kind.PACK, name_en="Weighted", name_zh="加权",
                                 is_published=True)  # fmt: skip
    packages.save_terms(
        actor=Actor.system(),
        terms=OfferTerms(
            offer=offer, effective_from=NOW - timedelta(days=1), price_amount=Decimal("10"),
            token_amount=1000, scope=OfferTerms.Scope.REGION, scope_region="cn",
            counting="weighted", reference_price_per_million=Decimal("2"), validity_days=30,
        ),
    )  # fmt: skip
    owner = client_of(world.members["owner"])
    page = owner.get(reverse("billing:packs")).content.decode()
    assert "such as one added to the catalog later, counts at the weight its list price" in page
    assert "divided by ¥2.00" in page
    [listed] = owner.get("/api/v1/billing/offers").json()
    assert listed["reference_price_per_million"] == "2.000000"
    assert listed["weights"]["chat-1"]["output"] == "4.000000"


def test_the_packs_page_offers_buys_and_shows_the_pack(client_of, world):
    top_up(world, "6000.00")
    offer = domestic_pack(limit=1)
    owner = client_of(world.members["owner"])
    page = owner.get(reverse("billing:packs")).content.decode()
    assert "Domestic models" in page and "100,000,000" in page
    assert "¥5,300.00 with VAT" in page and "Purchases left" in page
    buy = reverse("billing:pack-buy", args=[offer.public_id])
    assert owner.get(buy).status_code == 200
    bought = owner.post(buy, {"pay": "balance"})
    pack = Entitlement.objects.get()
    assert bought["Location"] == reverse("billing:pack", args=[pack.public_id])
    again = owner.post(buy, {"pay": "balance"})
    assert "as often as it may" in again.content.decode()  # the limit: one
    metering.ingest_usage(events=[world.event(key="a"), world.event(key="b", model="chat-2")])
    detail = owner.get(bought["Location"])
    assert detail.context["consumption"]["model"] == [("chat-1", 1200), ("chat-2", 1200)]
    names = dict(detail.context["consumption"]["department"])
    assert names == {world.deps["A"].name: 1200, world.deps["B"].name: 1200}
    assert detail.context["forecast"].per_day > 0
    allocate = reverse("billing:pack-allocate", args=[pack.public_id])
    refused = owner.post(allocate, {"department": "dep_nosuchdepartment"})
    assert refused.status_code == 400
    assert owner.post(allocate, {"department": world.deps["A"].public_id}).status_code == 302
    pack.refresh_from_db()
    assert pack.department == world.deps["A"]
    viewer = client_of(world.members["viewer"])
    assert viewer.get(reverse("billing:packs")).status_code == 403  # no view_billing
    assert viewer.post(allocate, {"department": ""}).status_code == 403


def test_buying_by_transfer_or_online_from_the_page(client_of, wechat, world):  # noqa: F811
    offer = domestic_pack()
    owner = client_of(world.members["owner"])
    buy = reverse("billing:pack-buy", args=[offer.public_id])
    short = owner.post(buy, {"pay": "balance"})
    assert "less than the price" in short.content.decode()
    by_transfer = owner.post(buy, {"pay": "transfer"})
    purchase = Invoice.objects.get(kind="purchase").purchase
    assert by_transfer["Location"] == reverse("billing:pack-purchase", args=[purchase.public_id])
    page = owner.get(by_transfer["Location"]).content.decode()
    assert remittance.reference_for(world.org) in page and purchase.invoice.number in page
    online = owner.post(buy, {"pay": "online"})
    assert online["Location"].startswith(reverse("billing:payment-start") + "?invoice=inv_")
    assert owner.get(online["Location"]).status_code == 200


def test_a_named_pack_is_not_found_by_another_organization(client_of, world):
    offer = domestic_pack(visibility=Offer.Visibility.NAMED, offered_to=[world.org])
    other = build_world(OrganizationFactory())
    stranger = client_of(other.members["owner"])
    assert offer.name_en not in stranger.get(reverse("billing:packs")).content.decode()
    assert stranger.get(reverse("billing:pack-buy", args=[offer.public_id])).status_code == 404
    assert stranger.get("/api/v1/billing/offers").json() == []


def test_the_api_lists_buys_and_allocates(client_of, world):
    top_up(world, "6000.00")
    offer = domestic_pack()
    api = client_of(world.members["owner"])
    [listed] = api.get("/api/v1/billing/offers").json()
    assert (listed["id"], listed["tokens"], listed["scope_region"], listed["gross_amount"]) == (
        offer.public_id, HUNDRED_MILLION, "cn", "5300.00",
    )  # fmt: skip
    buy = f"/api/v1/billing/offers/{offer.public_id}/buy"
    missing = api.post(buy, {}, content_type="application/json").json()["error"]["fields"]
    assert missing == {"pay_from_balance": ["This field is required."]}
    bought = api.post(buy, {"pay_from_balance": True}, content_type="application/json")
    assert bought.status_code == 201
    assert bought.json()["invoice_status"] == "paid"
    pack_id = bought.json()["entitlement"]
    [held] = api.get("/api/v1/billing/entitlements").json()["results"]
    assert (held["id"], held["department"]) == (pack_id, None)
    allocate = f"/api/v1/billing/entitlements/{pack_id}/allocate"
    elsewhere = DepartmentFactory().public_id  # another organization's
    wrong = api.post(allocate, {"department": elsewhere}, content_type="application/json")
    assert wrong.json()["error"]["fields"] == {"department": ["No such department."]}
    done = api.post(
        allocate, {"department": world.deps["B"].public_id}, content_type="application/json"
    )
    assert done.json()["department"] == world.deps["B"].public_id
    assert api.get(f"/api/v1/billing/entitlements/{pack_id}").json()["department"] == (
        world.deps["B"].public_id
    )


def test_a_voided_purchase_invoice_frees_the_limit_and_posts_nothing(world):
    offer = domestic_pack(limit=1)
    purchase = sales.buy_pack(
        actor=buyer(world), organization=world.org, offer=offer, from_balance=False
    )
    invoicing.void_invoice(actor=Actor.system(), invoice=purchase.invoice, reason="changed mind")
    assert sales.purchases_left(world.org, offer, offer.terms.get()) == 1
    assert ledger.balance(world.org) == 0
    assert not LedgerEntry.objects.filter(organization=world.org).exists()


def test_staff_record_a_transfer_on_a_purchase_invoice_in_the_console(client, staff_user, world):
    purchase = sales.buy_pack(
        actor=buyer(world), organization=world.org, offer=domestic_pack(), from_balance=False
    )
    change = client.get(reverse("admin:billing_invoice_change", args=[purchase.invoice.pk]))
    assert "Record payment" in change.content.decode()
    url = reverse("admin:billing_invoice_payment", args=[purchase.invoice.pk])
    assert client.post(url, {"reference": "B-777"}).status_code == 302
    purchase.refresh_from_db()
    assert (purchase.invoice.status, purchase.entitlement.granted) == ("paid", HUNDRED_MILLION)
    assert ledger.balance(world.org) == 0


def test_the_purchase_invoice_is_on_the_billing_page_with_its_pdf(client_of, world):
    purchase = sales.buy_pack(
        actor=buyer(world), organization=world.org, offer=domestic_pack(), from_balance=False
    )
    owner = client_of(world.members["owner"])
    page = owner.get(reverse("billing:billing")).content.decode()
    assert purchase.invoice.number in page and "(purchase)" in page
    pdf = owner.get(reverse("billing:invoice-download", args=[purchase.invoice.public_id, "pdf"]))
    assert (pdf.status_code, pdf["Content-Type"]) == (200, "application/pdf")
