"""The ledger (see billing.invoicing.models for the sign convention) and the balance check.

Spendable headroom. authorize must not query the database on a warm cache, so each
organization's headroom is cached in micro-units of its currency (an integer, so that the
cache can change it atomically):

- prepaid:  balance - PREPAID_BALANCE_FLOOR
- postpaid: credit limit + ledger balance (minus unpaid issued invoices) - month-to-date usage

The gateway is refused (insufficient_balance) when the headroom is <= 0. charge_usage()
decrements it atomically after its transaction commits; top-ups, payments, invoices and
credit-limit changes delete it (invalidate_headroom) so the next call recomputes it from the
ledger. Staleness bound: the cached figure expires after BILLING_HEADROOM_CACHE_SECONDS
(default 60) and is then recomputed from the database, so a decrement lost with a crashed
process, or the start of a new month, is reflected within that time.
"""

from collections import defaultdict
from contextlib import suppress
from datetime import datetime
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.audit_trail import Actor, record_actor_event
from accounts.models import Organization
from billing.invoicing.models import (
    BalanceAlert,
    Invoice,
    InvoiceLine,
    LedgerBalance,
    LedgerEntry,
)
from billing.metering.selectors import rollups_plus_tail
from billing.packages import gate
from billing.packages.selectors import taken_off_since
from notifications.announce import announce, interpolate_lazy
from portal import periods
from portal.money import format_money
from projects.authorize import Refusal

MICRO = Decimal("0.000001")
ZERO = Decimal(0)


def balance(organization) -> Decimal:
    """The sum of the organization's ledger: positive is money in its favour."""
    if hasattr(organization, "ledger_balance"):  # annotated by cached_headroom_micros()
        return organization.ledger_balance or ZERO
    running = LedgerBalance.objects.filter(organization=organization)
    return running.values_list("amount", flat=True).first() or ZERO


def unbalanced_organizations() -> list[tuple[int, Decimal, Decimal]]:
    """(organization id, running balance, sum of entries) wherever the two disagree: the
    running balance is a cache of the sum, and this is how operators check it. Summed in
    Python, exactly: SQLite's SUM() of a decimal column is a float."""
    sums = defaultdict(Decimal)
    for org_id, amount in LedgerEntry.objects.values_list("organization", "amount").iterator():
        sums[org_id] += amount
    running = dict(LedgerBalance.objects.values_list("organization", "amount"))
    return [
        (org_id, running.get(org_id, ZERO), sums.get(org_id, ZERO))
        for org_id in sorted(sums.keys() | running.keys())
        if running.get(org_id, ZERO) != sums.get(org_id, ZERO)
    ]


def unreconciled_invoices() -> list[tuple[Invoice, Decimal, Decimal]]:
    """(invoice, its total, what the ledger drew for it) for every invoice settled from a
    prepaid balance where the two differ. What the ledger drew: the usage charges its lines
    cover (their unrounded cost, charged as the usage arrived) plus the entries posted for
    it at issue (VAT, rounding). Summed in Python, exactly."""
    settled = Invoice.objects.filter(settled_from_balance=True)
    drawn = defaultdict(Decimal)
    lines = InvoiceLine.objects.filter(invoice__in=settled)
    for invoice_id, *cost in lines.values_list("invoice", "cost_amount", "amount").iterator():
        drawn[invoice_id] += _covered(*cost)
    posted = LedgerEntry.objects.filter(
        invoice__in=settled, kind__in=[LedgerEntry.Kind.INVOICE, LedgerEntry.Kind.ROUNDING]
    )
    for invoice_id, amount in posted.values_list("invoice", "amount").iterator():
        drawn[invoice_id] -= amount
    return [
        (invoice, invoice.total_amount, drawn[invoice.pk])
        for invoice in settled.order_by("pk")
        if drawn[invoice.pk] != invoice.total_amount
    ]


def uncharged_settled_usage() -> list[tuple[int, Decimal, Decimal]]:
    """(organization id, usage its settled invoices bill, usage its ledger charged) wherever
    invoices settled from the balance bill more usage (unrounded) than the ledger ever
    charged: usage "paid from the balance" that never drew it down (it happened while the
    organization was postpaid, say). Less is normal: usage not invoiced yet."""
    billed, charged = defaultdict(Decimal), defaultdict(Decimal)
    lines = InvoiceLine.objects.filter(invoice__settled_from_balance=True)
    for org_id, *cost in lines.values_list(
        "invoice__organization", "cost_amount", "amount"
    ).iterator():
        billed[org_id] += _covered(*cost)
    usage = LedgerEntry.objects.filter(
        kind=LedgerEntry.Kind.USAGE_CHARGE, organization__in=list(billed)
    )
    for org_id, amount in usage.values_list("organization", "amount").iterator():
        charged[org_id] -= amount
    return [
        (org_id, billed[org_id], charged[org_id])
        for org_id in sorted(billed)
        if billed[org_id] > charged[org_id]
    ]


