"""Monthly invoices: the close (drafts from rollups), issuing (gapless numbers), voids,
credit notes, payment and notices, and suspension for overdue invoices.

Months are cut in settings.BUSINESS_TIME_ZONE: the hours of a month are
[its first day 00:00 local, the next month's first day 00:00 local), in UTC in the database.

Rounding (docs/architecture.md): a line is the month's rollup cost of one (department,
project, model), rounded once to the currency's minor unit, half up; the subtotal is the sum
of the rounded lines; VAT is computed on the subtotal and rounded; total = subtotal + VAT.
Each line also records the unrounded cost it bills (`cost_amount`): a prepaid organization's
ledger was charged exactly that as the usage arrived, and issuing posts the difference
(billing.invoicing.ledger.post_rounding_adjustment).

Late usage (docs/pricing-and-billing.md, "Late usage and adjustments"): the close of a
month also reads the ADJUSTMENT_MONTHS before it (and older months no invoice read), and
for each (month, department, project, model) bills its usage less what the organization's
other non-void invoices bill for it, so usage that arrives after its month was closed, with
or without an invoice, lands once on the next invoice as adjustment lines labelled with its
month. billing.invoicing.reconciliation (verify_billing) checks the result.
"""

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Min, Q, Sum
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import audit
from accounts.audit_trail import Actor, record_actor_event
from accounts.models import Department, Organization
from accounts.services import suspend_organization
from billing.catalog.models import CatalogModel
from billing.catalog.pricing import contract_discount
from billing.catalog.selectors import invoice_terms
from billing.invoicing import coverage, fapiao, ledger
from billing.invoicing.consolidated_models import is_consolidated
from billing.invoicing.models import (
    PAYABLE_KINDS,
    BalanceAlert,
    FapiaoProfile,
    FapiaoRequest,
    Invoice,
    InvoiceLine,
    InvoiceNumberCounter,
    LedgerEntry,
)
from billing.metering import services as metering
from billing.metering.models import UsageEvent, UsageRollup
from billing.metering.selectors import (
    linear_forecast,
    locked_watermark,
    monthly_usage,
    watermark,
)
from notifications.announce import announce, interpolate_lazy
from portal.lazy_text import lazy_date
from portal.money import format_money, round_money
from portal.periods import (
    add_months,
    business_zone,
    local_midnight,
    month_bounds,
    month_of,
    month_start,
)
from projects.models import Project

