"""The consolidated bill's monthly settlement file (统一账单结算文件).

One file per month, one row per organization billed on the operator's consolidated bill
(billing.invoicing.consolidated_models): the customer's account number at the operator and
the month's charges before VAT by category (usage of the month; packs and plan fees: the
charges on the operator's bill made in the month; adjustments: late usage of earlier
months), VAT and total. Built once per month (build_settlement): re-running the month
returns the stored file, so a retry after a lost acknowledgement sends exactly the same
bytes under the same idempotency key. Formats: docs/packages.md, "Operator side".
"""

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.audit_trail import Actor, record_actor_event
from accounts.models import Organization
from billing.invoicing import services as invoicing
from billing.invoicing.consolidated_models import ConsolidatedBilling, OperatorCharge
from billing.managed.billing_system import BillingSystem, DeliveryError
from billing.managed.models import Settlement, SettlementRow
from billing.managed.reconciliation import check_after_settlement
from portal import csv
from portal.money import round_money
from portal.periods import add_months, month_bounds, month_of, month_start

ZERO = Decimal(0)
COLUMNS = (
    "month",
    "organization_id",
    "organization",
    "operator_account_number",
    "currency",
    "usage",
    "packs",
    "plan_fees",
    "adjustments",
    "amount_before_vat",
    "vat",
    "total",
)


def check_setting(organization, enabled: bool, operator_account_number: str) -> str:
    """The account number, stripped: required while the organization is on the bill. Only
    a postpaid organization goes on it, and it cannot leave once settled (the close does not
    know what settlements billed: it would invoice that usage again) or charged a pack or
    plan fee there (no one else would bill it)."""
    number = operator_account_number.strip()
    if (
        enabled
        and organization is not None
        and organization.payment_mode == Organization.PaymentMode.PREPAID
    ):
        # Its balance pays its usage: the operator's bill would charge it a second time.
        raise ValidationError(
            {"enabled": _("A prepaid organization pays from its balance: make it postpaid "
                          "before putting it on the operator's bill.")}
        )  # fmt: skip
    if enabled and not number:
        raise ValidationError(
            {"operator_account_number": _("Enter the customer's account number at the operator.")}
        )
    if not enabled and SettlementRow.objects.filter(organization=organization).exists():
        raise ValidationError(
            {"enabled": _("Its usage was settled on the operator's bill: it stays on it.")}
        )
    if not enabled and OperatorCharge.objects.for_org(organization).exists():
        # Only the settlement bills a charge, and it reads organizations on the bill.
        raise ValidationError(
            {"enabled": _("Its packs or plan fees are charged on the operator's bill: it "
                          "stays on it.")}
        )  # fmt: skip
    return number


def set_consolidated_billing(
    *, actor: Actor, organization, enabled: bool, operator_account_number: str
) -> ConsolidatedBilling:
    """Staff mark an organization as billed on the operator's consolidated bill (or not),
    with its account number at the operator; audited with before and after."""
    number = check_setting(organization, enabled, operator_account_number)
    with transaction.atomic():
        setting = ConsolidatedBilling.objects.select_for_update().filter(
            organization=organization
        ).first() or ConsolidatedBilling(organization=organization, enabled=False)
        before = {"enabled": setting.enabled, "account": setting.operator_account_number}
        setting.enabled, setting.operator_account_number = enabled, number
        setting.updated_by = actor.user
        setting.save()
        record_actor_event(
            actor=actor,
            organization=organization,
            action="billing.consolidated_billing_changed",
            target=organization,
            changes={"before": before, "after": {"enabled": enabled, "account": number}},
        )
    return setting


def idempotency_key(month: date) -> str:
    return f"token-portal-settlement-{month:%Y-%m}"


