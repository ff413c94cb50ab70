"""Plan fees on the purchase-invoice path: subscribing invoices the first fee period (pro
rata), each renewal the next, an upgrade now the fee difference for the time left; all with
VAT when invoiced, paid from the prepaid balance at once (refused when short, at subscribing)
or later by bank transfer or online payment. When the invoice is paid, `deliver_fee` charges
it to the ledger and grants the period's allowance or applies the upgrade
(billing.packages.plans). An organization on the operator's consolidated bill is charged on
that bill instead (billing.sales.services.bill_purchase) and served at once.
docs/packages.md, "Plans"."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.audit_trail import Actor
from accounts.models import Organization
from billing.invoicing import ledger
from billing.invoicing import services as invoicing
from billing.invoicing.consolidated_models import OperatorCharge
from billing.invoicing.models import Invoice
from billing.packages import plans
from billing.packages.models import Offer, OfferTerms, Subscription
from billing.sales import services as sales
from billing.sales.models import PlanFee
from portal.periods import business_zone


def offered_plans(organization):
    return sales.offered(organization, Offer.Kind.PLAN)


@dataclass(frozen=True)
class PlanOfferRow:
    """A plan offered to the organization under its terms in force."""

    offer: Offer
    terms: OfferTerms
    allowance: Decimal
    unit: str


def plan_offers(organization, at: datetime | None = None) -> list[PlanOfferRow]:
    at = at or timezone.now()
    rows = []
    for offer in offered_plans(organization).prefetch_related("terms"):
        terms = next((t for t in offer.terms.all() if t.effective_from <= at), None)
        if terms is not None and terms.period:
            rows.append(PlanOfferRow(offer, terms, *plans.allowance_of(terms)))
    return rows


@dataclass(frozen=True)
class PlanStatus:
    """The organization's plan as its page and the API show it."""

    subscription: Subscription
    allowance_left: Decimal
    allowance_granted: Decimal
    unit: str
    renews_at: datetime | None  # None: it ends at the period's end
    open_fees: list


def plan_status(organization, at: datetime | None = None) -> PlanStatus | None:
    at = at or timezone.now()
    subscription = (
        Subscription.objects.for_org(organization)
        .filter(status=Subscription.Status.ACTIVE)
        .select_related("offer", "terms", "next_terms__offer")
        .first()
    )
    if subscription is None:
        return None
    left, granted = plans.allowance_in_force(subscription, at)
    open_fees = list(
        PlanFee.objects.filter(subscription=subscription, invoice__status=Invoice.Status.ISSUED)
        .select_related("invoice")
        .order_by("period_start")
    )
    return PlanStatus(
        subscription=subscription,
        allowance_left=left,
        allowance_granted=granted,
        unit=plans.allowance_of(subscription.terms)[1],
        renews_at=subscription.current_period_end if subscription.auto_renew else None,
        open_fees=open_fees,
    )


def _offered_terms(organization, offer: Offer, at: datetime) -> OfferTerms:
    if not offered_plans(organization).filter(pk=offer.pk).exists():
        raise ValidationError({"offer": _("This plan is not offered to your organization.")})
    terms = plans.plan_terms(offer, at)
    if terms.currency != organization.currency:
        raise ValidationError(
            {"offer": _("This plan is sold in %(currency)s.") % {"currency": terms.currency}}
        )
    return terms


def _day(moment: datetime) -> str:
    return f"{moment.astimezone(business_zone()):%Y-%m-%d}"