# How many months before its own an invoice carries late usage of: the acceptance window
# (USAGE_ACCEPTANCE_WINDOW_DAYS, 35) never reaches further back than the month before last.
ADJUSTMENT_MONTHS = 3
# Sent (invoice=) inside the transaction that marks an issued invoice paid, once per invoice:
# what a purchase invoice bought is delivered on it (billing.sales, a floor above).
invoice_paid = Signal()
# Sent (invoice=, actor=) inside the transaction that voids an issued invoice, once per invoice:
# what a purchase invoice was for learns it will never be paid (billing.sales).
invoice_voided = Signal()
ZERO = Decimal(0)
DESCRIPTION_LENGTH = InvoiceLine._meta.get_field("description").max_length
COUNTS = ("requests", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens")


class InvoiceError(ValidationError):
    """A refused invoice or fapiao operation; its message says why (to staff or customer)."""


def _group(row) -> tuple:
    return (row["service_month"], row["department_id"], row["project_id"], row["model_id"])


def month_usage(
    organization, first: date, last: date, *, through_event_id: int | None = None
) -> dict[tuple, dict]:
    """Usage of the months `first`..`last` per (month, department, project, model),
    unrounded: the rollups plus the events not rolled up yet (up to `through_event_id`)."""
    start, end = month_start(first), month_start(add_months(last, 1))
    usage: dict[tuple, dict] = {}
    rows = monthly_usage(organization, start, end, through_event_id=through_event_id)
    for row in rows:
        month = row["month"].astimezone(business_zone()).date()
        total = usage.setdefault(
            _group({**row, "service_month": month}),
            {"service_month": month, "department_id": row["department_id"],
             "project_id": row["project_id"], "model_id": row["model_id"],
             "currency": row["currency"], **dict.fromkeys(COUNTS, 0), "cost": ZERO},
        )  # fmt: skip
        total["requests"] += row["n"]
        for name in COUNTS[1:]:
            total[name] += row[f"sum_{name}"]
        total["cost"] += row["cost"]
    return usage


def billed_usage(organization, first: date, last: date, *, exclude=None) -> dict[tuple, dict]:
    """What the organization's invoices (drafts included, void ones not) bill for usage of
    the months `first`..`last`, per (month, department, project, model): rounded amount,
    unrounded cost charged (a line without a recorded cost covers its amount), what packs
    and the plan took off (covered, discount, draws), calls and tokens. `exclude`: an
    invoice left out (the draft being rebuilt)."""
    lines = InvoiceLine.objects.filter(
        invoice__organization=organization,
        invoice__kind=Invoice.Kind.INVOICE,
        service_month__gte=first,
        service_month__lte=last,
    ).exclude(invoice__status=Invoice.Status.VOID)
    if exclude is not None:
        lines = lines.exclude(invoice=exclude)
    rows = lines.values("service_month", "department_id", "project_id", "model_id").annotate(
        sum_amount=Sum("amount"),
        sum_cost=Sum(Coalesce("cost_amount", "amount")),
        sum_covered=Sum("covered_amount"),
        sum_discount=Sum("overage_discount_amount"),
        **{f"sum_{name}": Sum(name) for name in COUNTS},
    )
    draws = coverage.billed_draws(lines)
    return {
        _group(row): {
            **{name: row[f"sum_{name}"] for name in ("amount", "cost", "covered", "discount",
                                                     *COUNTS)},
            "draws": draws.get(_group(row), {}),
        }
        for row in rows
    }  # fmt: skip


def _unbilled_lines(
    organization, period: date, *, first: date, through_event_id=None, invoice=None
) -> list[dict]:
    """Line values for the invoice of `period`: for each (month, department, project, model)
    of the months `first`..`period`, its usage (events up to `through_event_id`) less what
    the organization's other invoices bill for it: the charged cost (usage cost less what
    packs and the plan took off those same events, billing.invoicing.coverage) rounded once
    less their amounts, the unrounded charged cost, coverage, calls and tokens less theirs.
    Cumulative, so whatever the order of the closes a group's lines add up to its charged
    cost rounded once and its calls; a group with nothing new gets no line."""
    usage = month_usage(organization, first, period, through_event_id=through_event_id)
    covered, entitlements = coverage.usage_coverage(
        organization,
        month_start(first),
        month_start(add_months(period, 1)),
        through_event_id=through_event_id,
    )
    billed = billed_usage(organization, first, period, exclude=invoice)
    lines = []
    for key, row in usage.items():
        before, got = billed.get(key, {}), covered.get(key, coverage.NOTHING)
        charged = row["cost"] - got.covered - got.discount
        line = {
            **row,
            **{name: row[name] - before.get(name, 0) for name in COUNTS},
            "amount": round_money(charged, row["currency"]) - before.get("amount", ZERO),
            "cost_amount": charged - before.get("cost", ZERO),
            "covered_amount": got.covered - before.get("covered", ZERO),
            "overage_discount_amount": got.discount - before.get("discount", ZERO),
            "coverage": coverage.line_coverage(got, before.get("draws", {}), entitlements),
        }
        if line["amount"] or line["cost_amount"] or line["requests"] or line["coverage"]:
            lines.append(line)
    # Its own month first, then the adjustments, oldest month first.
    lines.sort(key=lambda v: (v["service_month"] != period, v["service_month"],
                              v["department_id"] is None, v["department_id"] or 0,
                              v["project_id"], v["model_id"]))  # fmt: skip
    return lines


def unbilled_usage(organization, month: date) -> list[dict]:
    """The usage lines the close of `month` would bill (its own month, then late usage of
    earlier months as adjustments), without making an invoice: the consolidated bill's
    settlement reads them (billing.managed.settlement)."""
    return _unbilled_lines(organization, month, first=first_unbilled_month(organization, month))


def unbilled_amount(organization, month: date) -> Decimal:
    """What is left to bill of `month`'s usage: its charged cost rounded once per line group,
    as the close and the settlement round it, less what the organization's invoices bill for
    it. All consolidated-bill settlements together bill at most this of the month
    (billing.managed.reconciliation)."""
    lines = _unbilled_lines(organization, month, first=month)
    return sum((line["amount"] for line in lines), ZERO)


def end_of_billed_usage() -> datetime:
    """Raw usage events before this may be purged (metering's purge limit): not at or after
    the oldest draft, nor after the last month the close has billed (when nothing was ever
    billed, nothing)."""
    invoices = Invoice.objects.filter(kind=Invoice.Kind.INVOICE)
    last_billed = (
        invoices.exclude(status=Invoice.Status.DRAFT)
        .order_by("-period_start")
        .values_list("period_start", flat=True)
        .first()
    )
    if last_billed is None:
        return datetime.min.replace(tzinfo=UTC)
    end = local_midnight(add_months(last_billed, 1))
    oldest_draft = (
        invoices.filter(status=Invoice.Status.DRAFT)
        .order_by("period_start")
        .values_list("period_start", flat=True)
        .first()
    )
    return end if oldest_draft is None else min(end, local_midnight(oldest_draft))


# --- The monthly close ---------------------------------------------------------------------


def close_month(*, month: date) -> list[Invoice]:
    """Build or refresh the draft invoice of `month` for every organization with usage in it
    or in the ADJUSTMENT_MONTHS before, or with older usage no invoice read (see
    first_unbilled_month). Issued invoices are left alone, so re-running it changes
    nothing."""
    first = add_months(month, -ADJUSTMENT_MONTHS)
    recent = _organizations_with_usage(month_start(first), month_start(add_months(month, 1)))
    older = _organizations_with_usage(metering.retention_cutoff(), month_start(first)) - recent
    drafts = []
    # An organization on the operator's consolidated bill gets no invoice: its month goes
    # into the operator's settlement file (billing.managed.settlement), its customers read
    # the statement of account.
    organizations = Organization.objects.filter(pk__in=recent | older).exclude(
        consolidated_billing__enabled=True
    )
    for organization in organizations.order_by("pk"):
        if organization.pk in older and first_unbilled_month(organization, month) >= first:
            continue  # its older usage is all read: nothing for this close
        draft = close_month_for(organization=organization, month=month)
        if draft is not None:
            drafts.append(draft)
    return drafts


def _organizations_with_usage(start: datetime, end: datetime) -> set[int]:
    rolled = UsageRollup.objects.filter(hour__gte=start, hour__lt=end)
    tail = UsageEvent.objects.filter(
        id__gt=watermark(), occurred_at__gte=start, occurred_at__lt=end
    )
    return {*rolled.values_list("organization_id", flat=True).distinct(),
            *tail.values_list("organization_id", flat=True).distinct()}  # fmt: skip


def covered_months(invoices) -> dict[tuple, int | None]:
    """(organization id, month) -> the highest event bound of the non-void invoices among
    `invoices` whose close read that month (None: read by an invoice closed before bounds
    were recorded, ADJUSTMENT_MONTHS back)."""
    covered: dict[tuple, int | None] = {}
    rows = invoices.filter(kind=Invoice.Kind.INVOICE).exclude(status=Invoice.Status.VOID)
    for org_id, first, period, through in rows.values_list(
        "organization_id", "usage_from", "period_start", "usage_through_event_id"
    ):
        month = first or add_months(period, -ADJUSTMENT_MONTHS)
        while month <= period:
            key = (org_id, month)
            known = covered.get(key, 0)
            covered[key] = None if through is None or known is None else max(known, through)
            month = add_months(month, 1)
    return covered


def first_unbilled_month(organization, period: date) -> date:
    """The oldest month the close of `period` reads: ADJUSTMENT_MONTHS before it, or an older
    month (whose raw events are kept) with usage no non-void invoice's close has read: its
    daily closes did not run, or the invoice that billed it was voided."""
    first = add_months(period, -ADJUSTMENT_MONTHS)
    floor, before = metering.retention_cutoff(), month_start(first)
    covered = covered_months(Invoice.objects.for_org(organization))
    rolled = UsageRollup.objects.for_org(organization).filter(hour__gte=floor, hour__lt=before)
    tail = UsageEvent.objects.for_org(organization).filter(
        id__gt=watermark(), occurred_at__gte=floor, occurred_at__lt=before
    )
    used = {
        *rolled.datetimes("hour", "month", tzinfo=business_zone()),
        *tail.datetimes("occurred_at", "month", tzinfo=business_zone()),
    }
    unread = []
    for month in {m.date() for m in used}:
        bound = covered.get((organization.pk, month), 0)
        if bound == 0 or (bound is not None and _read_too_early(organization, month, bound)):
            unread.append(month)
    return min([first, *unread])


def _read_too_early(organization, month: date, bound: int) -> bool:
    """Whether `month` has events above `bound` while no close after its late usage stopped
    arriving read it: closes of months 2 and more after it run more than 59 days after it
    ended, past USAGE_ACCEPTANCE_WINDOW_DAYS, so they read everything."""
    late = add_months(month, 2)
    if (
        Invoice.objects.for_org(organization)
        .filter(kind=Invoice.Kind.INVOICE, period_start__gte=late, usage_from__lte=month)
        .exclude(status=Invoice.Status.VOID)
        .exists()
    ):
        return False
    start, end = month_bounds(month)
    events = UsageEvent.objects.for_org(organization)
    return events.filter(occurred_at__gte=start, occurred_at__lt=end, id__gt=bound).exists()


def close_month_for(*, organization, month: date) -> Invoice | None:
    """The draft invoice of `month` for one organization, built or refreshed: its own
    month's usage and, as adjustment lines, usage of the ADJUSTMENT_MONTHS before (and of
    any older month no invoice read) that no other invoice bills: late usage, whether or
    not its month had an invoice. None when the month's invoice is issued or void already,
    or nothing is left to bill.

    Exactly once: the close reads every event up to a bound (`usage_through_event_id`, all
    committed below it) and bills what the other invoices do not; closes run one at a time
    (each holds the rollup watermark's row lock), so no two bill the same usage."""
    invoices = Invoice.objects.for_org(organization).filter(
        kind=Invoice.Kind.INVOICE, period_start=month
    )
    if invoices.exclude(status=Invoice.Status.DRAFT).exists():
        return None  # never a draft again: no need to stop ingestion for the bound
    # Read before the transaction: ingestion waits only while the bound is read.
    through = metering.safe_upper_bound()
    with transaction.atomic():
        # Locked to the end: the rollups cannot move past the bound while they are read,
        # and closes take turns, each seeing what the one before billed and made.
        through = max(through, locked_watermark())
        invoice = invoices.select_for_update().first()
        if invoice is not None and invoice.status != Invoice.Status.DRAFT:
            return None
        first = first_unbilled_month(organization, month)
        values = _unbilled_lines(
            organization, month, first=first, through_event_id=through, invoice=invoice
        )
        if invoice is not None:
            invoice.lines.all().delete()
        if not values:
            if invoice is not None:
                invoice.delete()
            return None
        if invoice is None:
            invoice = Invoice(
                organization=organization,
                period_start=month,
                period_end=add_months(month, 1),
                currency=organization.currency,
            )
        invoice.usage_from, invoice.usage_through_event_id = first, through
        _set_totals(invoice, [value["amount"] for value in values])
        invoice.save()
        InvoiceLine.objects.bulk_create(_lines(invoice, values))
    return invoice


def close_and_issue_month(*, actor: Actor, organization, month: date, now: datetime):
    """Staff (the console's "Close month…", `manage.py close_month`): close `month` for one
    organization and issue its invoice now. Refused when the month has not ended or its
    invoice is issued or void already; returns None when there is nothing to bill. Running
    it again changes nothing (it is refused: already closed)."""
    draft = _staff_close(organization=organization, month=month, now=now)
    invoice = draft and issue_invoice(actor=actor, invoice=draft)
    record_actor_event(
        actor=actor,
        organization=organization,
        action="billing.month_closed",
        target=invoice or organization,
        changes={
            "after": {
                "month": f"{month:%Y-%m}",
                "invoice": invoice.number if invoice else "",
                "total": str(invoice.total_amount) if invoice else "0",
            }
        },
    )
    return invoice


def draft_month(*, actor: Actor, organization, month: date, now: datetime) -> Invoice | None:
    """Staff (the console's "Close month…", draft only): build or refresh the draft of
    `month` for one organization, to review and issue later (issue_invoice). Refused as
    close_and_issue_month is; None when there is nothing to bill."""
    draft = _staff_close(organization=organization, month=month, now=now)
    record_actor_event(
        actor=actor,
        organization=organization,
        action="billing.invoice_drafted",
        target=draft or organization,
        changes={"after": {"month": f"{month:%Y-%m}",
                           "total": str(draft.total_amount) if draft else "0"}},
    )  # fmt: skip
    return draft


def _staff_close(*, organization, month: date, now: datetime) -> Invoice | None:
    label = f"{month:%Y-%m}"
    if is_consolidated(organization):
        raise InvoiceError({"month": _("%(organization)s is billed on the operator's "
                                       "consolidated bill: no invoice is made for it.")
                            % {"organization": organization.name}})  # fmt: skip
    if now < month_start(add_months(month, 1)):
        raise InvoiceError({"month": _("%(month)s has not ended yet.") % {"month": label}})
    draft = close_month_for(organization=organization, month=month)
    if draft is None:
        closed = (
            Invoice.objects.for_org(organization)
            .filter(kind=Invoice.Kind.INVOICE, period_start=month)
            .first()
        )
        if closed is not None:
            raise InvoiceError(
                {"month": _("%(month)s is already closed for %(organization)s: invoice "
                            "%(number)s (%(status)s).")
                 % {"month": label, "organization": organization.name,
                    "number": closed.number, "status": closed.get_status_display()}}
            )  # fmt: skip
    return draft


def _set_totals(invoice: Invoice, amounts, tax_rate: Decimal | None = None) -> None:
    invoice.subtotal_amount = sum(amounts, ZERO)
    invoice.tax_rate = settings.VAT_RATE if tax_rate is None else tax_rate
    invoice.tax_amount = round_money(invoice.subtotal_amount * invoice.tax_rate, invoice.currency)
    invoice.total_amount = invoice.subtotal_amount + invoice.tax_amount


def _lines(invoice: Invoice, values: list[dict]) -> list[InvoiceLine]:
    departments = Department.objects.in_bulk({v["department_id"] for v in values} - {None})
    projects = Project.objects.in_bulk({v["project_id"] for v in values})
    models = CatalogModel.objects.in_bulk({v["model_id"] for v in values})
    discounts, terms = {}, {}
    lines = []
    for position, value in enumerate(values, start=1):
        department = departments.get(value["department_id"])
        project, model = projects[value["project_id"]], models[value["model_id"]]
        # Costs were discounted at ingestion; the line shows the contract discount in force
        # on the first day of its month (informative: rollups do not carry it).
        key = (model.pk, value["service_month"])
        if key not in discounts:
            discounts[key] = contract_discount(
                organization=invoice.organization,
                model=model,
                at=month_start(value["service_month"]),
            )
            # A fee per request, tiers or time-of-day rates are named on the line.
            terms[key] = invoice_terms(
                model,
                month_start(value["service_month"]),
                month_start(add_months(value["service_month"], 1)),
            )
        description = f"{project.name} · {model.model_id}"
        if terms[key]:
            description = f"{description} ({'; '.join(terms[key])})"
        if value["service_month"] != invoice.period_start:
            description = _("%(line)s (usage of %(month)s)") % {
                "line": description,
                "month": f"{value['service_month']:%Y-%m}",
            }
        lines.append(
            InvoiceLine(
                invoice=invoice,
                position=position,
                service_month=value["service_month"],
                department=department,
                department_label=department.name if department else "",
                project=project,
                project_label=project.name,
                model=model,
                description=description[:DESCRIPTION_LENGTH],
                requests=value["requests"],
                input_tokens=value["input_tokens"],
                output_tokens=value["output_tokens"],
                cached_input_tokens=value["cached_input_tokens"],
                cache_write_tokens=value["cache_write_tokens"],
                discount_percent=discounts[key],
                amount=value["amount"],
                cost_amount=value["cost_amount"],
                covered_amount=value["covered_amount"],
                overage_discount_amount=value["overage_discount_amount"],
                coverage=value["coverage"],
            )
        )
    return lines


# --- Issuing, paying, voiding, crediting ---------------------------------------------------


def next_invoice_number(year: int) -> str:
    """The next number of `year`, gapless: the counter row stays locked until commit."""
    InvoiceNumberCounter.objects.get_or_create(year=year)
    counter = InvoiceNumberCounter.objects.select_for_update().get(year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"TP-{year}-{counter.last_number:06d}"


def issue_invoice(*, actor: Actor, invoice: Invoice) -> Invoice:
    """Number and freeze a draft; it is then owed (postpaid) or settled from the balance
    (prepaid: usage was already charged, unrounded; the ledger takes the VAT and the rounding
    difference, so the balance has paid exactly the invoice's total)."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != Invoice.Status.DRAFT:
            raise InvoiceError(_("Only a draft can be issued."))
        now = timezone.now()
        invoice.number = next_invoice_number(now.astimezone(business_zone()).year)
        invoice.status = Invoice.Status.ISSUED
        invoice.issued_at = now
        organization = invoice.organization
        prepaid = organization.payment_mode == Organization.PaymentMode.PREPAID
        if invoice.kind != Invoice.Kind.CREDIT_NOTE:
            invoice.due_at = now + timedelta(days=settings.INVOICE_PAYMENT_TERMS_DAYS)
        if invoice.kind == Invoice.Kind.INVOICE and prepaid:
            invoice.status, invoice.paid_at = Invoice.Status.PAID, now
            invoice.settled_from_balance = True
        invoice.save()
        owed = invoice.tax_amount if prepaid and invoice.kind == Invoice.Kind.INVOICE else None
        rounding = None
        # A purchase is charged when it is paid (invoice_paid, billing.sales), not owed before.
        if invoice.kind != Invoice.Kind.PURCHASE:
            LedgerEntry.objects.create(
                organization=organization,
                kind=invoice.kind,  # "invoice" or "credit_note", both ledger kinds
                amount=-(invoice.total_amount if owed is None else owed),
                currency=invoice.currency,
                reference=invoice.number,
                invoice=invoice,
                created_by=actor.user,
                note=_("VAT of invoice %(number)s") % {"number": invoice.number} if owed else "",
            )
            rounding = ledger.post_rounding_adjustment(actor=actor, invoice=invoice)
        record_actor_event(
            actor=actor,
            organization=organization,
            action="billing.invoice_issued",
            target=invoice,
            changes={
                "after": {
                    "number": invoice.number,
                    "total": str(invoice.total_amount),
                    **({"rounding": str(rounding.amount)} if rounding else {}),
                }
            },
        )
        ledger.invalidate_headroom(organization.pk)
        _announce_invoice(invoice, "invoice.issued", gettext_lazy("Invoice %(number)s issued"))
    return invoice


def issue_due_drafts(*, month: date) -> int:
    drafts = Invoice.objects.filter(
        kind=Invoice.Kind.INVOICE, status=Invoice.Status.DRAFT, period_start__lte=month
    )
    for draft in drafts:
        with suppress(InvoiceError):  # issued meanwhile (staff, or a close of one month)
            issue_invoice(actor=Actor.system(), invoice=draft)
    return len(drafts)


def record_payment(
    *, actor: Actor, organization, amount: Decimal, provider: str, reference: str, invoice=None
):
    """A payment received (the integration point of a payment provider's webhook).

    Idempotent: the same provider reference is recorded once; a repeat returns the first
    entry. An issued invoice is marked paid once its payments cover it (outstanding_amount);
    a partial payment leaves it issued, owing the rest.
    """
    if amount <= 0:
        raise ValidationError(_("A payment must be a positive amount."))
    full_reference = f"{provider}:{reference}"
    try:
        with transaction.atomic():
            if invoice is not None:  # payments of one invoice take turns summing it
                Invoice.objects.select_for_update().filter(pk=invoice.pk).first()
            entry = ledger.record_money_in(
                actor=actor,
                organization=organization,
                kind=LedgerEntry.Kind.PAYMENT,
                amount=amount,
                reference=full_reference,
                invoice=invoice,
            )
            if invoice is not None and outstanding_amount(invoice) <= 0:
                mark_paid(invoice=invoice)
    except IntegrityError:
        return LedgerEntry.objects.for_org(organization).get(
            kind=LedgerEntry.Kind.PAYMENT, reference=full_reference
        )
    return entry


def outstanding_amount(invoice: Invoice) -> Decimal:
    """What is still owed on an issued invoice: its total less its credit notes and the
    payments recorded for it (never below zero; an overpayment stays on the balance)."""
    return outstanding_amounts([invoice])[invoice.pk]


def outstanding_amounts(invoices) -> dict[int, Decimal]:
    """outstanding_amount of each of `invoices` (0 unless issued), in two queries; also set
    on each as `invoice.outstanding` for pages and serializers."""
    invoices = list(invoices)
    issued = [i.pk for i in invoices if i.status == Invoice.Status.ISSUED]
    received = dict.fromkeys(issued, ZERO)
    paid = LedgerEntry.objects.filter(invoice__in=issued, kind=LedgerEntry.Kind.PAYMENT)
    for invoice_id, amount in paid.values_list("invoice", "amount"):
        received[invoice_id] += amount
    credited = Invoice.objects.filter(credited_invoice__in=issued).exclude(
        status=Invoice.Status.VOID
    )
    for invoice_id, total in credited.values_list("credited_invoice", "total_amount"):
        received[invoice_id] -= total  # credit notes have negative totals
    for invoice in invoices:
        owed = invoice.total_amount - received[invoice.pk] if invoice.pk in received else ZERO
        invoice.outstanding = max(owed, ZERO)
    return {invoice.pk: invoice.outstanding for invoice in invoices}


def mark_paid(*, invoice: Invoice) -> None:
    claimed = Invoice.objects.filter(pk=invoice.pk, status=Invoice.Status.ISSUED).update(
        status=Invoice.Status.PAID, paid_at=timezone.now()
    )
    if claimed:
        invoice.refresh_from_db()
        invoice_paid.send(sender=Invoice, invoice=invoice)
        _announce_invoice(invoice, "invoice.paid", gettext_lazy("Invoice %(number)s paid"))


def void_invoice(*, actor: Actor, invoice: Invoice, reason: str) -> Invoice:
    """Cancel an unpaid issued invoice; the record stays, its ledger entry is reversed (a
    purchase invoice has none: it is charged when paid; what was paid on it stays on the
    balance)."""
    if not reason.strip():
        raise InvoiceError(_("Give a reason for voiding."))
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != Invoice.Status.ISSUED or invoice.kind not in PAYABLE_KINDS:
            raise InvoiceError(_("Only an issued, unpaid invoice can be voided."))
        invoice.status, invoice.voided_at, invoice.void_reason = (
            Invoice.Status.VOID,
            timezone.now(),
            reason,
        )
        invoice.save(update_fields=["status", "voided_at", "void_reason"])
        if invoice.kind == Invoice.Kind.INVOICE:
            LedgerEntry.objects.create(
                organization=invoice.organization,
                kind=LedgerEntry.Kind.ADJUSTMENT,
                amount=invoice.total_amount,
                currency=invoice.currency,
                reference=f"void:{invoice.number}",
                invoice=invoice,
                note=reason[:300],
                created_by=actor.user,
            )
        record_actor_event(
            actor=actor,
            organization=invoice.organization,
            action="billing.invoice_voided",
            target=invoice,
            changes={"after": {"reason": reason}},
        )
        invoice_voided.send(sender=Invoice, invoice=invoice, actor=actor)
        ledger.invalidate_headroom(invoice.organization_id)
    return invoice


# A purchase invoice's credit takes back what it bought (the pack's tokens left), so it is
# made from the purchase, not for an amount typed on the invoice.
PURCHASE_CREDITED_ELSEWHERE = gettext_lazy(
    "A purchase invoice is credited from its purchase: staff console → Purchases → the "
    "purchase → Credit the unused tokens. A paid plan fee is refunded by a top-up."
)


def create_credit_note(
    *, actor: Actor, invoice: Invoice, net_amount: Decimal, reason: str
) -> Invoice:
    """A negative document for `net_amount` (before VAT) of an issued monthly invoice, issued
    now. A paid purchase is credited with what it bought: billing.sales.credit_purchase."""
    if invoice.kind == Invoice.Kind.PURCHASE:
        raise InvoiceError(PURCHASE_CREDITED_ELSEWHERE)
    if invoice.kind != Invoice.Kind.INVOICE:
        raise InvoiceError(_("Credit notes are for issued invoices."))
    return credit_invoice(actor=actor, invoice=invoice, net_amount=net_amount, reason=reason)


def credit_invoice(*, actor: Actor, invoice: Invoice, net_amount: Decimal, reason: str) -> Invoice:
    """The credit note of `net_amount` (before VAT, VAT at the credited invoice's rate) of an
    issued or paid invoice, issued now: the ledger is credited its total, and a red-letter
    fapiao requested when the invoice has one. The caller decides what may be credited."""
    if invoice.kind == Invoice.Kind.CREDIT_NOTE or invoice.status not in (
        Invoice.Status.ISSUED,
        Invoice.Status.PAID,
    ):
        raise InvoiceError(_("Credit notes are for issued invoices."))
    net_amount = round_money(net_amount, invoice.currency)
    if not ZERO < net_amount <= invoice.subtotal_amount:
        raise InvoiceError(_("The credit must be positive and at most the invoice subtotal."))
    with transaction.atomic():
        note = Invoice(
            organization=invoice.organization,
            kind=Invoice.Kind.CREDIT_NOTE,
            period_start=invoice.period_start,
            period_end=invoice.period_end,
            credited_invoice=invoice,
            currency=invoice.currency,
            note=reason[:300],
        )
        _set_totals(note, [-net_amount], tax_rate=invoice.tax_rate)
        note.save()
        description = _("Credit for invoice %(number)s: %(reason)s") % {
            "number": invoice.number,
            "reason": reason,
        }
        InvoiceLine.objects.create(
            invoice=note,
            position=1,
            service_month=invoice.period_start,
            description=description[:DESCRIPTION_LENGTH],
            amount=-net_amount,
        )
        note = issue_invoice(actor=actor, invoice=note)
        fapiao.request_red_letter(actor=actor, credit_note=note)
    return note


# --- Notices and suspension ----------------------------------------------------------------


def send_invoice_notices(*, now: datetime) -> None:
    """invoice.due_soon and invoice.overdue, each once per invoice (claimed by UPDATE), for
    monthly and purchase invoices alike (a purchase's notice says what it buys)."""
    owed = Invoice.objects.filter(kind__in=PAYABLE_KINDS, status=Invoice.Status.ISSUED)
    soon = now + timedelta(days=settings.INVOICE_DUE_SOON_DAYS)
    notices = [
        ("due_soon_sent_at", Q(due_at__gt=now, due_at__lte=soon), "invoice.due_soon",
         gettext_lazy("Invoice %(number)s is due soon")),
        ("overdue_sent_at", Q(due_at__lte=now), "invoice.overdue",
         gettext_lazy("Invoice %(number)s is overdue")),
    ]  # fmt: skip
    for column, when, event_type, subject in notices:
        for invoice in owed.filter(when, **{f"{column}__isnull": True}):
            claimed = Invoice.objects.filter(pk=invoice.pk, **{f"{column}__isnull": True}).update(
                **{column: now}
            )
            if claimed:
                _announce_invoice(invoice, event_type, subject, dunning=True)


def suspension_allowed_after(organization) -> datetime | None:
    """When staff may suspend for the oldest overdue invoice (its notice + the notice
    period), or None when nothing is overdue and notified."""
    first_notice = (
        Invoice.objects.for_org(organization)
        .filter(kind=Invoice.Kind.INVOICE, status=Invoice.Status.ISSUED)
        .aggregate(first=Min("overdue_sent_at"))["first"]
    )
    if first_notice is None:
        return None
    return first_notice + timedelta(days=settings.OVERDUE_SUSPENSION_NOTICE_DAYS)


def suspend_for_overdue(*, actor: Actor, organization) -> None:
    """Staff: suspend an organization whose overdue notice period has passed (as any
    suspension: audited, owners told, keys refused)."""
    allowed_after = suspension_allowed_after(organization)
    if allowed_after is None or allowed_after > timezone.now():
        raise InvoiceError(
            _("%(organization)s has no overdue invoice whose notice period has passed.")
            % {"organization": organization}
        )
    suspend_organization(
        actor=actor,
        organization=organization,
        reason=_("Suspended for overdue invoices."),
        action="billing.suspended_for_overdue",
    )


# --- Telling customers ----------------------------------------------------------------------


def _announce_invoice(invoice: Invoice, event_type: str, subject, dunning=False) -> None:
    due = invoice.due_at.astimezone(business_zone()).date() if invoice.due_at else None
    values = {
        "number": invoice.number,
        "total": format_money(invoice.total_amount, invoice.currency),
        "due": lazy_date(due) if due else "",
    }
    message = gettext_lazy("Invoice %(number)s: %(total)s, due %(due)s.")
    if dunning and invoice.kind == Invoice.Kind.PURCHASE:
        # Unpaid, a purchase is not delivered: say what waits for the payment.
        values["item"] = (
            invoice.lines.order_by("position").values_list("description", flat=True).first()
        )
        message = gettext_lazy(
            "Invoice %(number)s: %(total)s, due %(due)s, for %(item)s. What it buys is "
            "delivered once it is paid."
        )
    announce(
        organization=invoice.organization,
        event_type=event_type,
        subject=interpolate_lazy(subject, values),
        message=interpolate_lazy(message, values),
        data={
            "invoice_id": invoice.public_id,
            "number": invoice.number,
            "total": str(invoice.total_amount),
            "currency": invoice.currency,
            "due": due.isoformat() if due else "",
        },
    )


# --- The daily run -------------------------------------------------------------------------


def run_billing_day(*, now: datetime) -> date | None:
    """Close (and, with INVOICE_AUTO_ISSUE, issue) last month once its grace period is over;
    send due-soon and overdue notices. Safe to run as often as wanted. Returns the month
    when the close made or refreshed a draft (then verify_billing is worth running)."""
    current = month_of(now)
    last_month = add_months(current, -1)
    closed = None
    if now >= month_start(current) + timedelta(days=settings.INVOICE_GRACE_DAYS):
        if close_month(month=last_month):
            closed = last_month
        if settings.INVOICE_AUTO_ISSUE:
            issue_due_drafts(month=last_month)
    send_invoice_notices(now=now)
    return closed


# --- Department chargeback -----------------------------------------------------------------


@dataclass
class ChargebackLine:
    project: str
    model: str
    tokens: int
    amount: Decimal  # charged
    pack_value: Decimal = ZERO  # packs and plan allowance used, at list price


@dataclass
class ChargebackRow:
    department: Department | None
    code: str
    name: str
    amount: Decimal = ZERO  # this department's own usage
    subtree_amount: Decimal = ZERO  # with its sub-departments
    pack_value: Decimal = ZERO  # its own use of packs and plan allowances, at list price
    lines: list[ChargebackLine] = field(default_factory=list)


@dataclass
class ChargebackStatement:
    organization: Organization
    month: date
    currency: str
    invoice: Invoice | None
    departments: list[ChargebackRow]

    @property
    def total_amount(self) -> Decimal:
        return sum((row.amount for row in self.departments), ZERO)

    @property
    def total_pack_value(self) -> Decimal:
        return sum((row.pack_value for row in self.departments), ZERO)


def _pack_value(coverage: list[dict]) -> Decimal:
    """What a line's usage drew from entitlements, at list price (their draws' value)."""
    return sum((Decimal(item["value"]) for item in coverage), ZERO)


def chargeback_statement(organization, month: date) -> ChargebackStatement:
    """Each department's share of the month: the lines of the month's invoice (so the
    departments, plus "no department", sum to its subtotal), or before the close, the same
    lines computed from the rollups; beside each charged amount, what the usage drew from
    packs and plan allowances at list price."""
    invoice = (
        Invoice.objects.for_org(organization)
        .filter(kind=Invoice.Kind.INVOICE, period_start=month)
        .exclude(status=Invoice.Status.VOID)
        .first()
    )
    if invoice is not None:
        lines = [
            (line.department_id, line.project_label, line.model.model_id if line.model else "",
             line.total_tokens, line.amount, _pack_value(line.coverage))
            for line in invoice.lines.select_related("model")
        ]  # fmt: skip
    else:
        values = _unbilled_lines(organization, month, first=month)
        projects = Project.objects.in_bulk({v["project_id"] for v in values})
        models = CatalogModel.objects.in_bulk({v["model_id"] for v in values})
        lines = [
            (v["department_id"], projects[v["project_id"]].name, models[v["model_id"]].model_id,
             sum(v[name] for name in COUNTS[1:]), v["amount"], _pack_value(v["coverage"]))
            for v in values
        ]  # fmt: skip
    departments = Department.objects.for_org(organization).in_bulk()
    rows = {pk: ChargebackRow(d, d.code, d.name) for pk, d in departments.items()}
    rows[None] = ChargebackRow(None, "", _("No department"))
    for department_id, project, model, tokens, amount, pack_value in lines:
        row = rows[department_id]
        row.lines.append(ChargebackLine(project, model, tokens, amount, pack_value))
        row.amount += amount
        row.pack_value += pack_value
        while department_id is not None:  # add to every ancestor's subtree
            rows[department_id].subtree_amount += amount
            department_id = departments[department_id].parent_id
    rows[None].subtree_amount = rows[None].amount
    ordered = sorted((row for row in rows.values() if row.subtree_amount or row.lines),
                     key=lambda row: (row.department is None, row.code))  # fmt: skip
    return ChargebackStatement(
        organization=organization,
        month=month,
        currency=invoice.currency if invoice else organization.currency,
        invoice=invoice,
        departments=ordered,
    )


# --- 发票 (fapiao) and credit terms --------------------------------------------------------


def fapiao_profile_for(organization) -> FapiaoProfile:
    """The saved profile, or an unsaved one filled from the organization (USCC as taxpayer id)."""
    try:
        return organization.fapiao_profile
    except FapiaoProfile.DoesNotExist:
        return FapiaoProfile(
            organization=organization,
            title=organization.legal_name,
            taxpayer_id=organization.uscc,
            registered_address=organization.address,
            registered_phone=organization.contact_phone,
        )


def save_fapiao_profile(*, actor: Actor, organization, data: Mapping[str, Any]) -> FapiaoProfile:
    """Set `data` (FapiaoProfile.DETAILS) on the organization's fapiao details, checked as the
    model checks them (a valid USCC; a special fapiao's bank and address details), audited
    with what changed (everything, on the first save). Raises ValidationError."""
    with transaction.atomic():
        # One save at a time per organization: two first saves must not both insert.
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        profile = fapiao_profile_for(organization)
        first = profile._state.adding
        changes = audit.apply(profile, data)
        profile.full_clean()
        profile.save()
        if first:  # the details filled from the organization are new as well
            changes = audit.changes(
                after={name: getattr(profile, name) for name in FapiaoProfile.DETAILS}
            )
        record_actor_event(
            actor=actor,
            organization=organization,
            action="billing.fapiao_profile_saved",
            target=profile,
            changes=changes,
        )
    return profile


def request_fapiao(*, actor: Actor, invoice: Invoice) -> FapiaoRequest:
    """Ask staff for a fapiao for an issued invoice, with the profile as it is now."""
    if invoice.kind != Invoice.Kind.INVOICE or invoice.status not in (
        Invoice.Status.ISSUED,
        Invoice.Status.PAID,
    ):
        raise InvoiceError({"invoice": _("A fapiao can be requested for an issued invoice only.")})
    profile = fapiao_profile_for(invoice.organization)
    try:
        profile.clean()  # a special VAT fapiao (专票) needs the bank and address details
    except ValidationError as error:
        raise InvoiceError(
            {
                name: _("A special VAT fapiao needs the %(detail)s: add it to the fapiao details.")
                % {"detail": FapiaoProfile._meta.get_field(name).verbose_name}
                for name in error.message_dict
            }
        ) from None
    try:
        with transaction.atomic():
            request = FapiaoRequest.objects.create(
                invoice=invoice,
                requested_by=actor.user,
                **{name: getattr(profile, name) for name in FapiaoProfile.DETAILS},
            )
            record_actor_event(
                actor=actor,
                organization=invoice.organization,
                action="billing.fapiao_requested",
                target=request,
                changes={"after": {"invoice": invoice.number}},
            )
    except IntegrityError:
        raise InvoiceError(
            {"invoice": _("A fapiao has already been requested for this invoice.")}
        ) from None
    return request


def decide_fapiao_request(*, actor: Actor, fapiao_request: FapiaoRequest) -> FapiaoRequest:
    """Staff mark a request issued (with the fapiao number and date) or rejected (with a note)."""
    if fapiao_request.status == FapiaoRequest.Status.ISSUED and not (
        fapiao_request.fapiao_number and fapiao_request.fapiao_date
    ):
        raise InvoiceError(_("An issued fapiao needs its number and date."))
    if fapiao_request.status == FapiaoRequest.Status.REJECTED and not fapiao_request.staff_note:
        raise InvoiceError(_("Say why the request is rejected."))
    with transaction.atomic():
        fapiao_request.save()
        record_actor_event(
            actor=actor,
            organization=fapiao_request.invoice.organization,
            action=f"billing.fapiao_{fapiao_request.status}",
            target=fapiao_request,
            changes={"after": {"fapiao_number": fapiao_request.fapiao_number}},
        )
    return fapiao_request


def check_payment_mode(organization, payment_mode: str) -> None:
    """An organization on the operator's consolidated bill stays postpaid: a prepaid balance
    would be charged the usage the settlement bills the operator (twice billed)."""
    if payment_mode == Organization.PaymentMode.PREPAID and is_consolidated(organization):
        raise InvoiceError(
            {"payment_mode": _("This organization is billed on the operator's consolidated "
                               "bill: it stays postpaid.")}
        )  # fmt: skip


def set_credit_terms(
    *, actor: Actor, organization, payment_mode: str, credit_limit_amount: Decimal
):
    """Staff change how an organization pays (the Organization fields belong to accounts)."""
    if credit_limit_amount < 0:
        raise InvoiceError(_("The credit limit cannot be negative."))
    check_payment_mode(organization, payment_mode)
    with transaction.atomic():
        Organization.objects.filter(pk=organization.pk).update(
            payment_mode=payment_mode, credit_limit_amount=credit_limit_amount
        )
        record_actor_event(
            actor=actor,
            organization=organization,
            action="billing.credit_terms_changed",
            target=organization,
            changes={
                "after": {"payment_mode": payment_mode, "credit_limit": str(credit_limit_amount)}
            },
        )
        ledger.invalidate_headroom(organization.pk)


# --- What the billing page and API show ----------------------------------------------------


@dataclass
class BillingSummary:
    payment_mode: str
    currency: str
    balance_amount: Decimal
    credit_limit_amount: Decimal
    spendable_amount: Decimal
    month_to_date_amount: Decimal
    forecast_amount: Decimal
    low_balance_threshold_amount: Decimal


def billing_summary(organization, *, now: datetime) -> BillingSummary:
    """Balance or credit, this month's cost so far, and a straight-line forecast of the month."""
    start, end = month_bounds(month_of(now))
    used = ledger.usage_cost_since(organization, start)
    # The overview's straight line; from an hour in, when the line means something.
    forecast = linear_forecast({"": used}, start, end, max(now, start + timedelta(hours=1)))[""]
    return BillingSummary(
        payment_mode=organization.payment_mode,
        currency=organization.currency,
        balance_amount=round_money(ledger.balance(organization), organization.currency),
        credit_limit_amount=organization.credit_limit_amount,
        spendable_amount=round_money(ledger.headroom(organization), organization.currency),
        month_to_date_amount=round_money(used, organization.currency),
        forecast_amount=round_money(forecast, organization.currency),
        low_balance_threshold_amount=ledger.low_balance_threshold(organization),
    )


def set_low_balance_threshold(*, actor: Actor, organization, amount: Decimal) -> BalanceAlert:
    """The balance under which the organization's billing members are warned (audited)."""
    before = ledger.low_balance_threshold(organization)
    with transaction.atomic():
        alert, _created = BalanceAlert.objects.update_or_create(
            organization=organization, defaults={"threshold_amount": amount}
        )
        record_actor_event(
            actor=actor,
            organization=organization,
            action="billing.low_balance_threshold_changed",
            target=alert,
            changes={"before": {"threshold_amount": before}, "after": {"threshold_amount": amount}},
        )
    return alert
