"""Finance's monthly figures of token packs (the staff console's "Pack report", CSV too).

Per business month, for packs (plan allowances are the plan's fee, reported with invoices):
sold (count, tokens, price before VAT: revenue to defer), credited (credit notes of pack
purchases issued in the month, before VAT: net sales are sold less credited), consumed
(tokens drawn by usage ingested in the month, and their value at list price), expired (tokens
left at expiry and the breakage: the share of the price paid they stand for) and deferred
revenue at the month's end (price paid x the share of tokens still left, of every pack in
force then). Amounts in CNY.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Q, Sum
from django.db.models.functions import Trunc

from billing.packages.models import Entitlement, EntitlementEntry
from portal.money import round_money
from portal.periods import add_months, business_zone, month_of, month_start

ZERO = Decimal(0)
TOKEN_COLUMNS = ["tokens_sold", "tokens_consumed", "tokens_expired"]
AMOUNT_COLUMNS = [
    "revenue_amount", "credited_amount", "consumed_value_amount", "breakage_amount",
    "deferred_revenue_amount",
]  # fmt: skip
CSV_COLUMNS = ["month", "packs_sold", *TOKEN_COLUMNS, *AMOUNT_COLUMNS]


@dataclass
class PackMonth:
    month: date
    packs_sold: int = 0
    tokens_sold: Decimal = ZERO
    revenue_amount: Decimal = ZERO  # price before VAT of the packs sold
    credited_amount: Decimal = ZERO  # credit notes issued in the month, before VAT, positive
    tokens_consumed: Decimal = ZERO
    consumed_value_amount: Decimal = ZERO  # at list price
    tokens_expired: Decimal = ZERO
    breakage_amount: Decimal = ZERO
    deferred_revenue_amount: Decimal = ZERO  # at the month's end

    def csv_row(self) -> list:
        """Tokens whole when they are (weighted counting has decimals), amounts in fen."""
        return [
            f"{self.month:%Y-%m}",
            self.packs_sold,
            *(_tokens(getattr(self, name)) for name in TOKEN_COLUMNS),
            *(round_money(getattr(self, name), "CNY") for name in AMOUNT_COLUMNS),
        ]


def _tokens(value: Decimal) -> Decimal:
    return value.quantize(1) if value == value.to_integral_value() else value.normalize()


def pack_report(first: date, last: date) -> list[PackMonth]:
    """The months `first`..`last` (first days), oldest first."""
    months, month = {}, first
    while month <= last:
        months[month] = PackMonth(month)
        month = add_months(month, 1)
    start, end = month_start(first), month_start(add_months(last, 1))
    packs = Entitlement.objects.filter(source=Entitlement.Source.PACK)
    for starts_at, granted, price in packs.filter(
        starts_at__gte=start, starts_at__lt=end
    ).values_list("starts_at", "granted", "price_amount"):
        row = months[month_of(starts_at)]
        row.packs_sold += 1
        row.tokens_sold += granted
        row.revenue_amount += price
    for issued_at, net in _credit_notes(start, end):
        months[month_of(issued_at)].credited_amount -= net
    entries = (
        EntitlementEntry.objects.filter(
            entitlement__source=Entitlement.Source.PACK, created_at__gte=start, created_at__lt=end
        )
        .values("kind", at=Trunc("created_at", "month", tzinfo=business_zone()))
        .annotate(units=Sum("units"), value=Sum("value_amount"))
    )
    for entry in entries:
        row = months[entry["at"].date()]
        if entry["kind"] == EntitlementEntry.Kind.DRAW:
            row.tokens_consumed -= entry["units"]
            row.consumed_value_amount += entry["value"]
        elif entry["kind"] == EntitlementEntry.Kind.EXPIRY:
            row.tokens_expired -= entry["units"]
            row.breakage_amount += entry["value"]
    for row in months.values():
        row.deferred_revenue_amount = deferred_revenue(month_start(add_months(row.month, 1)))
    return list(months.values())


def _credit_notes(start, end):
    """(issued at, amount before VAT: negative) of the credit notes of pack purchases issued
    in [start, end); a credit note is never voided. Read through the relations that sales
    and invoicing hang on a pack (this floor imports neither): its purchase, the purchase's
    invoice, that invoice's credit notes."""
    note = "purchase__invoice__credit_notes__"
    return Entitlement.objects.filter(
        source=Entitlement.Source.PACK,
        **{f"{note}issued_at__gte": start, f"{note}issued_at__lt": end},
    ).values_list(f"{note}issued_at", f"{note}subtotal_amount")


def deferred_revenue(at) -> Decimal:
    """What packs in force at `at` were paid for and not yet used: each one's price before
    VAT x (tokens left / tokens granted), tokens left counting the draws before `at`."""
    in_force = Entitlement.objects.filter(
        source=Entitlement.Source.PACK, starts_at__lt=at, expires_at__gt=at
    ).annotate(
        drawn=Sum(
            "entries__units",
            filter=Q(entries__kind=EntitlementEntry.Kind.DRAW, entries__created_at__lt=at),
        )
    )
    total = ZERO
    for granted, price, drawn in in_force.values_list("granted", "price_amount", "drawn"):
        if granted:
            total += price * (granted + (drawn or ZERO)) / granted
    return total.quantize(Decimal("0.0000000001"))