def _invoice_fee(
    *, actor: Actor, subscription: Subscription, terms: OfferTerms, kind: str, start, end,
    amount, extra=0, from_balance: bool = False,
) -> PlanFee | None:  # fmt: skip
    """Bill the fee (a purchase invoice, or a charge on the operator's bill, which serves it
    at once) and record its PlanFee; a free period is served at once."""
    if amount <= 0 and kind == PlanFee.Kind.PERIOD:
        plans.fee_paid(subscription, until=end, now=max(start, timezone.now()))
        return None
    values = {"name": terms.offer.name, "from": _day(start), "until": _day(end - timedelta(days=1))}
    description = (
        _("Plan %(name)s, upgrade for %(from)s to %(until)s")
        if kind == PlanFee.Kind.UPGRADE
        else _("Plan %(name)s, %(from)s to %(until)s")
    ) % values
    bill = sales.bill_purchase(
        actor=actor,
        organization=subscription.organization,
        amount=amount,
        vat_rate=terms.vat_rate,
        currency=terms.currency,
        description=description,
        category=OperatorCharge.Category.PLAN_FEE,
        from_balance=from_balance,
    )
    fee = PlanFee.objects.create(
        subscription=subscription,
        organization=subscription.organization,
        kind=kind,
        terms=terms,
        period_start=start,
        period_end=end,
        extra_allowance=extra,
        **sales.bill_fields(bill),
    )
    if fee.operator_charge_id:
        _serve(fee)
    elif from_balance:
        sales.pay_invoice_from_balance(invoice=fee.invoice)
    return fee


def subscribe(*, actor: Actor, organization, offer: Offer, from_balance: bool) -> Subscription:
    """Start the plan now and invoice its first fee period (pro rata to the month's time
    left). `from_balance`: pay it now (refused, with nothing made, when the balance is
    short); otherwise its invoice waits for a transfer or online payment, and the allowance
    for its payment."""
    now = timezone.now()
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        _offered_terms(organization, offer, now)
        subscription = plans.open_subscription(
            actor=actor, organization=organization, offer=offer, at=now
        )
        _period_fee(actor, subscription, from_balance=from_balance)
    subscription.refresh_from_db()
    return subscription


def _period_fee(
    actor: Actor, subscription: Subscription, *, from_balance: bool = False
) -> PlanFee | None:
    terms = subscription.terms
    start, end = subscription.current_period_start, subscription.current_period_end
    return _invoice_fee(
        actor=actor,
        subscription=subscription,
        terms=terms,
        kind=PlanFee.Kind.PERIOD,
        start=start,
        end=end,
        amount=plans.fee_amount(terms, start, end),
        from_balance=from_balance,
    )


def invoice_renewal(subscription: Subscription, now: datetime) -> None:
    """plans.roll's fee invoicer: the renewed period's fee, once per period; a prepaid
    organization whose balance covers it pays at once (its allowance follows)."""
    if PlanFee.objects.filter(
        subscription=subscription,
        kind=PlanFee.Kind.PERIOD,
        period_start=subscription.current_period_start,
    ).exists():
        return
    fee = _period_fee(Actor.system(), subscription)
    organization = subscription.organization
    if (
        fee is not None
        and fee.invoice is not None
        and organization.payment_mode == Organization.PaymentMode.PREPAID
        and ledger.balance(organization) >= fee.invoice.total_amount
    ):
        sales.pay_invoice_from_balance(invoice=fee.invoice)


def void_stale_upgrades(subscription: Subscription, now: datetime) -> None:
    """plans.roll's period-end handler: an upgrade's fee invoice still open when its fee
    period ended is voided. Paid later, it would move the renewed period (invoiced at the old
    fee) to the dearer terms, or bill an ended plan for nothing. Voided, the upgrade drops
    (fee_voided) and a late payment stays on the balance."""
    stale = PlanFee.objects.filter(
        subscription=subscription,
        kind=PlanFee.Kind.UPGRADE,
        invoice__status=Invoice.Status.ISSUED,
        period_end__lte=now,
    ).select_related("invoice")
    for fee in stale:
        invoicing.void_invoice(
            actor=Actor.system(),
            invoice=fee.invoice,
            reason=_("Unpaid when the fee period it was for ended"),
        )


def upgrade_now(
    *, actor: Actor, subscription: Subscription, offer: Offer, from_balance: bool
) -> PlanFee:
    """Move to a dearer plan now: invoice the fee difference for the rest of the fee period;
    once paid the new terms apply and this month's extra allowance is granted (the figures
    are plans.upgrade_figures at the moment of asking)."""
    now = timezone.now()
    with transaction.atomic():
        subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if subscription.status != Subscription.Status.ACTIVE:
            raise ValidationError({"offer": _("This plan has ended.")})
        terms = _offered_terms(subscription.organization, offer, now)
        amount, extra = plans.upgrade_figures(subscription, terms, now)
        fee = _invoice_fee(
            actor=actor,
            subscription=subscription,
            terms=terms,
            kind=PlanFee.Kind.UPGRADE,
            start=now,
            end=subscription.current_period_end,
            amount=amount,
            extra=extra,
            from_balance=from_balance,
        )
    fee.refresh_from_db()
    return fee


