"""Department chargeback: each department's share, summing to the invoice subtotal."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from pypdf import PdfReader

from accounts.audit_trail import Actor
from billing.invoicing import documents
from billing.invoicing import services as invoicing
from tests.billing.invoicing_data import NOV, customer, rollup

pytestmark = pytest.mark.django_db


def test_departments_and_usage_without_department_sum_to_the_subtotal():
    c = customer()
    rollup(c, key="service", cost="10.005")  # 研发部 (under 总部)
    rollup(c, key="service", model="coder", cost="0.333")
    rollup(c, key="web", cost="3.3349")  # 总部
    rollup(c, key="lab", cost="7.777")  # no department
    preview = invoicing.chargeback_statement(c.organization, NOV)
    [invoice] = invoicing.close_month(month=NOV)
    statement = invoicing.chargeback_statement(c.organization, NOV)
    assert statement.invoice == invoice
    rows = {row.code: row for row in statement.departments}
    assert rows["RD"].amount == Decimal("10.34")  # 10.01 + 0.33
    assert rows["HQ"].amount == Decimal("3.33")
    assert rows["HQ"].subtree_amount == Decimal("13.67")
    assert rows[""].amount == Decimal("7.78")
    assert statement.total_amount == invoice.subtotal_amount == Decimal("21.45")
    assert preview.total_amount == statement.total_amount


def test_adjustment_lines_are_charged_back_too():
    c = customer()
    rollup(c, cost="1")
    [november] = invoicing.close_month(month=NOV)
    invoicing.issue_invoice(actor=Actor.system(), invoice=november)
    rollup(c, key="web", cost="2", hour=datetime(2026, 11, 20, tzinfo=UTC))  # late
    rollup(c, key="lab", cost="4", hour=datetime(2026, 12, 2, tzinfo=UTC))
    [december] = invoicing.close_month(month=NOV.replace(month=12))
    statement = invoicing.chargeback_statement(c.organization, NOV.replace(month=12))
    assert statement.total_amount == december.subtotal_amount == Decimal("6.00")


def test_csv_and_pdf():
    c = customer()
    rollup(c, key="service", cost="10")
    rollup(c, key="lab", cost="5")
    invoicing.close_month(month=NOV)
    statement = invoicing.chargeback_statement(c.organization, NOV)
    rows = list(csv.DictReader(io.StringIO(documents.chargeback_csv(statement))))
    assert sum(Decimal(row["amount"]) for row in rows) == Decimal("15.00")
    assert [row["depth"] for row in rows] == ["1", "0"]  # 研发部 under 总部, then no department
    pdf = documents.chargeback_pdf(statement, "en")
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "研发部" in text and "¥15.00" in text and "before VAT" in text


def test_the_department_tree_is_depth_first_with_depths():
    c = customer()
    rollup(c, key="service", cost="10")  # 研发部, under 总部 (which has no usage of its own)
    rollup(c, key="lab", cost="5")
    statement = invoicing.chargeback_statement(c.organization, NOV)
    tree = [(row.code, depth) for row, depth in documents.department_tree(statement)]
    assert tree == [("HQ", 0), ("RD", 1), ("", 0)]


def test_the_page_indents_the_tree_and_says_before_vat(client):
    from accounts.permissions import Role
    from tests.factories import MembershipFactory

    c = customer()
    rollup(c, key="service", cost="10")
    rollup(c, key="lab", cost="5")
    [draft] = invoicing.close_month(month=NOV)
    invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    client.force_login(MembershipFactory(organization=c.organization, role=Role.BILLING).user)
    page = client.get("/billing/chargeback/2026-11/").content.decode()
    assert "before VAT" in page and "¥15.00" in page
    assert 'class="depth-1">研发部' in page and 'class="depth-0">总部' in page
    assert "/billing/chargeback/2026-11/" in client.get("/billing/").content.decode()
    client.force_login(MembershipFactory(organization=c.organization, role=Role.DEVELOPER).user)
    assert client.get("/billing/chargeback/2026-11/").status_code == 403
