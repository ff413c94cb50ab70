"""Staff console: top-ups, issue, void with a reason, credit notes, credit terms, suspension."""

from decimal import Decimal

import pytest

from accounts.audit_trail import Actor
from billing.invoicing import ledger
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice, LedgerEntry
from tests.billing.invoicing_data import NOV, customer, rollup

pytestmark = pytest.mark.django_db


def test_staff_record_a_top_up_once_per_bank_reference(client, staff_user):
    c = customer(payment_mode="prepaid")
    data = {"organization": c.organization.pk, "amount": "20000.00",
            "reference": "ICBC-20261127-0001", "note": "对公转账"}  # fmt: skip
    response = client.post("/admin/billing/ledgerentry/top-up/", data)
    assert response.status_code == 302
    again = client.post("/admin/billing/ledgerentry/top-up/", data)
    assert again.status_code == 200 and "already recorded" in again.content.decode()
    assert ledger.balance(c.organization) == Decimal("20000.00")
    assert LedgerEntry.objects.get().created_by == staff_user
    listed = client.get("/admin/billing/ledgerentry/")
    assert "balance_after" in listed.context["cl"].list_display  # a column, never a form field
    assert "Balance after" in listed.content.decode()


def test_staff_review_issue_void_and_credit(client, staff_user):
    c = customer()
    rollup(c, cost="50")
    [draft] = invoicing.close_month(month=NOV)
    assert client.get(f"/admin/billing/invoice/{draft.pk}/change/").status_code == 200
    client.post(
        "/admin/billing/invoice/", {"action": "issue_drafts", "_selected_action": [draft.pk]}
    )
    draft.refresh_from_db()
    assert draft.status == "issued"
    assert (
        client.post(f"/admin/billing/invoice/{draft.pk}/void/", {"reason": ""}).status_code == 200
    )
    client.post(f"/admin/billing/invoice/{draft.pk}/credit/", {"net_amount": "5", "reason": "SLA"})
    assert Invoice.objects.filter(kind="credit_note", credited_invoice=draft).exists()
    response = client.post(f"/admin/billing/invoice/{draft.pk}/void/", {"reason": "重复开具"})
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.void_reason) == ("void", "重复开具")
    assert client.get(f"/admin/billing/invoice/{draft.pk}/pdf/").content.startswith(b"%PDF")


def test_suspension_is_refused_before_the_notice_period(client, staff_user):
    c = customer()
    rollup(c, cost="50")
    [draft] = invoicing.close_month(month=NOV)
    invoice = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    response = client.post(
        "/admin/billing/invoice/",
        {"action": "suspend_organizations", "_selected_action": [invoice.pk]},
        follow=True,
    )
    assert "notice period" in response.content.decode()
    c.organization.refresh_from_db()
    assert c.organization.status == "active"


def test_staff_change_credit_terms_through_the_billing_account(client, staff_user):
    c = customer(payment_mode="prepaid", credit_limit=Decimal(0))
    response = client.post(
        f"/admin/billing/billingaccount/{c.organization.pk}/change/",
        {"payment_mode": "postpaid", "credit_limit_amount": "80000.00"},
    )
    assert response.status_code == 302
    c.organization.refresh_from_db()
    assert (c.organization.payment_mode, c.organization.credit_limit_amount) == (
        "postpaid", Decimal("80000.00"),
    )  # fmt: skip
    assert c.organization.audit_events.filter(action="billing.credit_terms_changed").exists()
