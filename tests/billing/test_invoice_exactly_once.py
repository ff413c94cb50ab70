"""Property: an event dated in any month, late or not, is invoiced exactly once across any
sequence of closes, and packs and a plan's allowance take off its cost exactly once.

Random calls over four months (July to October 2026), each reported up to 34 days late
through the real ingestion, interleaved at random with rollups, staff closing any month for
the organization (`close_and_issue_month`, in any order, refused or not), the daily billing
run, voids and (when drafts are not issued automatically) staff issuing drafts. Once every
month is final, every event is on exactly one invoice line: for each month and line group,
the lines of the non-void invoices count its calls once and bill its charged cost (its cost
less what packs and the plan took off) rounded once, list what was covered once, and
verify_billing (and, prepaid, verify_ledger) find nothing.

The second property adds token packs (some allocated to a department, some covering one
model, small enough to run out mid-batch) and maybe a plan's monthly allowance with an
overage discount, calls reported in batches that the gateway may retry, and packs expiring
at random: no event draws more than its cost, a retry draws nothing, only entitlements that
cover an event draw it and none that could is left unused while it pays, and every
entitlement's granted = consumed + expired + remaining."""

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
from billing.packages import plans
from billing.packages import services as packages
from billing.packages.drawdown import covering
from billing.packages.models import (
    Entitlement,
    EntitlementEntry,
    Offer,
    OfferTerms,
    UsageCoverage,
)
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
# Enough for every call; small enough that a balance to ten decimal places survives SQLite,
# which stores decimals as floats (about 15 significant digits).
TOP_UP = Decimal(1000)
ZERO = Decimal(0)