def _covered(cost: Decimal | None, amount: Decimal) -> Decimal:
    """The unrounded usage an invoice line bills (its amount when no cost was recorded)."""
    return amount if cost is None else cost


# --- Recording money in ------------------------------------------------------------------


def record_top_up(*, actor: Actor, organization, amount: Decimal, reference: str, note: str = ""):
    """A bank transfer (对公转账) staff have seen arrive, by its receipt reference."""
    if amount <= 0:
        raise ValidationError(_("A top-up must be a positive amount."))
    with transaction.atomic():
        return record_money_in(
            actor=actor,
            organization=organization,
            kind=LedgerEntry.Kind.TOP_UP,
            amount=amount,
            reference=reference,
            note=note,
        )


MONEY_ACTIONS = {
    LedgerEntry.Kind.TOP_UP: "billing.top_up",
    LedgerEntry.Kind.REFUND: "billing.refund",
}


def record_money_in(*, actor: Actor, organization, kind, amount: Decimal, reference: str, **fields):
    """Append a top-up or payment entry, or the (negative) refund of one, audited
    (billing.top_up / billing.payment / billing.refund), inside the caller's transaction; the
    cached headroom follows after commit."""
    entry = LedgerEntry.objects.create(
        organization=organization,
        kind=kind,
        amount=amount,
        currency=organization.currency,
        reference=reference,
        created_by=actor.user,
        **fields,
    )
    record_actor_event(
        actor=actor,
        organization=organization,
        action=MONEY_ACTIONS.get(kind, "billing.payment"),
        target=entry,
        changes={"after": {"amount": str(amount), "reference": reference}},
    )
    invalidate_headroom(organization.pk)
    return entry


# --- Usage draws the balance down ----------------------------------------------------------


def rounding_difference(invoice: Invoice) -> Decimal:
    """What settling `invoice` from the balance adds to the usage charges its lines cover so
    that they come to its subtotal: sum(unrounded cost - rounded amount) over its lines;
    positive (in the customer's favour) when rounding went down."""
    return sum(
        (_covered(line.cost_amount, line.amount) - line.amount for line in invoice.lines.all()),
        ZERO,
    )


def post_rounding_adjustment(*, actor: Actor, invoice: Invoice) -> LedgerEntry | None:
    """For an invoice settled from a prepaid balance, the one `rounding` entry (linked to it,
    referenced "rounding:<number>") after which the balance has paid exactly its subtotal
    for the usage it bills (and, with the VAT entry, its total). None when the invoice was
    not settled from the balance or rounding changed nothing. Idempotent: called again it
    returns the entry already posted (the reference is unique per organization)."""
    if not invoice.settled_from_balance:
        return None
    amount = rounding_difference(invoice)
    if not amount:
        return None
    posted = LedgerEntry.objects.filter(
        organization_id=invoice.organization_id,
        kind=LedgerEntry.Kind.ROUNDING,
        reference=f"rounding:{invoice.number}",
    )
    try:
        with transaction.atomic():
            entry = posted.first()
            if entry is None:
                entry = LedgerEntry.objects.create(
                    organization_id=invoice.organization_id,
                    kind=LedgerEntry.Kind.ROUNDING,
                    amount=amount,
                    currency=invoice.currency,
                    reference=f"rounding:{invoice.number}",
                    invoice=invoice,
                    created_by=actor.user,
                    note=_("Rounding of invoice %(number)s to the minor unit")
                    % {"number": invoice.number},
                )
                invalidate_headroom(invoice.organization_id)
    except IntegrityError:  # posted meanwhile by a concurrent call
        entry = posted.get()
    return entry


def charge_usage(events) -> None:
    """Called by ingestion, inside its transaction, with the newly inserted UsageEvents.

    Prepaid organizations: one usage_charge entry per organization (and currency) per batch,
    for the exact, unrounded sum of the batch's costs, referenced "usage:<first>-<last>"
    (the batch's event id range). Calling it again with the same batch records nothing (the
    reference is unique per organization). Every organization's cached headroom goes down
    by the batch cost once the transaction commits; a prepaid balance that crosses
    its low-balance threshold (with_low_balance_threshold) sends one low-balance alert.
    """
    batches = defaultdict(list)
    for event in events:
        batches[(event.organization_id, event.currency)].append(event)
    if not batches:
        return
    organizations = with_low_balance_threshold(Organization.objects).in_bulk(
        {org_id for org_id, _currency in batches}
    )
    for (org_id, currency), batch in batches.items():
        organization = organizations[org_id]
        # What packs and the plan left to pay (packages.drawdown.draw_usage ran before).
        cost = sum((getattr(e, "charged_amount", e.cost_amount) for e in batch), ZERO)
        if organization.payment_mode == Organization.PaymentMode.PREPAID:
            ids = [event.id for event in batch]
            reference = f"usage:{currency}:{min(ids)}-{max(ids)}"
            charged = LedgerEntry.objects.for_org(organization).filter(
                kind=LedgerEntry.Kind.USAGE_CHARGE, reference=reference
            )
            if charged.exists():
                continue
            entry = LedgerEntry.objects.create(
                organization=organization,
                kind=LedgerEntry.Kind.USAGE_CHARGE,
                amount=-cost,
                currency=currency,
                reference=reference,
                note=_("%(count)s calls") % {"count": len(batch)},
            )
            after = entry.balance_after
            _alert_if_low(
                organization,
                threshold=organization.low_balance_threshold_amount,
                before=after + cost,
                after=after,
            )
        _decrease_headroom(org_id, cost)


