"""verify_billing's check of the operator's consolidated bill (billing.managed.settlement).

Per organization and service month, the usage its settlements billed (SettlementRow
`usage_by_month`, summed over every settlement) is never more than that month's usage left
to bill as the settlement reads it (billing.invoicing.services.unbilled_amount): more is
usage billed twice. Less is usage that arrived after the last settlement: the next one
carries it. And each row adds up: its month's usage is the `usage` column and the earlier
months' are `adjustments`; its packs and plan fees are the organization's charges on the
operator's bill made in its month (settlement.charged_in, as the settlement read them), its
VAT is theirs plus the VAT on usage and adjustments; subtotal = usage + packs + plan fees +
adjustments; total = subtotal + VAT.
"""

import logging
from collections import defaultdict
from datetime import date
from decimal import Decimal

from billing.invoicing.services import ADJUSTMENT_MONTHS, unbilled_amount
from billing.managed.models import SettlementRow
from portal.money import round_money
from portal.periods import add_months

logger = logging.getLogger(__name__)
ZERO = Decimal(0)


def check_after_settlement(*, month: date) -> list[str]:
    """After `month`'s settlement is built: check the settlements of the months it may carry
    (as the close's check does, billing.invoicing.reconciliation.check_after_close) and log
    an error (alerting) on each difference."""
    problems = settlement_problems(since=add_months(month, -ADJUSTMENT_MONTHS - 1))
    for problem in problems:
        logger.error("verify_billing: %s", problem)
    return problems


def settlement_problems(*, since: date | None = None, organization=None) -> list[str]:
    """One line per difference, for operators, for the service months from `since` (default:
    all), of every organization on the bill or one."""
    rows = SettlementRow.objects.select_related("settlement", "organization").order_by(
        "settlement__month", "organization_id"
    )
    if since is not None:  # a settlement bills its own month and earlier ones
        rows = rows.filter(settlement__month__gte=since)
    if organization is not None:
        rows = rows.filter(organization=organization)
    problems, organizations = [], {}
    settled: dict[tuple[int, date], Decimal] = defaultdict(lambda: ZERO)
    for row in rows:
        organizations[row.organization_id] = row.organization
        usage = {
            date.fromisoformat(f"{month}-01"): Decimal(amount)
            for month, amount in row.usage_by_month.items()
        }
        for month, amount in usage.items():
            settled[row.organization_id, month] += amount
        problems += _row_problems(row, usage)
    for (org_id, month), amount in sorted(settled.items()):
        if since is not None and month < since:  # its earlier settlements were not read
            continue
        organization = organizations[org_id]
        left = unbilled_amount(organization, month)
        if amount > left:
            problems.append(
                f"organization {organization.public_id} ({organization.name}), {month:%Y-%m}: "
                f"settlements bill {amount} of usage, more than the {left} charged and not "
                "invoiced"
            )
    return problems


def _row_problems(row: SettlementRow, usage: dict[date, Decimal]) -> list[str]:
    from billing.managed import settlement  # it imports this module (its check after a run)

    own = usage.get(row.settlement.month, ZERO)
    earlier = sum((amount for month, amount in usage.items() if month != row.settlement.month),
                  ZERO)  # fmt: skip
    where = f"settlement {row.settlement}, organization {row.organization.public_id}"
    problems = []
    if (own, earlier) != (row.usage_amount, row.adjustments_amount):
        problems.append(
            f"{where}: usage by month says {own} of its month and {earlier} earlier, the row "
            f"bills usage {row.usage_amount} and adjustments {row.adjustments_amount}"
        )
    month, currency = row.settlement.month, row.organization.currency
    packs, plan_fees, charges_vat = settlement.charged_in(row.organization, month)
    packs, plan_fees = round_money(packs, currency), round_money(plan_fees, currency)
    if (row.packs_amount, row.plan_fees_amount) != (packs, plan_fees):
        problems.append(
            f"{where}: packs {row.packs_amount} and plan fees {row.plan_fees_amount}, the "
            f"charges on the operator's bill of {month:%Y-%m} are {packs} and {plan_fees}"
        )
    vat = settlement.usage_vat(row.usage_amount + row.adjustments_amount, currency) + charges_vat
    if row.tax_amount != vat:
        problems.append(
            f"{where}: VAT {row.tax_amount}, the usage's and the charges' ({charges_vat}) add "
            f"up to {vat}"
        )
    parts = row.usage_amount + row.packs_amount + row.plan_fees_amount + row.adjustments_amount
    if row.subtotal_amount != parts:
        problems.append(f"{where}: subtotal {row.subtotal_amount}, its parts add up to {parts}")
    if row.total_amount != row.subtotal_amount + row.tax_amount:
        problems.append(
            f"{where}: total {row.total_amount} is not subtotal {row.subtotal_amount} + VAT "
            f"{row.tax_amount}"
        )
    return problems
