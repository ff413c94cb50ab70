"""The monthly invoice charges what usage was charged after packs and the plan: covered usage
is listed at 0 with the pack's reference, late usage a pack covered is an adjustment once,
and the ledger, verify_billing and the month-to-date figures agree with charged amounts."""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from pypdf import PdfReader

from accounts.audit_trail import Actor
from billing.invoicing import documents, ledger, reconciliation
from billing.invoicing import services as invoicing
from billing.invoicing.api import InvoiceLineSerializer
from billing.invoicing.models import Invoice, LedgerEntry
from billing.metering import services as metering
from billing.packages import services as packages
from billing.packages.models import Entitlement, Offer, OfferTerms, Subscription, UsageCoverage
from tests.billing.metering_world import build_world
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)
SOLD = datetime(2026, 10, 30, tzinfo=UTC)
AFTER_NOV_CLOSE = datetime(2026, 12, 2, 17, tzinfo=UTC)
AFTER_DEC_CLOSE = datetime(2027, 1, 2, 17, tzinfo=UTC)
MILLION = 1_000_000


def pack_terms(tokens):
    offer = Offer.objects.create(
        kind=Offer.Kind.PACK, name_en="Domestic 3.5M", name_zh="国产模型 350 万"
    )
    terms = OfferTerms(
        offer=offer,
        effective_from=SOLD - timedelta(days=1),
        price_amount=Decimal("3.00"),
        token_amount=tokens,
        scope=OfferTerms.Scope.ALL,
        validity_days=365,
    )
    return packages.save_terms(actor=Actor.system(), terms=terms)


def world(payment_mode):
    w = build_world(OrganizationFactory(payment_mode=payment_mode))
    if payment_mode == "prepaid":
        ledger.record_top_up(
            actor=Actor.system(), organization=w.org, amount=Decimal(1000), reference="T-1"
        )
    return w


def ingest(w, now, at, key="a", tokens=MILLION):
    """One call of chat-2: 1 CNY per million input tokens."""
    event = w.event(key=key, model="chat-2", at=at, input_tokens=tokens, output_tokens=0)
    return metering.ingest_usage(events=[event], now=now).events


def billing_day(now):
    metering.roll_up()
    invoicing.run_billing_day(now=now)


@pytest.mark.parametrize("payment_mode", ["prepaid", "postpaid"])
def test_covered_usage_is_listed_at_zero_and_late_covered_usage_once(payment_mode, settings):
    settings.INVOICE_GRACE_DAYS = 2
    w = world(payment_mode)
    whole = packages.grant_pack(
        organization=w.org,
        terms=pack_terms(3_500_000),
        reference="PO-7",
        at=SOLD,
        department=w.deps["A"],
    )
    during = datetime(2026, 11, 20, tzinfo=UTC)
    for _ in range(3):  # department A: covered by its pack
        ingest(w, during, during - timedelta(days=1))
    ingest(w, during, during - timedelta(days=1), key="b", tokens=1_234_567)  # B pays
    # Month to date (November, seen on the 20th): only what was charged.
    summary = invoicing.billing_summary(w.org, now=during)
    assert summary.month_to_date_amount == Decimal("1.23")

    billing_day(AFTER_NOV_CLOSE)
    november = Invoice.objects.get(organization=w.org, period_start=NOV)
    a, b = november.lines.order_by("department__code")
    assert (a.requests, a.input_tokens, a.amount, a.cost_amount) == (3, 3 * MILLION, 0, 0)
    assert (a.covered_amount, a.overage_discount_amount) == (Decimal(3), 0)
    [covered] = a.coverage
    assert (covered["reference"], covered["unit"], Decimal(covered["units"])) == (
        "PO-7", "tokens", 3 * MILLION
    )  # fmt: skip
    assert Decimal(covered["value"]) == Decimal(3)  # at list price: 1 CNY per million
    assert (b.amount, b.covered_amount, b.coverage) == (Decimal("1.23"), 0, [])
    assert november.subtotal_amount == Decimal("1.23")

    # A late November call after November was closed: the pack has 500,000 tokens left.
    arrives = AFTER_NOV_CLOSE + timedelta(hours=1)
    ingest(w, arrives, datetime(2026, 11, 29, tzinfo=UTC))
    ingest(w, arrives, arrives)  # December, A: the pack is empty, all charged
    billing_day(AFTER_DEC_CLOSE)
    december = Invoice.objects.get(organization=w.org, period_start=DEC)
    own, late = december.lines.order_by("-service_month")
    assert (own.amount, own.coverage) == (Decimal("1.00"), [])
    assert (late.service_month, late.requests, late.amount) == (NOV, 1, Decimal("0.50"))
    [half] = late.coverage
    assert (half["reference"], Decimal(half["units"])) == ("PO-7", 500_000)
    whole.refresh_from_db()
    assert whole.remaining == 0

    csv = documents.invoice_csv(november)
    assert "covered_amount" in csv.splitlines()[0] and "PO-7" in csv
    text = "".join(
        page.extract_text() for page in PdfReader(io.BytesIO(documents.invoice_pdf(november))).pages
    )
    assert "PO-7" in text and "Domestic 3.5M" in text and "3,000,000" in text

    # Chargeback: department A used 3 CNY of its pack at list price and was charged nothing.
    statement = invoicing.chargeback_statement(w.org, NOV)
    by_code = {row.code: row for row in statement.departments}
    assert (by_code["A"].pack_value, by_code["A"].amount) == (Decimal(3), 0)
    assert (by_code["B"].pack_value, by_code["B"].amount) == (0, Decimal("1.23"))
    assert statement.total_pack_value == Decimal(3)
    chargeback = documents.chargeback_csv(statement)
    assert "pack_value" in chargeback.splitlines()[0]
    assert documents.chargeback_pdf(statement).startswith(b"%PDF")

    assert reconciliation.verify_billing(now=datetime(2027, 4, 1, tzinfo=UTC)).problems == []
    assert reconciliation.pack_problems() == []
    call_command("verify_billing")
    assert ledger.unreconciled_invoices() == []
    assert ledger.uncharged_settled_usage() == []
    call_command("verify_ledger")
    if payment_mode == "prepaid":
        usage = LedgerEntry.objects.for_org(w.org).filter(kind="usage_charge")
        charged = -sum((e.amount for e in usage), Decimal(0))
        assert charged == Decimal("1.234567") + Decimal("0.5") + Decimal("1")
        paid = november.total_amount + december.total_amount
        assert ledger.balance(w.org) == 1000 - paid


