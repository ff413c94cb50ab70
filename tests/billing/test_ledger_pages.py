"""The ledger as customers read it: described entries, running balance, links, the page
(paginated, filtered, exported) and the API."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.audit_trail import Actor
from accounts.permissions import Role
from billing.invoicing import account, ledger
from billing.invoicing import services as invoicing
from billing.invoicing.models import LedgerEntry
from portal.periods import business_zone
from tests.billing.invoicing_data import NOV, customer, event, rollup, top_up
from tests.factories import LedgerEntryFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def described(organization) -> list[str]:
    entries = account.with_related(LedgerEntry.objects.for_org(organization).order_by("id"))
    return [row.description for row in account.ledger_rows(entries)]


def test_each_kind_of_entry_is_described_in_words():
    c = customer(payment_mode="prepaid")
    ledger.record_top_up(actor=Actor.system(), organization=c.organization,
                         amount=Decimal("500"), reference="20261101-0001")  # fmt: skip
    ledger.charge_usage([event(c, cost="1.004"), event(c, key="web", cost="2")])
    rollup(c, cost="3.004")
    [draft] = invoicing.close_month(month=NOV)
    invoice = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    descriptions = described(c.organization)
    assert descriptions[0] == "Top-up by bank transfer"
    today = timezone.localdate(timezone=business_zone())
    assert descriptions[1] == f"Usage {today:%Y-%m-%d}, 2 calls"  # the day it was charged
    assert f"Invoice {invoice.number} VAT 6 %" in descriptions
    assert f"Rounding of invoice {invoice.number} to the fen" in descriptions


def test_payments_credit_notes_and_voids_name_their_invoice():
    c = customer()
    rollup(c, cost="100")
    [draft] = invoicing.close_month(month=NOV)
    invoice = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    invoicing.record_payment(actor=Actor.system(), organization=c.organization,
                             amount=Decimal("50"), provider="wechat", reference="T1",
                             invoice=invoice)  # fmt: skip
    note = invoicing.create_credit_note(actor=Actor.system(), invoice=invoice,
                                        net_amount=Decimal("10"), reason="SLA")  # fmt: skip
    descriptions = described(c.organization)
    assert descriptions == [
        f"Invoice {invoice.number}",
        f"Payment of invoice {invoice.number} by WeChat Pay",
        f"Credit note {note.number} for invoice {invoice.number}",
    ]


def test_the_running_balance_moves_by_each_amount_and_ends_at_the_balance():
    c = customer(payment_mode="prepaid")
    top_up(c, "100")
    ledger.charge_usage([event(c, cost="0.0123456789")])
    top_up(c, "0.5")
    entries = list(LedgerEntry.objects.for_org(c.organization).order_by("id"))
    before = Decimal(0)
    for entry in entries:
        assert entry.balance_after == before + entry.amount
        before = entry.balance_after
    assert before == ledger.balance(c.organization)


def test_an_entry_refused_by_the_database_takes_its_balance_move_back():
    c = customer(payment_mode="prepaid")
    LedgerEntryFactory(organization=c.organization, amount=Decimal("5"), reference="bank:1")
    with pytest.raises(Exception):  # noqa: B017 - the IntegrityError of the backend
        LedgerEntryFactory(organization=c.organization, amount=Decimal("5"), reference="bank:1")
    assert ledger.balance(c.organization) == Decimal("5")


@pytest.fixture
def billing_member(client):
    c = customer()
    client.force_login(MembershipFactory(organization=c.organization, role=Role.BILLING).user)
    return c


def entry_on(c, day: datetime, amount: str, kind=LedgerEntry.Kind.TOP_UP, reference=""):
    return LedgerEntryFactory(organization=c.organization, amount=Decimal(amount), kind=kind,
                              created_at=day, reference=reference)  # fmt: skip


def test_the_page_is_paginated_and_shows_description_balance_and_invoice_link(
    client, billing_member
):
    c = billing_member
    for number in range(55):
        entry_on(c, datetime(2026, 11, 2, 3, tzinfo=UTC), "1", reference=f"bank:{number}")
    rollup(c, cost="12")
    [draft] = invoicing.close_month(month=NOV)
    invoice = invoicing.issue_invoice(actor=Actor.system(), invoice=draft)
    first = client.get("/billing/ledger/")
    assert first.status_code == 200
    page = first.content.decode()
    assert f"Invoice {invoice.number}" in page
    assert f"/billing/invoices/{invoice.public_id}.pdf" in page
    assert "Top-up by bank transfer" in page and "¥55.00" in page  # the balance before it
    assert "¥42.28" in page  # 55 - 12.72 (12 + 6 % VAT)
    assert "Page 1 of 2" in page
    second = client.get("/billing/ledger/?page=2").content.decode()
    assert "¥1.00" in second and invoice.number not in second
    assert "/billing/ledger/" in client.get("/billing/").content.decode()


def test_the_page_filters_by_days_and_kind_and_refuses_a_reversed_range(client, billing_member):
    c = billing_member
    entry_on(c, datetime(2026, 11, 30, 15, 59, tzinfo=UTC), "7")  # 11-30 23:59 in Shanghai
    entry_on(c, datetime(2026, 11, 30, 16, tzinfo=UTC), "9")  # 12-01 00:00 in Shanghai
    entry_on(c, datetime(2026, 12, 2, tzinfo=UTC), "-2", kind=LedgerEntry.Kind.ADJUSTMENT)
    november = client.get("/billing/ledger/?date_from=2026-11-01&date_to=2026-11-30")
    assert "¥7.00" in november.content.decode() and "¥9.00" not in november.content.decode()
    december = client.get("/billing/ledger/?date_from=2026-12-01&kind=top_up").content.decode()
    assert "¥9.00" in december and "¥7.00" not in december and "-¥2.00" not in december
    reversed_range = client.get("/billing/ledger/?date_from=2026-12-02&date_to=2026-12-01")
    assert reversed_range.status_code == 400
    assert "The end date is before the start date." in reversed_range.content.decode()
    assert client.get("/billing/ledger/?kind=nonsense").status_code == 400
    bad_csv = client.get("/billing/ledger.csv?date_from=2026-12-02&date_to=2026-12-01")
    assert bad_csv.status_code == 400


def test_the_csv_export_holds_the_filtered_entries_described(client, billing_member):
    c = billing_member
    entry_on(c, datetime(2026, 11, 3, tzinfo=UTC), "100", reference="bank:A")
    entry_on(c, datetime(2026, 11, 4, tzinfo=UTC), "-30", kind=LedgerEntry.Kind.ADJUSTMENT)
    response = client.get("/billing/ledger.csv?kind=top_up")
    text = b"".join(response.streaming_content).decode().removeprefix("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["description"] for row in rows] == ["Top-up by bank transfer"]
    assert Decimal(rows[0]["balance_after"]) == Decimal("100")
    everything = b"".join(client.get("/billing/ledger.csv").streaming_content).decode()
    assert Decimal(list(csv.DictReader(io.StringIO(everything.removeprefix("\ufeff"))))[-1][
        "balance_after"]) == Decimal("70")  # fmt: skip


@pytest.mark.parametrize("role", [Role.DEVELOPER, Role.VIEWER])
def test_roles_without_billing_get_403(client, role):
    c = customer()
    client.force_login(MembershipFactory(organization=c.organization, role=role).user)
    for url in ("/billing/ledger/", "/billing/ledger.csv", "/billing/statements/2026-11.pdf"):
        assert client.get(url).status_code == 403


def test_the_api_ledger_is_paginated_described_filtered_with_the_running_balance(
    client, billing_member
):
    c = billing_member
    entry_on(c, datetime(2026, 11, 3, tzinfo=UTC), "100", reference="bank:A")
    entry_on(c, datetime(2026, 11, 4, tzinfo=UTC), "-30", kind=LedgerEntry.Kind.ADJUSTMENT)
    body = client.get("/api/v1/billing/ledger?limit=1").json()
    assert body["count"] == 2 and len(body["results"]) == 1 and body["next"]
    newest = body["results"][0]
    assert newest["kind"] == "adjustment" and Decimal(newest["balance_after"]) == Decimal("70")
    assert newest["description"] == "Adjustment"
    top_ups = client.get("/api/v1/billing/ledger?kind=top_up").json()["results"]
    assert [row["description"] for row in top_ups] == ["Top-up by bank transfer"]
    refused = client.get("/api/v1/billing/ledger?date_from=2026-12-02&date_to=2026-12-01")
    assert refused.status_code == 400 and "date_to" in refused.json()["error"]["fields"]


def test_a_fresh_entry_is_dated_now():
    c = customer()
    entry = LedgerEntryFactory(organization=c.organization)
    assert abs((entry.created_at - timezone.now()).total_seconds()) < 60


def test_an_online_payment_entry_links_to_its_payment(client, billing_member):
    from billing.payments.models import Payment

    c = billing_member
    payment = Payment.objects.create(
        organization=c.organization, purpose="top_up", amount=Decimal("88"), currency="CNY",
        provider="alipay",
    )  # fmt: skip
    entry_on(c, timezone.now(), "88", reference=payment.ledger_reference)
    [row] = account.ledger_rows(LedgerEntry.objects.for_org(c.organization))
    assert row.description == "Top-up by Alipay" and row.payment == payment.public_id
    assert row.payment_url in client.get("/billing/ledger/").content.decode()
    assert client.get("/api/v1/billing/ledger").json()["results"][0]["payment"] == payment.public_id


def test_the_page_and_the_api_cost_the_same_queries_for_5_or_50_entries(client, billing_member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    c = billing_member
    rollup(c, cost="3")
    [draft] = invoicing.close_month(month=NOV)
    invoicing.issue_invoice(actor=Actor.system(), invoice=draft)

    def queries(url):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    for number in range(5):
        entry_on(c, timezone.now(), "1", reference=f"wechat:T{number}")
    few = (queries("/billing/ledger/"), queries("/api/v1/billing/ledger"))
    for number in range(5, 50):
        entry_on(c, timezone.now(), "1", reference=f"wechat:T{number}")
    assert (queries("/billing/ledger/"), queries("/api/v1/billing/ledger")) == few
