"""The billing page and the billing API: roles, tenancy, downloads."""

import io
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.invoicing import services as invoicing
from tests.billing.invoicing_data import NOV, customer, rollup
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def billed():
    c = customer()
    rollup(c, cost="12.345")
    [draft] = invoicing.close_month(month=NOV)
    return c, invoicing.issue_invoice(actor=Actor.system(), invoice=draft)


def user_with_role(c, role):
    return MembershipFactory(organization=c.organization, role=role).user


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.BILLING])
def test_billing_roles_see_the_page_and_download_the_invoice(client, billed, role):
    c, invoice = billed
    client.force_login(user_with_role(c, role))
    page = client.get("/billing/")
    assert page.status_code == 200
    assert invoice.number in page.content.decode()
    pdf = client.get(f"/billing/invoices/{invoice.public_id}.pdf")
    assert pdf["Content-Type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert invoice.number in text
    csv = client.get(f"/billing/invoices/{invoice.public_id}.csv").content.decode()
    assert "12.35" in csv
    assert client.get("/billing/chargeback/2026-11.csv").status_code == 200


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER])
def test_other_roles_get_403(client, billed, role):
    c, invoice = billed
    client.force_login(user_with_role(c, role))
    assert client.get("/billing/").status_code == 403
    assert client.get(f"/billing/invoices/{invoice.public_id}.pdf").status_code == 403
    assert client.get("/api/v1/invoices").status_code == 403
    assert client.get("/api/v1/billing/balance").status_code == 403


def test_an_outsider_gets_404_and_drafts_stay_with_staff(client, billed):
    _, invoice = billed
    other = customer(name="别家", legal_name="别家有限公司")
    rollup(other, cost="1")
    [draft] = invoicing.close_month(month=NOV)
    client.force_login(other.owner.user)
    assert client.get(f"/billing/invoices/{invoice.public_id}.pdf").status_code == 404
    assert client.get(f"/api/v1/invoices/{invoice.public_id}").status_code == 404
    assert client.get(f"/api/v1/invoices/{invoice.public_id}/pdf").status_code == 404
    assert client.get(f"/api/v1/invoices/{draft.public_id}").status_code == 404
    assert client.get("/api/v1/invoices").json()["count"] == 0


def test_the_api_lists_invoices_with_lines_documents_balance_and_ledger(
    client, billed, django_assert_max_num_queries
):
    c, invoice = billed
    client.force_login(c.owner.user)
    with django_assert_max_num_queries(8):
        listing = client.get("/api/v1/invoices").json()
    assert [row["number"] for row in listing["results"]] == [invoice.number]
    detail = client.get(f"/api/v1/invoices/{invoice.public_id}").json()
    assert detail["total_amount"] == "13.09" and detail["lines"][0]["amount"] == "12.35"
    assert detail["lines"][0]["department"] == "研发部"
    assert client.get(f"/api/v1/invoices/{invoice.public_id}/pdf").content.startswith(b"%PDF")
    balance = client.get("/api/v1/billing/balance").json()
    assert balance["balance_amount"] == "-13.09" and balance["payment_mode"] == "postpaid"
    ledger = client.get("/api/v1/billing/ledger").json()
    assert ledger["results"][0]["kind"] == "invoice"
    chargeback = client.get("/api/v1/billing/chargeback/2026-11").json()
    assert chargeback["total_amount"] == "12.35"
    assert client.get("/api/v1/billing/chargeback/2026-13").status_code == 404


ENDPOINTS = [
    "/billing/",
    "/billing/invoices/{id}.pdf",
    "/billing/invoices/{id}.csv",
    "/billing/chargeback/2026-11.pdf",
    "/api/v1/invoices",
    "/api/v1/invoices/{id}",
    "/api/v1/invoices/{id}/pdf",
    "/api/v1/invoices/{id}/csv",
    "/api/v1/billing/balance",
    "/api/v1/billing/ledger",
    "/api/v1/fapiao-requests",
    "/api/v1/billing/chargeback/2026-11",
    "/api/v1/billing/chargeback/2026-11/csv",
]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_every_billing_endpoint_refuses_a_viewer(client, billed, url):
    c, invoice = billed
    client.force_login(user_with_role(c, Role.VIEWER))
    assert client.get(url.format(id=invoice.public_id)).status_code == 403


def test_the_billing_page_runs_a_fixed_number_of_queries(client, billed):
    c, _ = billed
    client.force_login(c.owner.user)
    client.get("/billing/")
    with CaptureQueriesContext(connection) as one_invoice:
        client.get("/billing/")
    for start in (date(2026, 12, 1), date(2027, 1, 1)):  # two more invoices, ledger entries
        rollup(c, cost="1", hour=datetime(start.year, start.month, 2, tzinfo=UTC))
        [draft] = invoicing.close_month(month=start)
        invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    with CaptureQueriesContext(connection) as three_invoices:
        assert client.get("/billing/").status_code == 200
    assert len(three_invoices) == len(one_invoice)
