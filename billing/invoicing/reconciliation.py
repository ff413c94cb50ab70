"""verify_billing: every priced usage event is billed exactly once.

For each organization, month and line group (department, project, model), the lines of its
invoices (drafts included, void ones not) for that month's usage, on the month's own
invoice and as adjustments on later ones, must add up to the group's events that are due:
as many calls, exactly the same unrounded charged cost (an event's cost less what packs and
the plan took off it, UsageCoverage), the same amount taken off, and the same amount to the
cent after the documented rounding (the group's charged cost rounded once, half up).

Which events are due: a close reads every event up to its invoice's bound
(`usage_through_event_id`) of the months [usage_from, its month]. Events of a month up to
the highest bound of the non-void invoices that read it are due; later ones are pending
(the next close carries them) until the month is final: once the daily close of the
ADJUSTMENT_MONTHS-th month after it has been due, all its events are due (a later close
still carries what is missing, e.g. after the daily run stopped for months or a late void,
but until then it is reported). Months before the raw events' purge horizon are not checked
(their events are gone; rollups stay), nor, until final, months read only by invoices
closed before the bound was recorded.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import DecimalField, F, OuterRef, Subquery
from django.db.models.functions import Coalesce

from billing.invoicing.models import Invoice, InvoiceLine
from billing.invoicing.services import ADJUSTMENT_MONTHS, covered_months
from billing.metering.models import UsageEvent
from billing.metering.services import purge_horizon
from billing.packages.models import UsageCoverage
from billing.packages.services import unmatched_coverage, unreconciled_entitlements
from portal.money import round_money
from portal.periods import add_months, month_of, month_start

logger = logging.getLogger(__name__)
ZERO = Decimal(0)


@dataclass
class GroupCheck:
    """One (organization, month, department, project, model): its due events and its lines."""

    organization_id: int
    month: date
    department_id: int | None
    project_id: int
    model_id: int
    currency: str = ""
    events: int = 0
    cost: Decimal = ZERO  # charged: after packs and the plan
    taken_off: Decimal = ZERO  # by packs and the plan (covered and overage discount)
    requests: int = 0  # on the lines
    amount: Decimal = ZERO
    billed_cost: Decimal | None = ZERO  # None: a line without a recorded cost
    billed_taken_off: Decimal = ZERO
    on_no_invoice: list[str] = field(default_factory=list)  # due, above every bound

    @property
    def expected_amount(self) -> Decimal:
        return round_money(self.cost, self.currency) if self.currency else ZERO

    @property
    def agrees(self) -> bool:
        return (
            self.amount == self.expected_amount
            and self.requests == self.events
            and self.billed_cost in (None, self.cost)
            and self.billed_taken_off == self.taken_off
        )


@dataclass
class BillingReport:
    problems: list[GroupCheck]
    groups: int  # checked
    pending: int  # events not billed yet that a later close will carry
    first_month: date | None  # the oldest month checked (None: from the first event)


def is_final(month: date, now: datetime) -> bool:
    """Every event of `month` should be billed by now: the daily close of the
    ADJUSTMENT_MONTHS-th month after it has been due (later, none can be reported)."""
    last_close = month_start(add_months(month, ADJUSTMENT_MONTHS + 1))
    return now >= last_close + timedelta(days=settings.INVOICE_GRACE_DAYS)


def verify_billing(*, now: datetime, since: date | None = None, organization=None):
    """Check every month from `since` (default: every month whose raw events are kept),
    for every organization or one. Exact: summed in Python (SQLite sums decimals as
    floats)."""
    horizon = purge_horizon(now)
    first = since
    if horizon > datetime.min.replace(tzinfo=UTC):
        kept = month_of(horizon)
        first = kept if first is None else max(first, kept)
    invoices = Invoice.objects.all()
    if organization is not None:
        invoices = invoices.filter(organization=organization)
    bounds = covered_months(invoices)
    groups: dict[tuple, GroupCheck] = {}

    def group(key) -> GroupCheck:
        if key not in groups:
            groups[key] = GroupCheck(*key)
        return groups[key]

    # The operator's consolidated bill, not an invoice, bills these (billing.managed).
    events = UsageEvent.objects.exclude(organization__consolidated_billing__enabled=True)
    lines = InvoiceLine.objects.filter(invoice__kind=Invoice.Kind.INVOICE).exclude(
        invoice__status=Invoice.Status.VOID
    )
    if organization is not None:
        events = events.filter(organization=organization)
        lines = lines.filter(invoice__organization=organization)
    if first is not None:
        events = events.filter(occurred_at__gte=month_start(first))
        lines = lines.filter(service_month__gte=first)
    skipped, pending = set(), 0
    charged = UsageCoverage.objects.filter(event_id=OuterRef("id")).values("charged_amount")
    events = events.annotate(
        charged=Coalesce(Subquery(charged), F("cost_amount"), output_field=DecimalField())
    )
    columns = ("organization_id", "department_id", "project_id", "model_id", "occurred_at",
               "id", "request_id", "cost_amount", "charged", "currency")  # fmt: skip
    for (
        org_id, dept, project, model, at, pk, request_id, cost, charged, currency
    ) in events.values_list(*columns).iterator(chunk_size=5000):  # fmt: skip
        month = month_of(at)
        final = is_final(month, now)
        bound = bounds.get((org_id, month), 0)
        if bound is None and not final:  # read by an invoice that did not record its bound
            skipped.add((org_id, month))
            continue
        read = bound is None or pk <= bound  # (a final month's events are due in any case)
        if not read and not final:
            pending += 1
            continue
        check = group((org_id, month, dept, project, model))
        check.currency = currency
        check.events += 1
        check.cost += charged
        check.taken_off += cost - charged
        if not read:
            check.on_no_invoice.append(request_id)
    for (
        org_id, month, dept, project, model, amount, cost, requests, covered, discount
    ) in lines.values_list(
        "invoice__organization_id", "service_month", "department_id", "project_id", "model_id",
        "amount", "cost_amount", "requests", "covered_amount", "overage_discount_amount",
    ).iterator(chunk_size=5000):  # fmt: skip
        if (org_id, month) in skipped:
            continue
        check = group((org_id, month, dept, project, model))
        check.amount += amount
        check.requests += requests
        check.billed_taken_off += covered + discount
        check.billed_cost = None if cost is None or check.billed_cost is None else (
            check.billed_cost + cost
        )  # fmt: skip
    ordered = sorted(groups.values(), key=lambda c: (c.organization_id, c.month, c.project_id))
    return BillingReport(
        problems=[check for check in ordered if not check.agrees],
        groups=len(groups),
        pending=pending,
        first_month=first,
    )


def check_after_close(*, now: datetime, month: date) -> BillingReport:
    """After the monthly close of `month`: verify the months it and the closes before it
    carried, and the packs, and log an error (alerting) on any difference."""
    report = verify_billing(now=now, since=add_months(month, -ADJUSTMENT_MONTHS - 1))
    for problem in report.problems:
        logger.error("verify_billing: %s", describe(problem))
    for problem in pack_problems():
        logger.error("verify_billing: %s", problem)
    return report


def describe(check: GroupCheck) -> str:
    """One line for operators (logs and the command's output)."""
    text = (
        f"organization {check.organization_id}, {check.month:%Y-%m}, department "
        f"{check.department_id}, project {check.project_id}, model {check.model_id}: "
        f"{check.events} events cost {check.cost} ({check.expected_amount} rounded) after "
        f"{check.taken_off} taken off by packs and the plan ({check.billed_taken_off} on the "
        "lines), "
        f"invoice lines bill {check.requests} calls, {check.amount}"
        + ("" if check.billed_cost is None else f" (unrounded {check.billed_cost})")
    )
    if check.on_no_invoice:
        shown = ", ".join(check.on_no_invoice[:20])
        more = len(check.on_no_invoice) - 20
        text += f"; on no invoice: {shown}" + (f" and {more} more" if more > 0 else "")
    return text


def pack_problems() -> list[str]:
    """verify_billing's check of packs and plan allowances, one line per difference: each
    entitlement's tokens (or credit) granted = consumed + expired + remaining, agreeing with
    its entries, and every usage event's coverage row agreeing with its draws."""
    problems = [
        f"entitlement {e.public_id} ({e.reference}): granted {e.granted}, consumed "
        f"{e.consumed}, status {e.status}; its entries grant {granted} and draw {consumed}"
        for e, granted, consumed in unreconciled_entitlements()
    ]
    problems += [
        f"usage event {event_id}: coverage says {covered} covered by entitlements, "
        f"{draws} draw entries"
        for event_id, covered, draws in unmatched_coverage()
    ]
    return problems
