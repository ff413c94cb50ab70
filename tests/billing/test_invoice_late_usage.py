"""Late usage is billed exactly once: on its month's invoice while that month is open, else
as an adjustment line on the organization's next invoice, whether or not its month had an
invoice; verify_billing checks it. Usage goes the real way: gateway batches through
ingestion, the hourly rollup, the daily billing run."""

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from pypdf import PdfReader

from accounts.audit_trail import Actor
from billing.invoicing import documents, ledger, reconciliation, tasks
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice, InvoiceLine, LedgerEntry
from billing.metering import services as metering
from portal.periods import business_zone
from tests.billing.invoicing_data import at_once
from tests.billing.metering_world import build_world
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

OCT, NOV, DEC = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)
JAN = date(2027, 1, 1)
# The daily run once each month's grace period (2 days) is over, in UTC.
AFTER_NOV_CLOSE = datetime(2026, 12, 2, 17, tzinfo=UTC)
AFTER_DEC_CLOSE = datetime(2027, 1, 2, 17, tzinfo=UTC)
AFTER_JAN_CLOSE = datetime(2027, 2, 2, 17, tzinfo=UTC)


def world(payment_mode):
    w = build_world(OrganizationFactory(payment_mode=payment_mode))
    if payment_mode == "prepaid":
        ledger.record_top_up(
            actor=Actor.system(), organization=w.org, amount=Decimal(1000), reference="T-1"
        )
    return w


def ingest(w, now, at, key="a", input_tokens=1_234_567):
    """One call of chat-2 (1 CNY per million input tokens, so N tokens cost N / 10^6)."""
    event = w.event(key=key, model="chat-2", at=at, input_tokens=input_tokens, output_tokens=0)
    [stored] = metering.ingest_usage(events=[event], now=now).events
    return stored


def billing_day(now):
    metering.roll_up()
    invoicing.run_billing_day(now=now)


def lines(invoice):
    return [(line.service_month, line.amount, line.requests) for line in invoice.lines.all()]


