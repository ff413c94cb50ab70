"""End to end: a month of usage becomes an invoice a finance team can file, whose total
matches the rollups, that nobody can change, and whose department chargeback sums to its
subtotal."""

import io
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from pypdf import PdfReader

from billing.invoicing import documents, tasks
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice
from billing.metering.models import UsageRollup
from tests.billing.invoicing_data import NOV, NOV_FIRST_HOUR, customer, rollup

pytestmark = pytest.mark.django_db


def test_a_month_of_usage_becomes_a_filed_frozen_invoice(settings):
    c = customer()
    # A month of hourly usage across three projects and two models.
    hours = [NOV_FIRST_HOUR + timedelta(hours=7 * n) for n in range(100)]
    for n, hour in enumerate(hours):
        cost = Decimal(n) * Decimal("0.0137") + Decimal("0.001")
        key, model = ["service", "web", "lab"][n % 3], ["chat", "coder"][n % 2]
        rollup(c, key=key, model=model, hour=hour, cost=f"{cost:f}")
    # The beat task, run after the grace period.
    settings.INVOICE_GRACE_DAYS = 2
    invoicing.run_billing_day(now=datetime(2026, 12, 3, tzinfo=UTC))
    tasks.run_billing_day.delay()  # the task wrapper (now: nothing more to do for November)
    invoice = Invoice.objects.get()
    assert invoice.status == "issued" and invoice.period_start == NOV

    groups = {}
    for row in UsageRollup.objects.all():
        key = (row.department_id, row.project_id, row.model_id)
        groups[key] = groups.get(key, 0) + row.cost_amount
    cents = [v.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for v in groups.values()]
    assert invoice.subtotal_amount == sum(cents)
    assert invoice.total_amount == invoice.subtotal_amount + (
        invoice.subtotal_amount * Decimal("0.06")
    ).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    text = PdfReader(io.BytesIO(documents.invoice_pdf(invoice))).pages[0].extract_text()
    assert invoice.number in text and "上海示例科技有限公司" in text
    assert f"{invoice.total_amount:,.2f}" in text

    with pytest.raises(TypeError):
        invoice.save()
    statement = invoicing.chargeback_statement(c.organization, NOV)
    assert statement.total_amount == invoice.subtotal_amount
