"""The invoice PDF and CSV are real documents with the right figures."""

import csv
import io
from decimal import Decimal

import pytest
from pypdf import PdfReader

from accounts.audit_trail import Actor
from billing.invoicing import documents
from billing.invoicing import services as invoicing
from tests.billing.invoicing_data import NOV, customer, rollup

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice():
    c = customer()
    rollup(c, key="service", cost="1234.565")
    rollup(c, key="web", model="coder", cost="88.1")
    rollup(c, key="lab", cost="0.5")
    [draft] = invoicing.close_month(month=NOV)
    return invoicing.issue_invoice(actor=Actor.system(), invoice=draft)


def test_the_pdf_is_a_real_pdf_with_number_organization_and_total(invoice):
    pdf = documents.invoice_pdf(invoice)
    assert pdf.startswith(b"%PDF-")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert invoice.number in text
    assert "上海示例科技有限公司" in text
    # 1234.57 + 88.10 + 0.50 = 1323.17; VAT 79.3902 -> 79.39
    assert invoice.total_amount == Decimal("1402.56")
    assert "1,402.56" in text
    assert "研发部" in text and "增值税" in text


def test_the_csv_has_one_row_per_line(invoice):
    rows = list(csv.DictReader(io.StringIO(documents.invoice_csv(invoice).removeprefix("\ufeff"))))
    assert [row["amount"] for row in rows] == ["88.10", "1234.57", "0.50"]
    assert {row["invoice_number"] for row in rows} == {invoice.number}
    assert sum(Decimal(row["amount"]) for row in rows) == invoice.subtotal_amount
