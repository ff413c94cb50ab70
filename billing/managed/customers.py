"""An account manager's customers (客户经理 "My customers") as the staff console shows them."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billing.invoicing import services as invoicing
from billing.invoicing.models import PAYABLE_KINDS, Invoice
from billing.managed.models import AccountManager, Proposal, Settlement
from billing.packages.models import Entitlement
from billing.quotas.models import QuotaAlert
from portal.periods import month_bounds, month_of


@dataclass
class Customer:
    organization: object
    currency: str
    month_to_date_amount: Decimal
    entitlements: list  # active, each with .remaining and .expires_at
    overdue_invoices: list  # issued and past due, each with .outstanding
    overdue_amount: Decimal
    quota_alerts: list  # this month's


def my_customers(user, *, now: datetime) -> list[Customer]:
    """The organizations `user` manages: this month's spend, packs and allowances held,
    overdue invoices with what they still owe, and the month's quota alerts."""
    start, _end = month_bounds(month_of(now))
    customers = []
    assignments = AccountManager.objects.filter(user=user).select_related("organization")
    for organization in (a.organization for a in assignments):
        summary = invoicing.billing_summary(organization, now=now)
        overdue = list(
            Invoice.objects.for_org(organization)
            .filter(kind__in=PAYABLE_KINDS, status=Invoice.Status.ISSUED, due_at__lt=now)
            .order_by("due_at")
        )
        invoicing.outstanding_amounts(overdue)
        customers.append(
            Customer(
                organization=organization,
                currency=organization.currency,
                month_to_date_amount=summary.month_to_date_amount,
                entitlements=list(
                    Entitlement.objects.filter(
                        organization=organization,
                        status=Entitlement.Status.ACTIVE,
                        expires_at__gt=now,
                    )
                    .select_related("offer")
                    .order_by("expires_at")
                ),
                overdue_invoices=overdue,
                overdue_amount=sum((i.outstanding for i in overdue), Decimal(0)),
                quota_alerts=list(
                    QuotaAlert.objects.filter(
                        quota_period__quota__organization=organization, created_at__gte=start
                    )
                    .select_related("quota_period__quota")
                    .order_by("-created_at")
                ),
            )
        )
    return customers


def operator_queue(user) -> dict:
    """The staff dashboard's operator figures: proposals waiting for `user` to decide (others'
    pending ones) and settlements the operator has not acknowledged."""
    return {
        "proposals_to_decide": Proposal.objects.filter(status=Proposal.Status.PENDING)
        .exclude(proposed_by=user)
        .count(),
        "settlements_waiting": Settlement.objects.filter(status=Settlement.Status.PENDING).count(),
        "customers": AccountManager.objects.filter(user=user).count(),
    }
