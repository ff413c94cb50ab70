"""Property: an event dated in any month, late or not, is invoiced exactly once across any
sequence of closes.

Random calls over four months (July to October 2026), each reported up to 34 days late
through the real ingestion, interleaved at random with rollups, staff closing any month for
the organization (`close_and_issue_month`, in any order, refused or not), the daily billing
run, voids and (when drafts are not issued automatically) staff issuing drafts. Once every
month is final, every event is on exactly one invoice line: for each month and line group,
the lines of the non-void invoices count its calls once and bill its cost rounded once, and
verify_billing (and, prepaid, verify_ledger) find nothing."""

from collections import defaultdict
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.audit_trail import Actor
from billing.invoicing import ledger, reconciliation
from billing.invoicing import services as invoicing
from billing.invoicing.models import Invoice, InvoiceLine, LedgerEntry
from billing.metering import services as metering
from billing.metering.models import UsageEvent
from portal.money import round_money
from portal.periods import add_months, month_of
from tests.billing.metering_world import build_world
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

JULY = date(2026, 7, 1)
START = datetime(2026, 6, 30, 16, tzinfo=UTC)  # July 1st, 00:00 in Shanghai
HOURS = 153 * 24  # to the end of November: the last late October call arrives by then
# After the daily closes of November, December and January: every month up to October is
# final (no close can carry it any more).
FINAL_RUNS = [datetime(2026, 12, 3, tzinfo=UTC), datetime(2027, 1, 3, tzinfo=UTC),
              datetime(2027, 2, 3, tzinfo=UTC)]  # fmt: skip
CHECKED_AT = datetime(2027, 2, 5, tzinfo=UTC)

call = st.tuples(
    st.integers(0, 3),  # the month, from July
    st.integers(1, 28),  # its day (UTC)
    st.integers(0, 23),  # hour (UTC): the first 8 hours of the 1st are the month before's
    st.sampled_from(["a", "b", "n"]),
    st.sampled_from(["chat-1", "chat-2"]),
    st.integers(0, 2_000_000),
    st.integers(0, 200_000),
    st.integers(0, 34 * 24),  # reported this many hours later (the window is 35 days)
)
operation = st.one_of(
    st.tuples(st.just("close"), st.integers(0, 4), st.integers(0, HOURS)),  # July..November
    st.tuples(st.just("billing_day"), st.integers(0, HOURS)),
    st.tuples(st.just("roll_up"), st.integers(0, HOURS)),
    st.tuples(st.just("void"), st.integers(0, HOURS)),
    st.tuples(st.just("issue"), st.integers(0, HOURS)),
)


def run(world, what, at, month=None):
    if what == "close":
        # Refused when not ended yet or closed already: then nothing changes.
        with suppress(invoicing.InvoiceError):
            invoicing.close_and_issue_month(
                actor=Actor.system(), organization=world.org, month=month, now=at
            )
    elif what == "billing_day":
        invoicing.run_billing_day(now=at)
    elif what == "roll_up":
        metering.roll_up()
    elif what == "void":
        owed = Invoice.objects.filter(organization=world.org, kind="invoice", status="issued")
        for invoice in owed.order_by("id")[:1]:
            invoicing.void_invoice(actor=Actor.system(), invoice=invoice, reason="re-issue")
    else:
        for draft in Invoice.objects.filter(organization=world.org, status="draft"):
            invoicing.issue_invoice(actor=Actor.system(), invoice=draft)


def schedule(world, calls, operations):
    """(time, order, action) for every report and operation, in time order."""
    steps = []
    for n, (month, day, hour, key, model, inp, out, late) in enumerate(calls):
        at = datetime(2026, 7 + month, day, hour, tzinfo=UTC)
        event = world.event(key=key, model=model, at=at, input_tokens=inp, output_tokens=out)
        steps.append((at + timedelta(hours=late, minutes=1), n, "ingest", event))
    for n, (what, *args) in enumerate(operations):
        at = START + timedelta(hours=args[-1])
        month = add_months(JULY, args[0]) if what == "close" else None
        steps.append((at, len(calls) + n, what, month))
    return sorted(steps, key=lambda step: step[:2])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    calls=st.lists(call, min_size=1, max_size=14),
    operations=st.lists(operation, max_size=10),
    payment_mode=st.sampled_from(["prepaid", "postpaid"]),
    auto_issue=st.booleans(),
)
def test_every_event_is_on_exactly_one_invoice_line(
    db, calls, operations, payment_mode, auto_issue
):
    with transaction.atomic(), override_settings(INVOICE_AUTO_ISSUE=auto_issue):
        world = build_world(OrganizationFactory(payment_mode=payment_mode))
        if payment_mode == "prepaid":
            ledger.record_top_up(
                actor=Actor.system(), organization=world.org, amount=Decimal(10**6),
                reference="T-1",
            )  # fmt: skip
        for at, _order, what, detail in schedule(world, calls, operations):
            if what == "ingest":
                metering.ingest_usage(events=[detail], now=at)
            else:
                run(world, what, at, detail)
        for at in FINAL_RUNS:
            invoicing.run_billing_day(now=at)

        # Each month and group: its calls counted once, its cost rounded once.
        events = UsageEvent.objects.filter(organization=world.org)
        assert events.count() == len(calls)
        expected = defaultdict(lambda: [0, Decimal(0)])
        for event in events:
            group = (month_of(event.occurred_at), event.department_id, event.project_id,
                     event.model_id)  # fmt: skip
            expected[group][0] += 1
            expected[group][1] += event.cost_amount
        billed = defaultdict(lambda: [0, Decimal(0)])
        lines = InvoiceLine.objects.filter(invoice__organization=world.org).exclude(
            invoice__status="void"
        )
        for line in lines:
            group = (line.service_month, line.department_id, line.project_id, line.model_id)
            billed[group][0] += line.requests
            billed[group][1] += line.amount
        assert dict(billed) == {
            group: [count, round_money(cost, "CNY")] for group, (count, cost) in expected.items()
        }
        report = reconciliation.verify_billing(now=CHECKED_AT, organization=world.org)
        assert (report.problems, report.pending) == ([], 0)
        if payment_mode == "prepaid":
            # Usage was drawn as it arrived; the invoices settled it, nothing twice.
            settled = Invoice.objects.filter(organization=world.org, settled_from_balance=True)
            totals = sum((invoice.total_amount for invoice in settled), Decimal(0))
            if auto_issue:
                assert ledger.balance(world.org) == Decimal(10**6) - totals
            usage = LedgerEntry.objects.for_org(world.org).filter(kind="usage_charge")
            assert -sum(e.amount for e in usage) == sum(e.cost_amount for e in events)
        call_command("verify_ledger")
        transaction.set_rollback(True)