def low_balance_threshold(organization) -> Decimal:
    """The organization's own low-balance alert amount, else the platform default (a query;
    for organizations read in bulk, see with_low_balance_threshold)."""
    own = (
        BalanceAlert.objects.filter(organization=organization)
        .values_list("threshold_amount", flat=True)
        .first()
    )
    return settings.LOW_BALANCE_ALERT_AMOUNT if own is None else own


def with_low_balance_threshold(organizations):
    """The organizations annotated `low_balance_threshold_amount` (their own low-balance alert
    amount, else the platform default), read in the same query."""
    own = BalanceAlert.objects.filter(organization=OuterRef("pk")).values("threshold_amount")
    return organizations.annotate(
        low_balance_threshold_amount=Coalesce(
            Subquery(own),
            Value(settings.LOW_BALANCE_ALERT_AMOUNT),
            output_field=BalanceAlert._meta.get_field("threshold_amount"),
        )
    )


def _alert_if_low(organization, *, threshold: Decimal, before: Decimal, after: Decimal) -> None:
    if before > threshold >= after:
        announce(
            organization=organization,
            event_type="balance.low",
            subject=gettext_lazy("Your Token Portal balance is low"),
            message=interpolate_lazy(
                gettext_lazy(
                    "The prepaid balance of %(organization)s is %(balance)s. "
                    "Top up to keep your API keys working."
                ),
                {
                    "organization": organization.name,
                    "balance": format_money(after, organization.currency),
                },
            ),
            data={"balance": str(after), "threshold": str(threshold)},
        )


# --- The cached headroom and the authorize check ---------------------------------------------


def _headroom_key(org_id: int) -> str:
    return f"billing:headroom:{org_id}"


def _micros(amount: Decimal) -> int:
    return int((amount / MICRO).to_integral_value(rounding=ROUND_CEILING))


def usage_cost_since(organization, start: datetime) -> Decimal:
    """Unrounded cost charged since `start`: rollups plus the events not rolled up yet, less
    what packs and the plan took off (the rollups hold the cost before them)."""

    def cost(rows, time_field, requests):
        return (
            rows.for_org(organization)
            .filter(**{f"{time_field}__gte": start})
            .values("organization_id")
            .annotate(cost=Sum("cost_amount"))
            .values_list("cost", flat=True)
        )

    return sum(rollups_plus_tail(cost), ZERO) - taken_off_since(organization, start)


def headroom(organization) -> Decimal:
    """What the organization may still spend, from the database (see the module doc)."""
    if organization.payment_mode == Organization.PaymentMode.PREPAID:
        return balance(organization) - settings.PREPAID_BALANCE_FLOOR
    start = periods.month_start(periods.month_of(timezone.now()))
    used = usage_cost_since(organization, start)
    return organization.credit_limit_amount + balance(organization) - used


def headroom_cache_keys(call) -> list[str]:
    return [_headroom_key(call.key["organization_pk"])]


def cached_headroom_micros(org_id: int, found=cache) -> int:
    """`found`: anything with `get_many(keys)`, the cache or entries already fetched."""
    value = found.get_many([_headroom_key(org_id)]).get(_headroom_key(org_id))
    if value is None:
        # One query for a prepaid organization: the balance comes with the organization.
        running = LedgerBalance.objects.filter(organization=OuterRef("pk")).values("amount")
        organization = Organization.objects.annotate(ledger_balance=Subquery(running)).get(
            pk=org_id
        )
        value = _micros(headroom(organization))
        cache.set(_headroom_key(org_id), value, settings.BILLING_HEADROOM_CACHE_SECONDS)
    return value


def check_balance(call, found=cache) -> str | None:
    """projects.authorize check: no round trip of its own when warm (its key comes with the
    gateway's first read); a reload from the ledger when not cached."""
    if cached_headroom_micros(call.key["organization_pk"], found) <= 0 and not gate.covers(
        call, found
    ):
        return Refusal.INSUFFICIENT_BALANCE
    return None


def balance_cache_keys(call) -> list[str]:
    return [*headroom_cache_keys(call), *gate.snapshot_keys(call)]


check_balance.cache_keys = balance_cache_keys


def invalidate_headroom(org_id: int) -> None:
    transaction.on_commit(lambda: cache.delete(_headroom_key(org_id)))


def _decrease_headroom(org_id: int, cost: Decimal) -> None:
    def decrease():
        with suppress(ValueError):  # not cached: the next check recomputes it
            cache.decr(_headroom_key(org_id), _micros(cost))

    transaction.on_commit(decrease)
