"""The staff dashboard's figures: what needs staff attention and how the month is going.

Every figure is aggregated in the database (a bounded number of queries whatever the
volume). Revenue and tokens read the hourly rollups of the current business-zone month;
events the rollup has not reached yet are shown as the ingestion lag next to them. Revenue
is what usage was charged: the rollups' cost less what packs and plans took off the same
events (UsageCoverage), which is pack and plan revenue, not usage revenue.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Exists, F, OuterRef, Subquery, Sum
from django.utils import timezone

from accounts.models import Organization
from billing.invoicing.bank_models import BankStatementLine
from billing.invoicing.models import Invoice
from billing.metering.models import WATERMARK, RollupWatermark, UsageEvent, UsageRollup
from billing.metering.services import IngestionLag, ingestion_lag
from billing.packages.models import Entitlement, EntitlementEntry, Subscription, UsageCoverage
from notifications.models import WebhookDelivery
from portal.money import round_money
from portal.periods import month_of, month_start

TOP = 10
FAILED_DELIVERIES_SINCE = timedelta(days=7)
BANK_QUEUE = [BankStatementLine.Status.UNMATCHED, BankStatementLine.Status.SUGGESTED,
              BankStatementLine.Status.MATCHED]  # fmt: skip
ZERO = Decimal(0)
TOKENS = F("input_tokens") + F("output_tokens") + F("cached_input_tokens") + F("cache_write_tokens")


@dataclass
class Money:
    amount: Decimal
    currency: str


@dataclass
class StaffDashboard:
    month: date  # the first day of the business month shown
    pending_reviews: int
    oldest_pending: list  # Organizations waiting for review, oldest first
    overdue_count: int
    overdue_totals: list[Money]  # per currency
    overdue: list  # Invoices, longest overdue first
    revenue: list[Money]  # usage charged month to date, per currency
    packs_used: Money  # what usage drew from packs this month, at list price
    tokens: int
    requests: int
    by_model: list[dict]  # model_id, display_name, tokens, requests, cost (Money)
    top_customers: list[dict]  # organization (id, name), tokens, requests, cost (Money)
    lag: IngestionLag
    failed_deliveries_count: int
    failed_deliveries: list  # WebhookDeliveries, newest first
    bank_queue_count: int  # bank statement lines to assign or confirm


def staff_dashboard(now: datetime | None = None) -> StaffDashboard:
    now = now or timezone.now()
    start = month_start(month_of(now))
    pending = Organization.objects.filter(status=Organization.Status.PENDING)
    overdue = overdue_invoices(now)
    month = UsageRollup.objects.filter(hour__gte=start, hour__lt=now)
    totals = month.aggregate(tokens=Sum(TOKENS), requests=Sum("requests"))
    taken = _taken_off(start, now)
    failed = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.FAILED, created_at__gte=now - FAILED_DELIVERIES_SINCE
    )
    return StaffDashboard(
        month=start.date(),
        pending_reviews=pending.count(),
        oldest_pending=list(pending.order_by("created_at")[:TOP]),
        overdue_count=overdue.count(),
        overdue_totals=_money(overdue.values("currency").annotate(amount=Sum("total_amount"))),
        overdue=list(overdue.select_related("organization").order_by("due_at")[:TOP]),
        revenue=_revenue(month, taken),
        packs_used=_packs_used(start, now),
        tokens=totals["tokens"] or 0,
        requests=totals["requests"] or 0,
        by_model=_ranked(month, taken, "model__model_id", "model__display_name"),
        top_customers=_ranked(month, taken, "organization_id", "organization__name"),
        lag=ingestion_lag(now),
        failed_deliveries_count=failed.count(),
        failed_deliveries=list(
            failed.select_related("endpoint__organization").order_by("-created_at")[:TOP]
        ),
        bank_queue_count=BankStatementLine.objects.filter(status__in=BANK_QUEUE).count(),
    )


def overdue_invoices(now: datetime):
    """Issued, unpaid invoices past their due date (credit notes are never due)."""
    return Invoice.objects.filter(
        kind=Invoice.Kind.INVOICE, status=Invoice.Status.ISSUED, due_at__lt=now
    )


def _taken_off(start: datetime, now: datetime) -> list[dict]:
    """What packs and plans took off the cost of the month's rolled-up events, per
    organization, model and currency. Only holders of an entitlement or a plan have coverage
    rows (billing.packages.drawdown): their events alone are read, by the organization
    index."""
    holders = Organization.objects.filter(
        Exists(Entitlement.objects.filter(organization=OuterRef("pk")))
        | Exists(Subscription.objects.filter(organization=OuterRef("pk")))
    )
    charged = UsageCoverage.objects.filter(event_id=OuterRef("id")).values("charged_amount")
    mark = RollupWatermark.objects.filter(name=WATERMARK).values("last_event_id")
    return list(
        UsageEvent.objects.filter(
            organization__in=holders.values("pk"),
            occurred_at__gte=start,
            occurred_at__lt=now,
            id__lte=Subquery(mark),  # the rollups hold the cost of these events only
        )
        .annotate(charged=Subquery(charged))
        .filter(charged__isnull=False)
        .values("organization_id", "model__model_id", "currency")
        .annotate(amount=Sum(F("cost_amount") - F("charged")))
    )


def _off(taken: list[dict], *key: str) -> dict[tuple, Decimal]:
    """What packs and plans took off, per `key` (field names of `taken`'s rows)."""
    off: dict[tuple, Decimal] = {}
    for row in taken:
        group = tuple(row[name] for name in key)
        off[group] = off.get(group, ZERO) + row["amount"]
    return off


def _revenue(rollups, taken: list[dict]) -> list[Money]:
    off = _off(taken, "currency")
    rows = rollups.values("currency").annotate(cost=Sum("cost_amount"))
    return _money(
        {**row, "amount": row["cost"] - off.get((row["currency"],), ZERO)} for row in rows
    )


def _packs_used(start: datetime, now: datetime) -> Money:
    """Draws from packs by usage ingested this month, at list price (the pack report's
    consumption; entitlements are in CNY)."""
    value = EntitlementEntry.objects.filter(
        kind=EntitlementEntry.Kind.DRAW,
        entitlement__source=Entitlement.Source.PACK,
        created_at__gte=start,
        created_at__lt=now,
    ).aggregate(value=Sum("value_amount"))["value"]
    return Money(round_money(value or ZERO, "CNY"), "CNY")


def _money(rows) -> list[Money]:
    return [
        Money(round_money(row["amount"], row["currency"]), row["currency"])
        for row in sorted(rows, key=lambda row: row["currency"])
    ]


def _ranked(rollups, taken: list[dict], key: str, label: str) -> list[dict]:
    """The month's groups by `key` (one row per currency), highest charged cost first. A
    group's charged cost is at most its cost, and only the groups in `taken` had anything
    taken off: the first TOP by charged cost are among the first TOP + len(taken) by cost."""
    off = _off(taken, key, "currency")
    rows = (
        rollups.values(key, label, "currency")
        .annotate(tokens=Sum(TOKENS), requests=Sum("requests"), cost=Sum("cost_amount"))
        .order_by("-cost", key)[: TOP + len(off)]
    )
    for row in rows:
        row["amount"] = row["cost"] - off.get((row[key], row["currency"]), ZERO)
    return [
        {
            "key": row[key],
            "label": row[label],
            "tokens": row["tokens"],
            "requests": row["requests"],
            "cost": Money(round_money(row["amount"], row["currency"]), row["currency"]),
        }
        for row in sorted(rows, key=lambda row: (-row["amount"], row[key]))[:TOP]
    ]
