"""The consolidated bill as its customer reads it (统一账单): instead of invoices, a monthly
statement of what the operator bills. Settled months are the organization's settlement
rows; the months not settled yet are previewed the same way (billing.managed.settlement
.month_row), so the figures a customer sees are the ones the operator receives."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from billing.invoicing.consolidated_models import ConsolidatedBilling, OperatorCharge
from billing.managed.models import SettlementRow
from billing.managed.settlement import month_row
from portal.periods import add_months, month_of

CHARGES_SHOWN = 50  # the latest packs and plan fees listed on the page


@dataclass(frozen=True)
class BillMonth:
    month: date
    row: SettlementRow
    settled: bool  # in a settlement file (else: so far, not settled yet)
    status: str  # the settlement's delivery status, "" while not settled


@dataclass(frozen=True)
class OperatorBill:
    setting: ConsolidatedBilling
    months: list[BillMonth]  # newest first
    charges: list[OperatorCharge]  # newest first


def operator_bill(organization, *, now: datetime) -> OperatorBill | None:
    """None when the organization is not on the operator's consolidated bill."""
    setting = (
        ConsolidatedBilling.objects.active()
        .select_related("organization")
        .filter(organization=organization)
        .first()
    )
    if setting is None:
        return None
    settled = list(
        SettlementRow.objects.filter(organization=organization)
        .select_related("settlement", "organization")
        .order_by("-settlement__month")
    )
    months = [BillMonth(r.settlement.month, r, True, r.settlement.status) for r in settled]
    months[:0] = reversed(_open_months(setting, settled, month_of(now)))
    charges = OperatorCharge.objects.for_org(organization).order_by("-charged_at", "-id")
    return OperatorBill(setting, months, list(charges[:CHARGES_SHOWN]))


def _open_months(setting, settled, current: date) -> list[BillMonth]:
    """The months after the last settled one, oldest first: last month (while its settlement
    waits for the grace period) and this month so far. An earlier preview's usage is not
    counted again by a later one; last month is left out when it has nothing to bill."""
    start = add_months(current, -1)
    if settled:
        start = max(start, add_months(settled[0].settlement.month, 1))
    previewed: dict[str, Decimal] = {}
    months = []
    month = start
    while month <= current:
        row = month_row(setting, month, previewed=previewed)
        for key, amount in row.usage_by_month.items():
            previewed[key] = previewed.get(key, Decimal(0)) + Decimal(amount)
        if month == current or row.total_amount or row.usage_by_month:
            months.append(BillMonth(month, row, False, ""))
        month = add_months(month, 1)
    return months