def build_settlement(*, month: date) -> Settlement:
    """The settlement of `month`, built on first call from the charges of every organization
    on the consolidated bill; later calls return it unchanged."""
    existing = Settlement.objects.filter(month=month).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            settlement = Settlement.objects.create(
                month=month,
                idempotency_key=idempotency_key(month),
                csv_text="",
                document={},
            )
            consolidated = ConsolidatedBilling.objects.active().select_related("organization")
            rows = [
                month_row(setting, month, settlement=settlement)
                for setting in consolidated.order_by("organization__name", "organization_id")
            ]
            SettlementRow.objects.bulk_create(rows)
            settlement.csv_text = settlement_csv(settlement, rows)
            settlement.document = settlement_document(settlement, rows)
            settlement.save(update_fields=["csv_text", "document"])
    except IntegrityError:  # built by a concurrent run meanwhile: that one stands
        return Settlement.objects.get(month=month)
    return settlement


def _billed_before(organization) -> dict[str, Decimal]:
    """Usage per service month that earlier settlements billed the organization."""
    billed: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for usage in SettlementRow.objects.filter(organization=organization).values_list(
        "usage_by_month", flat=True
    ):
        for month, amount in usage.items():
            billed[month] += Decimal(amount)
    return billed


def month_row(
    setting: ConsolidatedBilling, month: date, *, settlement: Settlement | None = None,
    previewed: dict[str, Decimal] | None = None,
) -> SettlementRow:  # fmt: skip
    """The organization's row of `month`'s settlement as it stands now (unsaved). Without a
    settlement: what the month's settlement would say so far, less the usage `previewed`
    (per service month) in an earlier month's preview."""
    organization = setting.organization
    currency = organization.currency
    billed = _billed_before(organization)
    for key, amount in (previewed or {}).items():
        billed[key] += amount
    charged: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in invoicing.unbilled_usage(organization, month):
        charged[f"{line['service_month']:%Y-%m}"] += line["amount"]
    by_month = {key: amount - billed[key] for key, amount in charged.items()}
    by_month = {key: amount for key, amount in by_month.items() if amount}
    own = f"{month:%Y-%m}"
    usage = by_month.get(own, ZERO)
    adjustments = sum((v for k, v in by_month.items() if k != own), ZERO)
    packs, plan_fees, purchase_vat = charged_in(organization, month)
    usage, adjustments, packs, plan_fees = (
        round_money(amount, currency) for amount in (usage, adjustments, packs, plan_fees)
    )
    subtotal = usage + adjustments + packs + plan_fees
    tax = usage_vat(usage + adjustments, currency) + purchase_vat
    return SettlementRow(
        settlement=settlement,
        organization=organization,
        operator_account_number=setting.operator_account_number,
        usage_amount=usage,
        packs_amount=packs,
        plan_fees_amount=plan_fees,
        adjustments_amount=adjustments,
        subtotal_amount=subtotal,
        tax_amount=tax,
        total_amount=subtotal + tax,
        usage_by_month={key: str(amount) for key, amount in by_month.items()},
    )


def usage_vat(amount: Decimal, currency: str) -> Decimal:
    """A row's VAT on its usage and adjustments (packs and plan fees carry their own)."""
    return round_money(amount * settings.VAT_RATE, currency)


def charged_in(organization, month: date) -> tuple[Decimal, Decimal, Decimal]:
    """Packs and plan fees before VAT, and their VAT: the charges on the operator's bill made
    in `month` (VAT as each was charged). Purchase invoices are left out: those were
    invoiced and paid to us (bought before the organization joined the bill)."""
    start, end = month_bounds(month)
    charges = OperatorCharge.objects.for_org(organization).filter(
        charged_at__gte=start, charged_at__lt=end
    )
    packs = plan_fees = vat = ZERO
    for category, subtotal, tax in charges.values_list("category", "subtotal_amount", "tax_amount"):
        if category == OperatorCharge.Category.PACK:
            packs += subtotal
        else:
            plan_fees += subtotal
        vat += tax
    return packs, plan_fees, vat


