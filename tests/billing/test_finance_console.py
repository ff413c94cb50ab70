"""Staff console: a draft invoice on demand (generate, review, issue), the overdue list with
the notices each invoice was sent, and two confirmations of one bank line posting once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.audit_trail import Actor
from accounts.models import AuditEvent
from billing.invoicing import ledger, statements, transfers
from billing.invoicing import services as invoicing
from billing.invoicing.bank_models import BankStatementLine
from billing.invoicing.models import Invoice, LedgerEntry
from tests.billing.invoicing_data import NOV, NOV_FIRST_HOUR, at_once, customer, rollup


@pytest.mark.django_db
def test_staff_generate_a_draft_review_it_and_issue_it(client, staff_user):
    c = customer()
    rollup(c, cost="80")
    url = f"/admin/billing/billingaccount/{c.organization.pk}/close-month/"
    response = client.post(url, {"month": "2026-11", "mode": "draft"})
    draft = Invoice.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{draft.pk}/change/")
    assert (draft.status, draft.subtotal_amount) == ("draft", Decimal("80.00"))
    assert AuditEvent.objects.filter(action="billing.invoice_drafted").exists()
    assert not LedgerEntry.objects.exists()  # nothing owed before it is issued

    rollup(c, cost="20", hour=NOV_FIRST_HOUR + timedelta(days=1))  # arrived after the draft
    client.post(url, {"month": "2026-11", "mode": "draft"})  # refreshed, still one draft
    draft.refresh_from_db()
    assert (Invoice.objects.count(), draft.subtotal_amount) == (1, Decimal("100.00"))
    page = client.get(f"/admin/billing/invoice/{draft.pk}/change/").content.decode()
    assert f"/admin/billing/invoice/{draft.pk}/issue/" in page

    issue = f"/admin/billing/invoice/{draft.pk}/issue/"
    assert client.post(issue, {"reviewed": ""}).status_code == 200  # must tick it
    assert client.post(issue, {"reviewed": "on"}).status_code == 302
    draft.refresh_from_db()
    assert draft.status == "issued" and draft.number
    response = client.post(url, {"month": "2026-11", "mode": "draft"})
    assert "already closed" in response.content.decode()
    assert client.post(url, {"month": "2999-01", "mode": "draft"}).status_code == 200


@pytest.mark.django_db
def test_the_overdue_list_shows_outstanding_amounts_and_the_notices_sent(
    client, staff_user, settings
):
    settings.INVOICE_PAYMENT_TERMS_DAYS = -3  # issued already 3 days overdue
    c = customer()
    rollup(c, cost="100")
    [draft] = invoicing.close_month(month=NOV)
    invoice = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    paid_late = customer(name="另一家", legal_name="另一家有限公司")
    invoicing.send_invoice_notices(now=timezone.now())
    invoicing.record_payment(actor=Actor.system(), organization=c.organization,
                             amount=Decimal("6.00"), provider="bank", reference="P1",
                             invoice=invoice)  # fmt: skip

    page = client.get("/admin/billing/overdueinvoice/").content.decode()
    assert invoice.number in page and paid_late.organization.name not in page
    assert "invoice.issued" in page and "invoice.overdue" in page
    assert "100.00" in page  # 106.00 less the 6.00 paid


@pytest.mark.django_db(transaction=True)
def test_two_confirmations_of_one_line_post_it_once():
    c = customer(payment_mode="prepaid")
    rows, _errors = statements.read_statement(
        f"流水号,日期,金额,附言\nC1,2026-12-02,500.00,{c.organization.name}".encode(),
        currency="CNY",
    )
    [line] = transfers.import_statement(actor=Actor.system(), rows=rows, source_file="x").created
    transfers.assign_line(actor=Actor.system(), line=line, organization=c.organization)
    errors = at_once([lambda: transfers.post_line(actor=Actor.system(), line=line)] * 2)
    assert errors == []
    assert ledger.balance(c.organization) == Decimal("500.00")
    assert BankStatementLine.objects.get().status == "posted"
