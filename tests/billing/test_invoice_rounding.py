"""Prepaid reconciliation: the usage charges an invoice covers (unrounded, charged as the usage
arrived) plus one rounding entry equal its subtotal, and with the VAT entry its total.

Usage goes the real way: gateway batches through ingestion (which charges the ledger), the
hourly rollup, the monthly close, issuing."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.audit_trail import Actor
from billing.invoicing import ledger
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice, LedgerEntry
from billing.metering import services as metering
from exports import services as exports
from tests.billing.metering_world import build_world
from tests.factories import LedgerEntryFactory, OrganizationFactory

pytestmark = pytest.mark.django_db

NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)
IN_NOV = datetime(2026, 11, 10, 3, tzinfo=UTC)
NOV_NOW = datetime(2026, 11, 29, tzinfo=UTC)  # ingestion's clock while November's usage arrives
DEC_NOW = datetime(2026, 12, 3, tzinfo=UTC)  # late November usage and December's
PRICES = {"chat-1": (Decimal(2), Decimal(8)), "chat-2": (Decimal(1), Decimal(3))}  # per M


def prepaid_world(payment_mode="prepaid", top_up="100"):
    world = build_world(OrganizationFactory(payment_mode=payment_mode))
    ledger.record_top_up(
        organization=world.org,
        amount=Decimal(top_up),
        reference="对公转账 01",
        actor=Actor.system(),
    )
    return world


def ingest(world, now, *events):
    """One gateway batch of (key, model, input tokens, output tokens, occurred at)."""
    metering.ingest_usage(
        events=[
            world.event(key=key, model=model, at=at, input_tokens=inp, output_tokens=out)
            for key, model, inp, out, at in events
        ],
        now=now,
    )


def close_and_issue(month) -> Invoice | None:
    metering.roll_up()
    drafts = invoicing.close_month(month=month)
    return invoicing.issue_invoice(actor=Actor.system(), invoice=drafts[0]) if drafts else None


def entries(world, kind) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.for_org(world.org).filter(kind=kind).order_by("id"))


def total(rows) -> Decimal:
    return sum((row.amount for row in rows), Decimal(0))


def test_a_hand_computed_month_with_lines_rounded_up_and_down():
    """chat-2 costs 1 CNY per million input tokens, so N tokens cost N / 10^6 exactly.

    line        unrounded   rounded   rounding
    A (2 calls) 1.234567    1.23      +0.004567 (down: in the customer's favour)
    B           2.005       2.01      -0.005    (half up)
    none        0.987654    0.99      -0.002346 (up)
    subtotal    4.227221    4.23      -0.002779;  VAT 6 % of 4.23 = 0.2538 -> 0.25; total 4.48
    """
    world = prepaid_world()
    a1, a2 = ("a", "chat-2", 1_000_000, 0, IN_NOV), ("a", "chat-2", 234_567, 0, IN_NOV)
    b, n = ("b", "chat-2", 2_005_000, 0, IN_NOV), ("n", "chat-2", 987_654, 0, IN_NOV)
    ingest(world, NOV_NOW, a1, b)  # two gateway batches: two usage charges
    ingest(world, NOV_NOW, a2, n)
    assert total(entries(world, "usage_charge")) == Decimal("-4.227221")

    invoice = close_and_issue(NOV)

    lines = list(invoice.lines.order_by("position"))
    assert [line.amount for line in lines] == [Decimal("1.23"), Decimal("2.01"), Decimal("0.99")]
    assert [line.cost_amount for line in lines] == [
        Decimal("1.234567"), Decimal("2.005"), Decimal("0.987654"),
    ]  # fmt: skip
    assert (invoice.subtotal_amount, invoice.tax_amount, invoice.total_amount) == (
        Decimal("4.23"), Decimal("0.25"), Decimal("4.48"),
    )  # fmt: skip
    assert invoice.settled_from_balance and invoice.status == "paid"
    [rounding] = entries(world, "rounding")
    assert rounding.amount == Decimal("-0.002779")
    assert rounding.invoice == invoice and rounding.reference == f"rounding:{invoice.number}"
    assert total(entries(world, "usage_charge")) + rounding.amount == -invoice.subtotal_amount
    [vat] = entries(world, "invoice")
    assert vat.amount == Decimal("-0.25")
    assert ledger.balance(world.org) == Decimal("95.52")  # 100 - 4.48: the statement adds up
    audit = world.org.audit_events.get(action="billing.invoice_issued")
    assert audit.changes["after"]["rounding"] == "-0.0027790000"
    call_command("verify_ledger")


def test_late_usage_is_billed_and_reconciled_on_the_next_invoice():
    world = prepaid_world()
    ingest(world, NOV_NOW, ("a", "chat-2", 1_234_567, 0, IN_NOV))
    november = close_and_issue(NOV)
    assert entries(world, "rounding")[0].amount == Decimal("0.004567")  # 1.234567 -> 1.23
    # December: 0.003 more for November (1.237567 now rounds to 1.24: a 0.01 adjustment
    # line covering 0.003) and 0.5 of December usage.
    in_dec = datetime(2026, 12, 2, tzinfo=UTC)
    ingest(world, DEC_NOW, ("a", "chat-2", 3_000, 0, IN_NOV), ("n", "chat-2", 500_000, 0, in_dec))
    december = close_and_issue(DEC)

    current, adjustment = december.lines.order_by("position")  # this month's lines first
    assert (adjustment.service_month, adjustment.amount, adjustment.cost_amount) == (
        NOV, Decimal("0.01"), Decimal("0.003"),
    )  # fmt: skip
    assert (current.amount, current.cost_amount) == (Decimal("0.50"), Decimal("0.5"))
    assert december.subtotal_amount == Decimal("0.51")
    assert [entry.amount for entry in entries(world, "rounding")] == [
        Decimal("0.004567"), Decimal("-0.007"),
    ]  # fmt: skip
    usage_and_rounding = total(entries(world, "usage_charge")) + total(entries(world, "rounding"))
    assert usage_and_rounding == -(november.subtotal_amount + december.subtotal_amount)
    assert ledger.balance(world.org) == Decimal(100) - november.total_amount - december.total_amount
    call_command("verify_ledger")


def test_the_rounding_entry_is_posted_once_however_often_it_is_asked_for(settings):
    settings.INVOICE_GRACE_DAYS = 0
    world = prepaid_world()
    ingest(world, NOV_NOW, ("a", "chat-2", 1_234_567, 0, IN_NOV))
    metering.roll_up()
    for _run in range(2):  # the daily run, twice: closes, issues, and then leaves it alone
        invoicing.run_billing_day(now=datetime(2026, 12, 1, 1, tzinfo=UTC))
    invoice = Invoice.objects.get(organization=world.org)
    with pytest.raises(invoicing.InvoiceError):
        invoicing.issue_invoice(actor=Actor.system(), invoice=invoice)
    again = ledger.post_rounding_adjustment(actor=Actor.system(), invoice=invoice)
    assert again == ledger.post_rounding_adjustment(actor=Actor.system(), invoice=invoice)
    assert [entry.pk for entry in entries(world, "rounding")] == [again.pk]
    assert ledger.balance(world.org) == Decimal("100") - invoice.total_amount
    call_command("verify_ledger")


@pytest.mark.parametrize(
    ("language", "label"), [("en", "Rounding adjustment"), ("zh-hans", "舍入调整")]
)
def test_the_billing_page_and_the_data_export_show_the_rounding_entry(client, language, label):
    world = prepaid_world()
    ingest(world, NOV_NOW, ("a", "chat-2", 1_234_567, 0, IN_NOV))
    invoice = close_and_issue(NOV)
    client.force_login(world.members["owner"].user)
    page = client.get("/billing/", headers={"accept-language": language}).content.decode()
    assert label in page and f"rounding:{invoice.number}" in page
    tables = {table.name: table for table in exports.tables()}
    ledger_rows = tables["ledger_entries.csv"]
    columns = list(ledger_rows.columns)
    rows = [dict(zip(columns, row, strict=True)) for row in ledger_rows.rows(world.org)]
    [rounding] = [row for row in rows if row["kind"] == "rounding"]
    assert (rounding["amount"], rounding["invoice"]) == (Decimal("0.004567"), invoice.number)
    lines = tables["invoice_lines.csv"]
    [line] = [dict(zip(lines.columns, row, strict=True)) for row in lines.rows(world.org)]
    assert (line["amount"], line["cost_amount"]) == (Decimal("1.23"), Decimal("1.234567"))


def test_postpaid_organizations_get_no_rounding_entry():
    world = prepaid_world(payment_mode="postpaid")
    ingest(world, NOV_NOW, ("a", "chat-2", 1_234_567, 0, IN_NOV))
    invoice = close_and_issue(NOV)
    assert not invoice.settled_from_balance and invoice.status == "issued"
    assert ledger.post_rounding_adjustment(actor=Actor.system(), invoice=invoice) is None
    assert entries(world, "rounding") == entries(world, "usage_charge") == []
    [owed] = entries(world, "invoice")
    assert owed.amount == -invoice.total_amount == Decimal("-1.30")
    call_command("verify_ledger")


def test_verify_ledger_reports_a_prepaid_invoice_the_ledger_does_not_match():
    world = prepaid_world()
    ingest(world, NOV_NOW, ("a", "chat-2", 1_234_567, 0, IN_NOV))
    invoice = close_and_issue(NOV)
    # A second rounding entry for the same invoice (a bad hand correction, say).
    LedgerEntryFactory(
        organization=world.org, kind=LedgerEntry.Kind.ROUNDING, amount=Decimal("0.004567"),
        reference="hand", invoice=invoice,
    )  # fmt: skip
    with pytest.raises(CommandError, match="1 ledger mismatch"):
        call_command("verify_ledger")
    [(reported, invoice_total, drawn)] = ledger.unreconciled_invoices()
    assert (reported, invoice_total, drawn) == (invoice, Decimal("1.30"), Decimal("1.295433"))


def test_verify_ledger_reports_usage_settled_from_a_balance_it_never_drew():
    # Postpaid while the usage arrived (nothing charged), prepaid when the invoice is issued.
    world = prepaid_world(payment_mode="postpaid")
    ingest(world, NOV_NOW, ("a", "chat-2", 1_234_567, 0, IN_NOV))
    world.org.payment_mode = "prepaid"
    world.org.save(update_fields=["payment_mode"])
    invoice = close_and_issue(NOV)
    assert invoice.settled_from_balance
    assert ledger.unreconciled_invoices() == []  # the invoice agrees with its own entries
    assert ledger.uncharged_settled_usage() == [(world.org.pk, Decimal("1.234567"), Decimal(0))]
    with pytest.raises(CommandError, match="1 ledger mismatch"):
        call_command("verify_ledger")


# --- Any usage: ledger usage + rounding == the invoices' subtotals --------------------------


call = st.tuples(
    st.sampled_from(["a", "b", "n"]),
    st.sampled_from(list(PRICES)),
    st.integers(0, 3_000_000),
    st.integers(0, 400_000),
    st.integers(1, 28),  # the day of the month it happened
)
batches = st.lists(st.lists(call, min_size=1, max_size=4), min_size=1, max_size=3)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(november=batches, late=st.lists(call, max_size=4), december=st.lists(call, max_size=4))
def test_any_usage_is_reconciled_to_the_cent(db, november, late, december):
    with transaction.atomic():  # each example starts clean: rolled back at the end
        world = prepaid_world(top_up="10000")

        def at(month, day):
            return datetime(2026, month, day, 6, tzinfo=UTC)

        for batch in november:
            ingest(world, NOV_NOW, *[(k, m, i, o, at(11, d)) for k, m, i, o, d in batch])
        first = close_and_issue(NOV)
        charged = total(entries(world, "usage_charge"))
        assert charged + total(entries(world, "rounding")) == -first.subtotal_amount

        for batch, month in ((late, 11), (december, 12)):
            if batch:  # December's calls on its first two days: ingestion's clock is the 3rd
                days = [d if month == 11 else 1 + d % 2 for *_call, d in batch]
                ingest(
                    world,
                    DEC_NOW,
                    *[(*c[:4], at(month, d)) for c, d in zip(batch, days, strict=True)],
                )
        second = close_and_issue(DEC)
        subtotals = first.subtotal_amount + (second.subtotal_amount if second else 0)
        totals = first.total_amount + (second.total_amount if second else 0)
        # Every call is on an invoice line (late ones on December's, as adjustments), so
        # the balance paid exactly the invoices: usage charges + rounding = the subtotals.
        usage = total(entries(world, "usage_charge"))
        assert usage + total(entries(world, "rounding")) == -subtotals
        assert ledger.balance(world.org) == Decimal(10000) - totals
        call_command("verify_ledger")
        transaction.set_rollback(True)