def test_verify_billing_finds_a_line_that_charges_covered_usage(settings):
    settings.INVOICE_GRACE_DAYS = 2
    w = world("postpaid")
    packages.grant_pack(organization=w.org, terms=pack_terms(MILLION), reference="PO-8", at=SOLD)
    during = datetime(2026, 11, 20, tzinfo=UTC)
    ingest(w, during, during - timedelta(days=1))
    billing_day(AFTER_NOV_CLOSE)
    [line] = Invoice.objects.get(organization=w.org).lines.all()
    assert line.amount == 0
    UsageCoverage.objects.all().delete()  # as if the call had never been covered
    [problem] = reconciliation.verify_billing(now=datetime(2027, 4, 1, tzinfo=UTC)).problems
    assert problem.expected_amount == Decimal("1.00") and problem.amount == 0
    assert reconciliation.pack_problems()[0].startswith("usage event")


def test_postpaid_headroom_counts_what_was_charged(settings):
    w = world("postpaid")
    w.org.credit_limit_amount = Decimal(10)
    w.org.save()
    now = datetime.now(UTC)
    packages.grant_pack(
        organization=w.org, terms=pack_terms(MILLION), reference="PO-9", at=now - timedelta(days=1)
    )
    ingest(w, now, now - timedelta(minutes=5), tokens=3 * MILLION)  # 1 of 3 CNY covered
    assert ledger.usage_cost_since(w.org, now - timedelta(days=1)) == Decimal(2)
    assert ledger.headroom(w.org) == Decimal(8)


def test_a_plan_allowance_and_overage_discount_on_the_line(settings):
    """A plan of 1.00 CNY of usage a month and 20 % off overage: a 3.00 CNY call is covered
    1.00, discounted 0.40 and charged 1.60."""
    settings.INVOICE_GRACE_DAYS = 2
    w = world("postpaid")
    offer = Offer.objects.create(kind=Offer.Kind.PLAN, name_en="Team", name_zh="团队版")
    terms = OfferTerms.objects.create(
        offer=offer,
        effective_from=SOLD,
        price_amount=Decimal("99"),
        credit_amount=Decimal("1.00"),
        scope=OfferTerms.Scope.ALL,
        period=OfferTerms.Period.MONTH,
        overage_discount_percent=Decimal("20"),
    )
    plan = Subscription.objects.create(
        organization=w.org, offer=offer, terms=terms, started_at=SOLD,
        current_period_start=SOLD, current_period_end=SOLD + timedelta(days=40),
        paid_until=SOLD + timedelta(days=40),  # paid: its discount applies
    )  # fmt: skip
    packages.grant(
        organization=w.org, terms=terms, reference="plan-2026-11", starts_at=SOLD,
        expires_at=SOLD + timedelta(days=40), granted=Decimal("1.00"),
        unit=Entitlement.Unit.MONEY, subscription=plan,
    )  # fmt: skip
    during = datetime(2026, 11, 20, tzinfo=UTC)
    ingest(w, during, during - timedelta(days=1), tokens=3 * MILLION)
    billing_day(AFTER_NOV_CLOSE)
    [line] = Invoice.objects.get(organization=w.org).lines.all()
    assert (line.amount, line.cost_amount) == (Decimal("1.60"), Decimal("1.6"))
    assert (line.covered_amount, line.overage_discount_amount) == (Decimal(1), Decimal("0.4"))
    [allowance] = InvoiceLineSerializer(line).data["coverage"]
    assert (allowance["reference"], allowance["unit"], allowance["units"]) == (
        "plan-2026-11", "money", "1.0000000000"
    )  # fmt: skip
    text = "".join(
        page.extract_text()
        for page in PdfReader(io.BytesIO(documents.invoice_pdf(line.invoice, "en"))).pages
    )
    assert "Covered by Team · plan-2026-11" in text and "¥1.00" in text
    assert "Plan overage discount: ¥0.40 off" in text
    assert reconciliation.verify_billing(now=datetime(2027, 4, 1, tzinfo=UTC)).problems == []
