"""The staff dashboard's figures: what needs staff attention and how the month is going.

Every figure is aggregated in the database (a bounded number of queries whatever the
volume). Revenue and tokens read the hourly rollups of the current business-zone month;
events the rollup has not reached yet are shown as the ingestion lag next to them.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import F, Sum
from django.utils import timezone

from accounts.models import Organization
from billing.invoicing.bank_models import BankStatementLine
from billing.invoicing.models import Invoice
from billing.metering.models import UsageRollup
from billing.metering.services import IngestionLag, ingestion_lag
from notifications.models import WebhookDelivery
from portal.money import round_money
from portal.periods import month_of, month_start

TOP = 10
FAILED_DELIVERIES_SINCE = timedelta(days=7)
BANK_QUEUE = [BankStatementLine.Status.UNMATCHED, BankStatementLine.Status.SUGGESTED,
              BankStatementLine.Status.MATCHED]  # fmt: skip
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
    revenue: list[Money]  # month to date, per currency
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
        revenue=_money(month.values("currency").annotate(amount=Sum("cost_amount"))),
        tokens=totals["tokens"] or 0,
        requests=totals["requests"] or 0,
        by_model=_ranked(month, "model__model_id", "model__display_name"),
        top_customers=_ranked(month, "organization_id", "organization__name"),
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


def _money(rows) -> list[Money]:
    return [
        Money(round_money(row["amount"], row["currency"]), row["currency"])
        for row in sorted(rows, key=lambda row: row["currency"])
    ]


def _ranked(rollups, key: str, label: str) -> list[dict]:
    """The month's groups by `key` (one row per currency), highest cost first."""
    rows = (
        rollups.values(key, label, "currency")
        .annotate(
            tokens=Sum(TOKENS),
            requests=Sum("requests"),
            amount=Sum("cost_amount"),
        )
        .order_by("-amount", key)[:TOP]
    )
    return [
        {
            "key": row[key],
            "label": row[label],
            "tokens": row["tokens"],
            "requests": row["requests"],
            "cost": Money(round_money(row["amount"], row["currency"]), row["currency"]),
        }
        for row in rows
    ]
