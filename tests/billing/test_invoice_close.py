"""The monthly close: drafts from rollups, rounding, idempotence, late usage."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from accounts.audit_trail import Actor
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice
from tests.billing.invoicing_data import NOV, NOV_FIRST_HOUR, NOV_LAST_HOUR, customer, rollup
from tests.factories import ContractDiscountFactory, PriceVersionFactory

pytestmark = pytest.mark.django_db
DEC = NOV.replace(month=12)
OCT = NOV.replace(month=10)


def november(c):
    rollup(c, key="service", cost="1.005")  # 1.0051 in all -> 1.01
    rollup(c, key="service", cost="0.0001", hour=NOV_LAST_HOUR)
    rollup(c, key="web", model="coder", cost="2.345")  # -> 2.35 (half up)
    rollup(c, key="lab", cost="0.7849999999")  # -> 0.78, no department
    # The hours either side of the month in Shanghai are not November's: October's (never
    # invoiced) is an adjustment line on November's invoice, December's waits for its month.
    rollup(c, key="service", cost="100", hour=NOV_FIRST_HOUR - timedelta(hours=1))
    rollup(c, key="service", cost="100", hour=NOV_LAST_HOUR + timedelta(hours=1))


def test_the_invoice_is_the_months_rollups_rounded_once_per_line_plus_vat_on_the_subtotal():
    c = customer()
    november(c)
    ContractDiscountFactory(organization=c.organization, percent=Decimal(10), valid_from=NOV)
    [invoice] = invoicing.close_month(month=NOV)
    lines = {
        (line.service_month, line.project_label, line.model.model_id): line
        for line in invoice.lines.all()
    }
    assert {key: line.amount for key, line in lines.items()} == {
        (NOV, "智能客服", "deepseek/deepseek-chat"): Decimal("1.01"),
        (NOV, "官网", "deepseek/deepseek-coder"): Decimal("2.35"),
        (NOV, "实验", "deepseek/deepseek-chat"): Decimal("0.78"),
        (OCT, "智能客服", "deepseek/deepseek-chat"): Decimal("100.00"),
    }
    assert lines[(NOV, "智能客服", "deepseek/deepseek-chat")].department_label == "研发部"
    assert lines[(NOV, "实验", "deepseek/deepseek-chat")].department is None
    assert lines[(OCT, "智能客服", "deepseek/deepseek-chat")].is_adjustment
    assert {line.discount_percent for line in lines.values() if line.service_month == NOV} == {
        Decimal(10)
    }
    assert invoice.subtotal_amount == Decimal("104.14")
    assert invoice.tax_amount == Decimal("6.25")  # 104.14 x 6% = 6.2484
    assert invoice.total_amount == Decimal("110.39")
    assert (invoice.status, invoice.number, invoice.currency) == ("draft", None, "CNY")
    assert (invoice.period_start, invoice.period_end) == (NOV, DEC)


def test_the_vat_rate_is_a_setting(settings):
    settings.VAT_RATE = Decimal("0.13")
    c = customer()
    rollup(c, cost="10.005")
    [invoice] = invoicing.close_month(month=NOV)
    assert (invoice.subtotal_amount, invoice.tax_amount, invoice.total_amount) == (
        Decimal("10.01"), Decimal("1.30"), Decimal("11.31"),
    )  # fmt: skip


def test_closing_again_changes_nothing_and_an_issued_invoice_is_left_alone():
    c = customer()
    november(c)
    [first] = invoicing.close_month(month=NOV)
    [again] = invoicing.close_month(month=NOV)
    assert again.pk == first.pk and again.total_amount == first.total_amount
    assert again.lines.count() == 4
    invoicing.issue_invoice(actor=Actor.system(), invoice=again)
    rollup(c, key="web", cost="5")  # arrives after the invoice was issued
    assert invoicing.close_month(month=NOV) == []
    assert Invoice.objects.get().total_amount == first.total_amount


def test_a_draft_is_refreshed_with_usage_that_arrived_before_issuing():
    c = customer()
    rollup(c, cost="1")
    invoicing.close_month(month=NOV)
    rollup(c, key="web", cost="2")
    [invoice] = invoicing.close_month(month=NOV)
    assert invoice.subtotal_amount == Decimal("3.00")
    assert Invoice.objects.count() == 1


def test_a_month_without_usage_makes_no_invoice():
    customer()
    assert invoicing.close_month(month=NOV) == []
    assert not Invoice.objects.exists()


def test_late_usage_lands_on_the_next_invoice_labelled_with_its_month():
    c = customer()
    rollup(c, cost="10")
    [november_invoice] = invoicing.close_month(month=NOV)
    invoicing.issue_invoice(actor=Actor.system(), invoice=november_invoice)
    rollup(c, cost="2.5", hour=NOV_LAST_HOUR)  # November usage, reported late
    rollup(c, key="web", cost="1", hour=datetime(2026, 12, 5, tzinfo=UTC))
    [december] = invoicing.close_month(month=DEC)
    lines = list(december.lines.order_by("position"))
    assert [(line.service_month, line.amount) for line in lines] == [
        (DEC, Decimal("1.00")),
        (NOV, Decimal("2.50")),
    ]
    assert lines[1].is_adjustment and "2026-11" in lines[1].description
    assert december.subtotal_amount == Decimal("3.50")
    # Billed once: the next close finds nothing more for November.
    invoicing.issue_invoice(actor=Actor.system(), invoice=december)
    rollup(c, cost="1", hour=datetime(2027, 1, 3, tzinfo=UTC))
    [january] = invoicing.close_month(month=DEC.replace(year=2027, month=1))
    assert [line.service_month for line in january.lines.all()] == [DEC.replace(year=2027, month=1)]


def test_the_daily_run_closes_and_issues_only_after_the_grace_period(settings):
    settings.INVOICE_GRACE_DAYS = 2
    c = customer()
    rollup(c, cost="10")
    december_start = datetime(2026, 11, 30, 16, tzinfo=UTC)
    invoicing.run_billing_day(now=december_start + timedelta(days=2) - timedelta(minutes=1))
    assert not Invoice.objects.exists()
    invoicing.run_billing_day(now=december_start + timedelta(days=2))
    invoice = Invoice.objects.get()
    assert invoice.status == "issued" and invoice.number.startswith("TP-2026-")
    invoicing.run_billing_day(now=december_start + timedelta(days=3))
    assert Invoice.objects.count() == 1


def test_a_line_names_the_fee_per_request_tiers_and_time_of_day_rates_it_was_priced_with():
    c = customer()
    coder = c.models["coder"]
    # From mid-November the coder model has a fee per call, a prompt-size tier and an
    # off-peak window; the chat model keeps plain per-million rates.
    PriceVersionFactory(
        model=coder,
        effective_from=datetime(2026, 11, 15, tzinfo=UTC),
        request_price=Decimal("0.036"),
        conditions={
            "tiers": {"input": [["200000", "4"]]},
            "windows": [
                {
                    "start": "16:30:00",
                    "end": "00:30:00",
                    "zone": "UTC",
                    "prices": {"input": "1", "output": "4"},
                }
            ],
        },
    )
    rollup(c, key="web", model="coder", cost="2.00")
    rollup(c, key="service", model="chat", cost="1.00")
    [invoice] = invoicing.close_month(month=NOV)
    descriptions = {line.model.model_id: line.description for line in invoice.lines.all()}
    assert descriptions["deepseek/deepseek-coder"] == (
        "官网 · deepseek/deepseek-coder (¥0.036 per request; "
        "prompts over 200,000 tokens at a higher rate; time-of-day rates)"
    )
    assert descriptions["deepseek/deepseek-chat"] == "智能客服 · deepseek/deepseek-chat"