caller_model_tokens = (  # which key calls which model, with how many input and output tokens
    st.sampled_from(["a", "b", "n"]),
    st.sampled_from(["chat-1", "chat-2"]),
    st.integers(0, 2_000_000),
    st.integers(0, 200_000),
)
call = st.tuples(
    st.integers(0, 3),  # the month, from July
    st.integers(1, 28),  # its day (UTC)
    st.integers(0, 23),  # hour (UTC): the first 8 hours of the 1st are the month before's
    *caller_model_tokens,
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
    elif what == "expire":
        packages.expire_due(now=at)
    else:
        for draft in Invoice.objects.filter(organization=world.org, status="draft"):
            invoicing.issue_invoice(actor=Actor.system(), invoice=draft)


def reported(world, month, day, hour, late, calls):
    """(arrival, events) of a batch whose latest call is at `day` `hour` of `month`, sent
    `late` hours later; `calls`: (hours before the latest, key, model, input, output)."""
    at = datetime(2026, 7 + month, day, hour, tzinfo=UTC)
    events = [
        world.event(key=key, model=model, at=at - timedelta(hours=before), input_tokens=inp,
                    output_tokens=out)
        for before, key, model, inp, out in calls
    ]  # fmt: skip
    return at + timedelta(hours=late, minutes=1), events


def alone(world, calls):
    """Each call reported on its own."""
    return [
        reported(world, month, day, hour, late, [(0, key, model, inp, out)])
        for month, day, hour, key, model, inp, out, late in calls
    ]


def schedule(reports, operations):
    """(time, order, action, detail) for every report and operation, in time order."""
    steps = [(at, n, "ingest", events) for n, (at, events) in enumerate(reports)]
    for n, (what, *args) in enumerate(operations):
        at = START + timedelta(hours=args[-1])
        month = add_months(JULY, args[0]) if what == "close" else None
        steps.append((at, len(reports) + n, what, month))
    return sorted(steps, key=lambda step: step[:2])


def charged(events) -> dict[int, tuple[Decimal, Decimal]]:
    """Per event id: (what it was charged, what entitlements covered); no coverage row:
    charged its cost."""
    rows = UsageCoverage.objects.filter(event_id__in=[e.id for e in events]).in_bulk()
    return {
        e.id: (rows[e.id].charged_amount, rows[e.id].covered_amount) if e.id in rows
        else (e.cost_amount, ZERO)
        for e in events
    }  # fmt: skip


def assert_billed_once(world, payment_mode, auto_issue):
    """Once every month is final: each month and group's calls counted once, its charged
    cost rounded once and its covered value listed once; the checks find nothing."""
    events = list(UsageEvent.objects.filter(organization=world.org))
    amounts = charged(events)
    expected = defaultdict(lambda: [0, ZERO, ZERO])
    for event in events:
        group = (month_of(event.occurred_at), event.department_id, event.project_id,
                 event.model_id)  # fmt: skip
        expected[group][0] += 1
        expected[group][1] += amounts[event.id][0]
        expected[group][2] += amounts[event.id][1]
    billed = defaultdict(lambda: [0, ZERO, ZERO])
    lines = InvoiceLine.objects.filter(invoice__organization=world.org).exclude(
        invoice__status="void"
    )
    drawn = defaultdict(lambda: [ZERO, ZERO])  # entitlement public id -> units, value listed
    for line in lines:
        group = (line.service_month, line.department_id, line.project_id, line.model_id)
        billed[group][0] += line.requests
        billed[group][1] += line.amount
        billed[group][2] += line.covered_amount
        for item in line.coverage:
            drawn[item["entitlement"]][0] += Decimal(item["units"])
            drawn[item["entitlement"]][1] += Decimal(item["value"])
    assert dict(billed) == {
        group: [count, round_money(cost, "CNY"), covered]
        for group, (count, cost, covered) in expected.items()
    }
    draws = defaultdict(lambda: [ZERO, ZERO])
    entries = EntitlementEntry.objects.filter(organization=world.org, kind="draw")
    for entry in entries.select_related("entitlement"):
        draws[entry.entitlement.public_id][0] -= entry.units
        draws[entry.entitlement.public_id][1] += entry.value_amount
    assert dict(drawn) == dict(draws)
    report = reconciliation.verify_billing(now=CHECKED_AT, organization=world.org)
    assert (report.problems, report.pending) == ([], 0)
    assert reconciliation.pack_problems() == []
    if payment_mode == "prepaid":
        # Usage was drawn as it arrived; the invoices settled it, nothing twice.
        settled = Invoice.objects.filter(organization=world.org, settled_from_balance=True)
        totals = sum((invoice.total_amount for invoice in settled), ZERO)
        if auto_issue:
            assert ledger.balance(world.org) == TOP_UP - totals
        usage = LedgerEntry.objects.for_org(world.org).filter(kind="usage_charge")
        assert -sum(e.amount for e in usage) == sum(c for c, _covered in amounts.values())
    call_command("verify_ledger")
    return events


def new_world(payment_mode):
    world = build_world(OrganizationFactory(payment_mode=payment_mode))
    if payment_mode == "prepaid":
        ledger.record_top_up(
            actor=Actor.system(), organization=world.org, amount=TOP_UP, reference="T-1"
        )
    return world


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
        world = new_world(payment_mode)
        for at, _order, what, detail in schedule(alone(world, calls), operations):
            if what == "ingest":
                metering.ingest_usage(events=detail, now=at)
            else:
                run(world, what, at, detail)
        for at in FINAL_RUNS:
            invoicing.run_billing_day(now=at)
        events = assert_billed_once(world, payment_mode, auto_issue)
        assert len(events) == len(calls)
        transaction.set_rollback(True)


# --- Packs and a plan -----------------------------------------------------------------------

batch = st.tuples(
    call,  # the latest call of the batch and when the batch is sent
    st.lists(
        st.tuples(st.integers(1, 11), *caller_model_tokens), max_size=3
    ),  # calls up to 11 hours before
    st.none() | st.integers(0, 11),  # the gateway sends it again this many hours later
)
pack = st.tuples(
    st.integers(1, 3_000_000),  # tokens: a call takes up to 2.2 million
    st.sampled_from([None, "ROOT", "A", "B"]),  # allocated to (None: the whole organization)
    st.booleans(),  # covers chat-1 only
    st.integers(0, HOURS // 2),  # bought this many hours after July 1st
    st.integers(3, 100),  # valid for days
)
plan = st.none() | st.tuples(
    st.sampled_from(["tokens", "money"]),
    st.integers(1, 3_000_000),  # tokens a month (money: millionths of a yuan, to the fen)
    st.sampled_from([Decimal(0), Decimal("12.5"), Decimal(100)]),  # overage discount %
)


def sent_in_batches(world, batches):
    """Each batch, and again when the gateway retries it."""
    reports = []
    for (month, day, hour, *latest, late), earlier, retry in batches:
        sent = reported(world, month, day, hour, late, [(0, *latest), *earlier])
        reports.append(sent)
        if retry is not None:
            reports.append((sent[0] + timedelta(hours=retry), sent[1]))
    return reports


def terms(kind, *, scope_models=(), **values):
    offer = Offer.objects.create(kind=kind, name_en=kind, name_zh=kind)
    scope = OfferTerms.Scope.MODELS if scope_models else OfferTerms.Scope.ALL
    return packages.save_terms(
        actor=Actor.system(),
        terms=OfferTerms(offer=offer, effective_from=START, scope=scope, **values),
        scope_models=scope_models,
    )


def hold(world, packs, plan):
    """Grant the packs; subscribe to the plan from July, its fees paid to November."""
    for n, (tokens, department, one_model, after, days) in enumerate(packs):
        packages.grant_pack(
            organization=world.org,
            terms=terms(Offer.Kind.PACK, price_amount=Decimal(10), token_amount=tokens,
                        validity_days=days,
                        scope_models=[world.models["chat-1"]] if one_model else ()),
            reference=f"PO-{n}",
            at=START + timedelta(hours=after),
            department=world.deps.get(department),
        )  # fmt: skip
    if plan is None:
        return None
    unit, amount, discount = plan
    offer = terms(
        Offer.Kind.PLAN, price_amount=Decimal(99), period=OfferTerms.Period.MONTH,
        token_amount=amount if unit == "tokens" else None,
        credit_amount=Decimal(amount // 10_000) / 100 if unit == "money" else None,
        overage_discount_percent=discount,
    ).offer  # fmt: skip
    subscription = plans.open_subscription(
        actor=Actor.system(), organization=world.org, offer=offer, at=START
    )
    subscription.paid_until = datetime(2026, 10, 31, 16, tzinfo=UTC)
    subscription.save(update_fields=["paid_until"])
    for month in range(4):
        plans.grant_allowance(subscription, add_months(JULY, month))
    return subscription


def ingest(world, events, at):
    """Ingest a batch: a retry draws nothing again, and a call that paid part of its cost
    left no entitlement that covers it with something in it."""
    drawn = EntitlementEntry.objects.count()
    result = metering.ingest_usage(events=events, now=at)
    if not result.events:
        assert EntitlementEntry.objects.count() == drawn
    for event in result.events:
        row = UsageCoverage.objects.filter(event_id=event.id).first()
        # A split event's shares are rounded down to 1e-10 (drawdown.UNITS): a remainder that
        # small may be charged while an entitlement still has some left.
        if (row.covered_amount if row else ZERO) < event.cost_amount - Decimal("1e-9"):
            left = covering(world.org, model=event.model, department_id=event.department_id,
                            at=event.occurred_at)  # fmt: skip
            assert left == []


def assert_drawn_at_most_once(world, events, subscription):
    """Each event's draws come from entitlements that cover it, in force when it was made,
    and take at most its whole cost; its coverage row says what they took."""
    amounts = charged(events)
    shares = defaultdict(lambda: ZERO)
    entries = EntitlementEntry.objects.filter(organization=world.org, kind="draw")
    by_id = {event.id: event for event in events}
    for entry in entries.select_related("entitlement__terms"):
        event, held = by_id[entry.event_id], entry.entitlement
        assert held.starts_at <= event.occurred_at < held.expires_at
        if held.department_id is not None:
            assert event.department_id is not None
            assert held.department_id in {event.department_id, world.deps["ROOT"].pk}
        if held.terms.scope == OfferTerms.Scope.MODELS:
            assert event.model_id == world.models["chat-1"].pk
        need = event.cost_amount if held.unit == Entitlement.Unit.MONEY else Decimal(
            event.input_tokens + event.output_tokens + event.cached_input_tokens
        )  # fmt: skip
        shares[event.id] += -entry.units / need
    for event in events:
        assert shares[event.id] <= 1 + Decimal("1e-20")
        cost, (charged_amount, covered) = event.cost_amount, amounts[event.id]
        assert abs(covered - cost * shares[event.id]) <= Decimal("1e-9")
        in_force = subscription is not None and subscription.started_at <= event.occurred_at
        discount = subscription.terms.overage_discount_percent if in_force else ZERO
        assert charged_amount == ((cost - covered) * (100 - discount) / 100).quantize(
            Decimal("1e-10")
        )


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(batch, min_size=1, max_size=6),
    operations=st.lists(operation | st.tuples(st.just("expire"), st.integers(0, HOURS)),
                        max_size=8),
    packs=st.lists(pack, min_size=1, max_size=3),
    plan=plan,
    payment_mode=st.sampled_from(["prepaid", "postpaid"]),
    auto_issue=st.booleans(),
)  # fmt: skip
def test_packs_and_a_plan_take_off_each_event_once(
    db, batches, operations, packs, plan, payment_mode, auto_issue
):
    with transaction.atomic(), override_settings(INVOICE_AUTO_ISSUE=auto_issue):
        world = new_world(payment_mode)
        subscription = hold(world, packs, plan)
        for at, _order, what, detail in schedule(sent_in_batches(world, batches), operations):
            if what == "ingest":
                ingest(world, detail, at)
            else:
                run(world, what, at, detail)
        for at in FINAL_RUNS:
            invoicing.run_billing_day(now=at)
        assert packages.unreconciled_entitlements() == []  # some active, some expired
        events = assert_billed_once(world, payment_mode, auto_issue)
        assert len(events) == sum(1 + len(earlier) for _latest, earlier, _retry in batches)
        assert_drawn_at_most_once(world, events, subscription)
        packages.expire_due(now=CHECKED_AT)
        assert packages.unreconciled_entitlements() == []  # every one expired
        transaction.set_rollback(True)