def _values(settlement: Settlement, row: SettlementRow) -> list:
    return [
        f"{settlement.month:%Y-%m}",
        row.organization.public_id,
        row.organization.name,
        row.operator_account_number,
        row.organization.currency,
        row.usage_amount,
        row.packs_amount,
        row.plan_fees_amount,
        row.adjustments_amount,
        row.subtotal_amount,
        row.tax_amount,
        row.total_amount,
    ]


def settlement_csv(settlement: Settlement, rows) -> str:
    return csv.text(COLUMNS, (_values(settlement, row) for row in rows))


def settlement_document(settlement: Settlement, rows) -> dict:
    """The JSON file: amounts as decimal strings, never floats."""
    return {
        "idempotency_key": settlement.idempotency_key,
        "month": f"{settlement.month:%Y-%m}",
        "rows": [
            {
                column: str(value) if isinstance(value, Decimal) else value
                for column, value in zip(COLUMNS, _values(settlement, row), strict=True)
            }
            for row in rows
        ],
    }


def settlement_json(settlement: Settlement) -> str:
    return json.dumps(settlement.document, ensure_ascii=False, sort_keys=True)


# --- Delivery -----------------------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta:
    """Backoff after the `attempts`-th failed push: doubling from the base, capped."""
    seconds = settings.OPERATOR_BILLING_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.OPERATOR_BILLING_RETRY_MAX_SECONDS))


def push_settlement(settlement: Settlement, *, system: BillingSystem, now: datetime) -> bool:
    """Push one settlement unless it is acknowledged already; True once acknowledged. The
    row stays locked while it is pushed, so two workers never send it at once; the first
    acknowledgement is kept (a receiver answers a repeated key with the same ack id)."""
    with transaction.atomic():
        settlement = (
            Settlement.objects.select_for_update(skip_locked=True).filter(pk=settlement.pk).first()
        )
        if settlement is None or settlement.status == Settlement.Status.ACKNOWLEDGED:
            return settlement is not None
        settlement.attempts += 1
        try:
            ack_id = system.push(
                settlement, csv_text=settlement.csv_text, document=settlement.document
            )
        except DeliveryError as error:
            settlement.last_error = str(error)[:500]
            settlement.next_attempt_at = now + retry_delay(settlement.attempts)
            settlement.save(update_fields=["attempts", "last_error", "next_attempt_at"])
            return False
        settlement.status, settlement.ack_id = Settlement.Status.ACKNOWLEDGED, ack_id
        settlement.acknowledged_at, settlement.last_error = now, ""
        settlement.save()
        record_actor_event(
            actor=Actor.system(),
            action="billing.settlement_acknowledged",
            target=settlement,
            changes={"after": {"month": f"{settlement.month:%Y-%m}", "ack_id": ack_id,
                               "attempts": settlement.attempts}},
        )  # fmt: skip
    return True


def push_due_settlements(*, system: BillingSystem, now: datetime) -> int:
    """Push every unacknowledged settlement whose next attempt is due; how many were acked."""
    due = Settlement.objects.filter(
        status=Settlement.Status.PENDING, next_attempt_at__lte=now
    ).order_by("month")
    return sum(push_settlement(settlement, system=system, now=now) for settlement in due)


def settle(*, now: datetime, system: BillingSystem | None) -> Settlement | None:
    """The periodic run: once last month's grace period (INVOICE_GRACE_DAYS, as the close)
    is over, build its settlement if any organization is on the consolidated bill and check
    it (differences are logged as errors); then push what is due (nothing when the
    integration is off)."""
    last_month = add_months(month_of(now), -1)
    grace_over = now >= month_start(month_of(now)) + timedelta(days=settings.INVOICE_GRACE_DAYS)
    settlement = None
    if grace_over and ConsolidatedBilling.objects.active().exists():
        built = not Settlement.objects.filter(month=last_month).exists()
        settlement = build_settlement(month=last_month)
        if built:  # once, not on every run of the beat
            check_after_settlement(month=last_month)
    if system is not None:
        push_due_settlements(system=system, now=now)
    return settlement