@pytest.mark.parametrize("payment_mode", ["prepaid", "postpaid"])
def test_an_event_34_days_late_into_a_month_without_an_invoice_is_billed_on_the_next(
    payment_mode, settings
):
    settings.INVOICE_GRACE_DAYS = 2
    w = world(payment_mode)
    ingest(w, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
    billing_day(AFTER_NOV_CLOSE)  # November's invoice; October had no usage, no invoice
    [november] = Invoice.objects.filter(organization=w.org)
    assert lines(november) == [(NOV, Decimal("1.23"), 1)]
    # 34 days after it happened (October 30, Shanghai), after November's close.
    arrives = AFTER_NOV_CLOSE + timedelta(hours=1)
    late = ingest(w, arrives, arrives - timedelta(days=34), key="b", input_tokens=2_005_000)
    assert late.occurred_at.astimezone(business_zone()).date() == date(2026, 10, 30)
    # Before it is invoiced: pending, not a difference.
    report = reconciliation.verify_billing(now=arrives)
    assert (report.problems, report.pending) == ([], 1)

    billing_day(AFTER_DEC_CLOSE)

    december = Invoice.objects.get(organization=w.org, period_start=DEC)
    assert lines(december) == [(OCT, Decimal("2.01"), 1)]
    [adjustment] = december.lines.all()
    assert adjustment.is_adjustment and "(usage of 2026-10)" in adjustment.description
    assert "2026-10" in documents.invoice_csv(december)
    pdf = PdfReader(io.BytesIO(documents.invoice_pdf(december)))
    text = "".join(page.extract_text() for page in pdf.pages)
    assert "Adjustment: usage of 2026-10" in text
    assert ("Settled from the prepaid balance" in text) is (payment_mode == "prepaid")
    assert reconciliation.verify_billing(now=AFTER_JAN_CLOSE + timedelta(days=40)).problems == []
    entries = LedgerEntry.objects.for_org(w.org)
    if payment_mode == "prepaid":
        # Drawn from the balance as it arrived; the invoice documents it, settled from the
        # balance, which takes only its VAT and rounding: nothing is charged twice.
        assert december.status == "paid" and december.settled_from_balance
        usage = entries.filter(kind="usage_charge").order_by("id")
        assert [e.amount for e in usage] == [Decimal("-1.234567"), Decimal("-2.005")]
        [vat] = entries.filter(kind="invoice", invoice=december)
        assert vat.amount == -december.tax_amount
        assert ledger.balance(w.org) == 1000 - november.total_amount - december.total_amount
    else:
        assert december.status == "issued" and not december.settled_from_balance
        [owed] = entries.filter(kind="invoice", invoice=december)
        assert owed.amount == -december.total_amount == Decimal("-2.13")  # 2.01 + 6 % VAT
    call_command("verify_ledger")


def test_late_usage_of_an_issued_month_is_an_adjustment_on_the_next_invoice_once():
    w = world("postpaid")
    ingest(w, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
    billing_day(AFTER_NOV_CLOSE)
    # November usage arriving after November's invoice was issued, twice, and December's.
    for hours, key in ((2, "a"), (30, "n")):
        arrives = AFTER_NOV_CLOSE + timedelta(hours=hours)
        ingest(w, arrives, datetime(2026, 11, 29, tzinfo=UTC), key=key, input_tokens=500_000)
    ingest(w, AFTER_NOV_CLOSE, datetime(2026, 12, 2, tzinfo=UTC), key="b", input_tokens=10**6)
    billing_day(AFTER_DEC_CLOSE)
    billing_day(AFTER_JAN_CLOSE)  # nothing more for November: no third invoice line for it
    november, december = Invoice.objects.filter(organization=w.org).order_by("period_start")
    assert lines(november) == [(NOV, Decimal("1.23"), 1)]
    assert lines(december) == [
        (DEC, Decimal("1.00"), 1),
        (NOV, Decimal("0.50"), 1),  # project A: its month now costs 1.734567 -> 1.73
        (NOV, Decimal("0.50"), 1),  # no department
    ]
    assert Invoice.objects.filter(organization=w.org).count() == 2
    pdf = documents.invoice_pdf(december)
    assert pdf.startswith(b"%PDF")
    assert reconciliation.verify_billing(now=datetime(2027, 4, 1, tzinfo=UTC)).problems == []


def test_a_voided_invoices_usage_is_billed_again_on_the_next_invoice():
    w = world("postpaid")
    ingest(w, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
    billing_day(AFTER_NOV_CLOSE)
    november = Invoice.objects.get(organization=w.org)
    invoicing.void_invoice(actor=Actor.system(), invoice=november, reason="wrong buyer")
    report = reconciliation.verify_billing(now=AFTER_NOV_CLOSE)
    assert (report.problems, report.pending) == ([], 1)  # for the next close to carry
    billing_day(AFTER_DEC_CLOSE)
    december = Invoice.objects.get(organization=w.org, period_start=DEC)
    assert lines(december) == [(NOV, Decimal("1.23"), 1)]
    assert reconciliation.verify_billing(now=AFTER_DEC_CLOSE).problems == []


def test_closes_in_any_order_bill_each_event_once():
    """Staff close December before November's own close: December's invoice carries
    November's usage; November's close then finds nothing left."""
    w = world("postpaid")
    ingest(w, datetime(2026, 12, 20, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
    ingest(w, datetime(2026, 12, 20, tzinfo=UTC), datetime(2026, 12, 19, tzinfo=UTC), key="b")
    now = datetime(2027, 1, 1, tzinfo=UTC)
    december = invoicing.close_and_issue_month(
        actor=Actor.system(), organization=w.org, month=DEC, now=now
    )
    assert lines(december) == [(DEC, Decimal("1.23"), 1), (NOV, Decimal("1.23"), 1)]
    assert (
        invoicing.close_and_issue_month(actor=Actor.system(), organization=w.org, month=NOV,
                                        now=now)
        is None
    )  # fmt: skip
    assert Invoice.objects.filter(organization=w.org).count() == 1
    assert reconciliation.verify_billing(now=now).problems == []


def test_verify_billing_lists_events_on_no_invoice_and_exits_1():
    """July 2026 is final (its last close, November's, was due in early December): an event
    of it that no invoice bills is reported by its request id."""
    w = world("postpaid")
    lost = ingest(w, datetime(2026, 7, 20, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC))
    with pytest.raises(CommandError, match="1 of 1 invoice line groups differ"):
        call_command("verify_billing")
    [problem] = reconciliation.verify_billing(now=datetime(2026, 12, 4, tzinfo=UTC)).problems
    assert problem.on_no_invoice == [lost.request_id]
    assert (problem.events, problem.requests, problem.expected_amount) == (1, 0, Decimal("1.23"))
    invoicing.close_and_issue_month(
        actor=Actor.system(), organization=w.org, month=date(2026, 7, 1),
        now=datetime(2026, 12, 4, tzinfo=UTC),
    )  # fmt: skip
    call_command("verify_billing")


def test_verify_billing_reports_a_line_that_bills_the_wrong_amount():
    w = world("postpaid")
    ingest(w, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
    metering.roll_up()
    [draft] = invoicing.close_month(month=NOV)
    line = draft.lines.get()
    line.amount = Decimal("1.24")  # a draft is still editable: a bad hand correction
    line.save()
    [problem] = reconciliation.verify_billing(now=AFTER_NOV_CLOSE).problems
    assert (problem.amount, problem.expected_amount, problem.on_no_invoice) == (
        Decimal("1.24"), Decimal("1.23"), [],
    )  # fmt: skip


def test_the_billing_day_task_closes_then_verifies_and_logs_differences(settings, caplog):
    settings.INVOICE_AUTO_ISSUE = False
    w = world("postpaid")
    ingest(w, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))
    metering.roll_up()
    tasks.run_billing_day()  # today (December 4th, 2026) November is due
    draft = Invoice.objects.get(organization=w.org, period_start=NOV)
    assert "verify_billing" not in caplog.text
    line = draft.lines.get()
    line.amount = Decimal("9.99")
    line.save()
    report = reconciliation.check_after_close(now=AFTER_NOV_CLOSE, month=NOV)
    assert len(report.problems) == 1
    [record] = [r for r in caplog.records if "verify_billing" in r.getMessage()]
    assert record.levelname == "ERROR" and "invoice lines bill 1 calls, 9.99" in record.getMessage()


@pytest.mark.django_db(transaction=True)
def test_closes_of_one_organization_at_the_same_time_bill_each_event_once():
    """Staff close November and December and the daily run closes November, all at once,
    while late calls arrive: each event is billed once (closes of one organization take
    turns), whichever wins."""
    w = world("postpaid")
    for day in (3, 19):
        ingest(w, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, day, tzinfo=UTC))
    ingest(w, datetime(2026, 12, 20, tzinfo=UTC), datetime(2026, 12, 19, tzinfo=UTC), key="b")
    now = datetime(2027, 1, 1, tzinfo=UTC)

    def close(month):
        invoicing.close_and_issue_month(
            actor=Actor.system(), organization=w.org, month=month, now=now
        )

    def late_call():
        ingest(w, datetime(2026, 12, 21, tzinfo=UTC), datetime(2026, 11, 25, tzinfo=UTC), "n")

    jobs = [lambda: close(NOV), lambda: close(DEC), lambda: billing_day(AFTER_NOV_CLOSE),
            late_call]  # fmt: skip
    # (A close refused: another job closed that month first.)
    assert at_once(jobs, refused=invoicing.InvoiceError) == []
    billing_day(AFTER_JAN_CLOSE)  # the late call, if it came after both closes
    billed = InvoiceLine.objects.filter(invoice__organization=w.org)
    assert sum(line.requests for line in billed) == 4
    assert reconciliation.verify_billing(now=datetime(2027, 5, 1, tzinfo=UTC)).problems == []


def test_late_usage_of_a_month_closed_early_is_billed_even_after_the_daily_run_stopped():
    """July closed by staff on August 1st; a July call reported on August 20th; the daily
    run does not run again until December: November's close still carries it."""
    w = world("postpaid")
    ingest(w, datetime(2026, 7, 20, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC))
    july = date(2026, 7, 1)
    invoicing.close_and_issue_month(
        actor=Actor.system(), organization=w.org, month=july,
        now=datetime(2026, 8, 1, tzinfo=UTC),
    )  # fmt: skip
    ingest(w, datetime(2026, 8, 20, tzinfo=UTC), datetime(2026, 7, 30, tzinfo=UTC), key="b")
    billing_day(AFTER_NOV_CLOSE)
    november = Invoice.objects.get(organization=w.org, period_start=NOV)
    assert lines(november) == [(july, Decimal("1.23"), 1)]
    assert reconciliation.verify_billing(now=AFTER_NOV_CLOSE).problems == []
