"""The monthly statement of account: opening balance + the month's entries = closing
balance = the ledger's balance; PDF (fonts embedded) and CSV, page and API."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pypdf import PdfReader

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.invoicing import account, documents, ledger
from billing.invoicing import services as invoicing
from billing.invoicing.models import LedgerEntry
from billing.invoicing.remittance import reference_for
from tests.billing.invoicing_data import NOV, customer, event, rollup
from tests.billing.test_invoice_documents import font_files
from tests.factories import LedgerEntryFactory, MembershipFactory

pytestmark = pytest.mark.django_db
DEC = date(2026, 12, 1)


def entry(c, at, amount, kind=LedgerEntry.Kind.TOP_UP, **fields):
    return LedgerEntryFactory(organization=c.organization, created_at=at, kind=kind,
                              amount=Decimal(amount), **fields)  # fmt: skip


@pytest.fixture
def months():
    """A prepaid customer: October opens its ledger; November has top-ups, usage on two days,
    an invoice with its VAT and rounding; December one top-up so far."""
    c = customer(payment_mode="prepaid")
    entry(c, datetime(2026, 10, 5, tzinfo=UTC), "300", reference="bank:OCT")
    entry(c, datetime(2026, 11, 2, tzinfo=UTC), "1000", reference="bank:NOV")
    for day, cost in ((3, "1.25"), (3, "0.0000000003"), (4, "7.5")):
        entry(c, datetime(2026, 11, day, 8, tzinfo=UTC), f"-{cost}",
              kind=LedgerEntry.Kind.USAGE_CHARGE, reference=f"usage:CNY:{day}-{cost}",
              note="2 calls")  # fmt: skip
    entry(c, datetime(2026, 11, 20, tzinfo=UTC), "-60", kind=LedgerEntry.Kind.INVOICE)
    entry(c, datetime(2026, 11, 25, tzinfo=UTC), "25", kind=LedgerEntry.Kind.PAYMENT,
          reference="alipay:T9")  # fmt: skip
    entry(c, datetime(2026, 12, 1, 1, tzinfo=UTC), "50", reference="bank:DEC")
    return c


def test_opening_plus_the_entries_is_the_closing_balance_and_the_next_opening(months):
    c = months
    november = account.statement_of_account(c.organization, NOV)
    assert november.opening_balance == Decimal("300")
    movements = sum(november.totals.values(), Decimal(0))
    assert november.closing_balance == november.opening_balance + movements
    assert november.closing_balance == Decimal("300") + Decimal("1000") - Decimal(
        "8.7500000003") - Decimal("60") + Decimal("25")  # fmt: skip
    assert november.total(LedgerEntry.Kind.USAGE_CHARGE) == Decimal("-8.7500000003")
    december = account.statement_of_account(c.organization, DEC)
    assert december.opening_balance == november.closing_balance
    assert december.closing_balance == ledger.balance(c.organization)
    assert november.lines[-1].balance_after == november.closing_balance


def test_usage_is_added_up_per_day(months):
    lines = account.statement_of_account(months.organization, NOV).lines
    usage = [line for line in lines if line.kind == LedgerEntry.Kind.USAGE_CHARGE]
    assert [(line.day.day, line.amount, line.description) for line in usage] == [
        (3, Decimal("-1.2500000003"), "Usage 2026-11-03, 4 calls"),
        (4, Decimal("-7.5"), "Usage 2026-11-04, 2 calls"),
    ]


def test_a_real_month_of_usage_invoice_and_payment_adds_up():
    c = customer(payment_mode="prepaid")
    ledger.record_top_up(actor=Actor.system(), organization=c.organization,
                         amount=Decimal("500"), reference="R1")  # fmt: skip
    ledger.charge_usage([event(c, cost="1.004"), event(c, key="web", cost="2.0051")])
    rollup(c, cost="3.0091")
    [draft] = invoicing.close_month(month=NOV)
    invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    today = account.statement_months(c.organization, datetime.now(UTC).date())[0]
    statement = account.statement_of_account(c.organization, today)
    assert statement.closing_balance == ledger.balance(c.organization)
    assert statement.opening_balance + sum(statement.totals.values()) == statement.closing_balance


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_pdf_and_csv(months, language):
    c = months
    statement = account.statement_of_account(c.organization, NOV)
    reader = PdfReader(io.BytesIO(documents.statement_pdf(statement, language)))
    text = "".join(page.extract_text() for page in reader.pages)
    fonts = font_files(reader)
    assert fonts and all(fonts.values()) and "\ufffd" not in text
    assert reference_for(c.organization) in text and c.organization.legal_name in text
    assert "¥300.00" in text and "¥1,256.25" in text  # opening and closing
    rows = list(csv.DictReader(io.StringIO(documents.statement_csv(statement)[1:])))
    assert rows[0]["kind"] == "opening_balance" and rows[-1]["kind"] == "closing_balance"
    assert Decimal(rows[-1]["balance_after"]) == statement.closing_balance
    assert sum(Decimal(row["amount"]) for row in rows[1:-1]) == (
        statement.closing_balance - statement.opening_balance
    )


def test_the_billing_page_lists_the_months_and_the_downloads_work(client, months):
    c = months
    client.force_login(MembershipFactory(organization=c.organization, role=Role.BILLING).user)
    page = client.get("/billing/").content.decode()
    assert "/billing/statements/2026-11.pdf" in page and "/billing/statements/2026-10.csv" in page
    pdf = client.get("/billing/statements/2026-11.pdf?language=zh-hans")
    assert pdf["Content-Type"] == "application/pdf"
    assert client.get("/billing/statements/2026-13.pdf").status_code == 404


def test_the_api_statement(client, months):
    c = months
    client.force_login(MembershipFactory(organization=c.organization, role=Role.BILLING).user)
    body = client.get("/api/v1/billing/statements/2026-11").json()
    assert Decimal(body["opening_balance"]) == Decimal("300")
    assert Decimal(body["closing_balance"]) == Decimal("1256.2499999997")
    assert Decimal(body["totals"]["top_up"]) == Decimal("1000")
    assert body["lines"][0]["description"] == "Top-up by bank transfer"
    assert client.get("/api/v1/billing/statements/2026-11/csv").status_code == 200
    assert client.get("/api/v1/billing/statements/2026-11/pdf").status_code == 200
    other = customer(name="别家", legal_name="别家有限公司")
    client.force_login(MembershipFactory(organization=other.organization, role=Role.VIEWER).user)
    assert client.get("/api/v1/billing/statements/2026-11").status_code == 403