def deliver_fee(sender, invoice: Invoice, **kwargs) -> None:
    """invoice_paid receiver: a paid plan fee is charged to the ledger, then its period's
    allowance is granted (this month's now, the next ones by the roll) or its upgrade
    applied. Once: invoice_paid is sent once per invoice."""
    fee = PlanFee.objects.select_related("subscription", "terms__offer").filter(invoice=invoice)
    fee = fee.first()
    if fee is None:
        return
    sales.charge_paid_purchase(invoice, note=_("Plan %(name)s") % {"name": fee.terms.offer.name})
    _serve(fee)


def _serve(fee: PlanFee) -> None:
    """The fee is paid (or charged on the operator's bill): grant the period's allowance or
    apply the upgrade."""
    if fee.kind == PlanFee.Kind.UPGRADE:
        plans.apply_upgrade(
            fee.subscription, terms=fee.terms, at=fee.period_start, extra=fee.extra_allowance
        )
    else:
        plans.fee_paid(fee.subscription, until=fee.period_end)


# --- Ending early: staff, or a fee invoice voided unpaid -------------------------------------


def end_now(*, actor: Actor, subscription: Subscription, reason: str) -> Subscription:
    """Staff: end the plan now. This month's allowance ends with it (what is left expires as
    breakage) and its open fee invoices are voided; fees already paid stay paid (a refund is
    a separate decision: a top-up or adjustment)."""
    with transaction.atomic():
        subscription = plans.end_subscription(
            actor=actor,
            subscription=subscription,
            at=timezone.now(),
            message=gettext_lazy("Your plan %(plan)s was ended by the platform on %(date)s."),
            data={"reason": reason},
        )
        _void_open_fees(actor, subscription, reason)
    return subscription


def _void_open_fees(actor: Actor, subscription: Subscription, reason: str) -> None:
    """Fee invoices still open for time after the plan's end will never be owed."""
    open_fees = PlanFee.objects.filter(
        subscription=subscription,
        invoice__status=Invoice.Status.ISSUED,
        period_end__gt=subscription.ended_at,
    ).select_related("invoice")
    for fee in open_fees:
        invoicing.void_invoice(actor=actor, invoice=fee.invoice, reason=reason)


def fee_voided(sender, invoice: Invoice, actor: Actor, **kwargs) -> None:
    """invoice_voided receiver: a period's fee voided unpaid ends the plan at that period's
    start (a first period: it ends with no allowance ever granted) and voids its later open
    fees; an upgrade's drops the upgrade. Refused (the void with it) when a later period is
    paid for: staff end that plan in the console instead."""
    fee = PlanFee.objects.select_related("terms__offer").filter(invoice=invoice).first()
    if fee is None:
        return
    subscription = Subscription.objects.select_for_update().get(pk=fee.subscription_id)
    if subscription.status != Subscription.Status.ACTIVE:
        return  # ended already (ending voids its open fees)
    data = {"invoice": invoice.number}
    if fee.kind == PlanFee.Kind.UPGRADE:
        plans.drop_upgrade(actor=actor, subscription=subscription, terms=fee.terms, data=data)
        return
    if subscription.paid_until and subscription.paid_until > fee.period_start:
        raise ValidationError(
            _(
                "A later fee period of this plan is paid: end the plan from its subscription "
                "page instead of voiding this invoice."
            )
        )
    subscription = plans.end_subscription(
        actor=actor,
        subscription=subscription,
        at=fee.period_start,
        message=gettext_lazy(
            "Your plan %(plan)s ended on %(date)s: its fee invoice %(invoice)s was voided unpaid."
        ),
        data=data,
    )
    _void_open_fees(actor, subscription, invoice.void_reason)
