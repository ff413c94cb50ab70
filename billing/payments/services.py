"""Online payments: start one, apply what the provider says (notification or status query),
refund. Money posts only through billing.invoicing (ledger.record_money_in, and
services.record_payment for invoices), once:

- every report about a payment is applied under its row lock, and a payment posts only from
  a state that has not posted (created, pending, closed): a repeated or late "paid" changes
  nothing, a "closed" after "paid" is kept as the provider's status only;
- the ledger's (organization, kind, reference) constraint backs that up: the reference is
  "<provider>:<out_trade_no>" for the payment and "<provider>:<out_refund_no>" for a refund;
- a "paid" for another amount or currency than the payment's, or a refund for another
  amount than asked, posts nothing and holds the payment for staff review.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit_trail import Actor, record_actor_event
from billing.invoicing import ledger
from billing.invoicing import services as invoicing
from billing.invoicing.models import PAYABLE_KINDS, Invoice, LedgerEntry
from billing.payments import gateway
from billing.payments.gateway import CLOSED, PAID, RefundReport, TradeReport
from billing.payments.models import Payment, PaymentRefund
from portal.money import format_money, round_money

logger = logging.getLogger(__name__)
ZERO = Decimal(0)
DESCRIPTION_LENGTH = 40  # within both providers' limits on the payer's screen
CHECK_AFTER = timedelta(minutes=5)  # a notification usually arrives within seconds
CHECK_BATCH = 200
EXPIRY_GRACE = timedelta(minutes=10)  # a payment made at the last second is notified by then


class PaymentError(ValidationError):
    """A refused payment or refund; its message says why, at the field it concerns."""


def _provider_for(organization, code: str):
    provider = gateway.provider(code)
    if provider is None:
        raise PaymentError({"provider": _("This payment method is not available.")})
    if organization.currency not in provider.currencies:
        raise PaymentError(
            {"provider": _("This payment method does not take %(currency)s.")
             % {"currency": organization.currency}}
        )  # fmt: skip
    return provider


def _amount_to_pay(organization, amount, invoice) -> Decimal:
    if invoice is not None:
        if (
            invoice.organization_id != organization.pk
            or invoice.kind not in PAYABLE_KINDS
            or invoice.status != Invoice.Status.ISSUED
        ):
            raise PaymentError({"invoice": _("Only an issued, unpaid invoice can be paid.")})
        owed = invoicing.outstanding_amount(invoice)
        if owed <= 0:
            raise PaymentError({"invoice": _("Nothing is left to pay on this invoice.")})
        return owed
    if amount is None or round_money(amount, organization.currency) != amount:
        raise PaymentError({"amount": _("Enter an amount with at most two decimals.")})
    if not settings.PAYMENT_MIN_AMOUNT <= amount <= settings.PAYMENT_MAX_AMOUNT:
        raise PaymentError(
            {"amount": _("Enter an amount from %(min)s to %(max)s.")
             % {"min": format_money(settings.PAYMENT_MIN_AMOUNT, organization.currency),
                "max": format_money(settings.PAYMENT_MAX_AMOUNT, organization.currency)}}
        )  # fmt: skip
    return amount


def start_payment(
    *, actor: Actor, organization, provider_code: str, amount: Decimal | None = None,
    invoice: Invoice | None = None,
) -> Payment:  # fmt: skip
    """A top-up of `amount`, or the payment of what is owed on `invoice`: the row first (so
    that any notification finds it), then the provider's payment code. A provider that
    refuses leaves the payment failed and raises PaymentError."""
    provider = _provider_for(organization, provider_code)
    amount = _amount_to_pay(organization, amount, invoice)
    with transaction.atomic():
        payment = Payment.objects.create(
            organization=organization,
            purpose=Payment.Purpose.INVOICE if invoice else Payment.Purpose.TOP_UP,
            invoice=invoice,
            amount=amount,
            currency=organization.currency,
            provider=provider.code,
            created_by=actor.user,
        )
        record_actor_event(
            actor=actor,
            organization=organization,
            action="billing.payment_started",
            target=payment,
            changes={"after": {"amount": str(amount), "provider": provider.code,
                               "invoice": invoice.number if invoice else ""}},
        )  # fmt: skip
    description = (
        _("Token Portal invoice %(number)s") % {"number": invoice.number}
        if invoice
        else _("Token Portal top-up")
    )
    try:
        checkout = provider.start(
            payment,
            description=description[:DESCRIPTION_LENGTH],
            notify_url=gateway.notify_url(provider.code),
            expires_at=gateway.expiry(payment),
        )
    except gateway.ProviderError as error:
        logger.warning("payment %s not started: %s", payment.out_trade_no, error)
        Payment.objects.filter(pk=payment.pk, status=Payment.Status.CREATED).update(
            status=Payment.Status.FAILED, provider_status="START_FAILED"
        )
        raise PaymentError(
            {"provider": _("The payment provider did not answer; please try again.")}
        ) from error
    # Conditional: a notification may have settled it meanwhile.
    Payment.objects.filter(pk=payment.pk, status=Payment.Status.CREATED).update(
        status=Payment.Status.PENDING
    )
    Payment.objects.filter(pk=payment.pk).update(code_url=checkout.code_url)
    payment.refresh_from_db()
    return payment


def apply_report(*, provider_code: str, report: TradeReport) -> Payment | None:
    """Apply a verified notification or a status answer (see the module doc). None when no
    payment of this provider has the report's out_trade_no (logged, nothing posted)."""
    with transaction.atomic():
        payment = (
            Payment.objects.select_for_update(of=("self",))
            .select_related("organization", "invoice")
            .filter(provider=provider_code, out_trade_no=report.out_trade_no)
            .first()
        )
        if payment is None:
            logger.warning("%s report for unknown trade %r", provider_code, report.out_trade_no)
            return None
        if report.refund is not None:
            _apply_refund(payment, report.refund)
            return payment
        payment.provider_status = report.provider_status or payment.provider_status
        payment.provider_trade_no = report.provider_trade_no or payment.provider_trade_no
        if report.state == PAID:
            _apply_paid(payment, report)
        elif report.state == CLOSED and payment.is_open:
            payment.status = Payment.Status.CLOSED
        payment.save(update_fields=REPORTED_FIELDS)
    return payment


# What a report changes (not the code_url, which start_payment may be writing meanwhile).
REPORTED_FIELDS = ["provider_status", "provider_trade_no", "status", "paid_at", "review_reason",
                   "updated_at"]  # fmt: skip
POSTED = {Payment.Status.SUCCEEDED, Payment.Status.REFUNDED, Payment.Status.REVIEW}


def _apply_paid(payment: Payment, report: TradeReport) -> None:
    if payment.status in POSTED:
        return  # a repeat, or a late "paid" after a refund: posted already (or held)
    if report.amount != payment.amount or report.currency != payment.currency:
        _hold(payment, _("The provider reported %(amount)s paid.") % {"amount": _shown(report)})
        return
    actor = Actor.system()
    try:
        with transaction.atomic():
            if payment.purpose == Payment.Purpose.TOP_UP:
                ledger.record_money_in(
                    actor=actor,
                    organization=payment.organization,
                    kind=LedgerEntry.Kind.TOP_UP,
                    amount=payment.amount,
                    reference=payment.ledger_reference,
                    note=_("Online top-up"),
                )
            else:
                invoicing.record_payment(  # marks the invoice paid once it is covered
                    actor=actor,
                    organization=payment.organization,
                    amount=payment.amount,
                    provider=payment.provider,
                    reference=payment.out_trade_no,
                    invoice=payment.invoice,
                )
    except IntegrityError:  # the ledger has it already: nothing more to post
        logger.warning("payment %s was in the ledger already", payment.out_trade_no)
    payment.status, payment.paid_at = Payment.Status.SUCCEEDED, timezone.now()


def _shown(report: TradeReport) -> str:
    if report.amount is None:
        return _("no amount")
    return format_money(report.amount, report.currency)


def _hold(payment: Payment, reason: str) -> None:
    logger.warning("payment %s held for review: %s", payment.out_trade_no, reason)
    payment.status, payment.review_reason = Payment.Status.REVIEW, reason[:300]
    record_actor_event(
        actor=Actor.system(),
        organization=payment.organization,
        action="billing.payment_held",
        target=payment,
        changes={"after": {"reason": reason}},
    )


def _apply_refund(payment: Payment, report: RefundReport) -> None:
    refund = (
        PaymentRefund.objects.select_for_update()
        .filter(payment=payment, out_refund_no=report.out_refund_no)
        .first()
    )
    if refund is None:
        logger.warning("refund %r of %s is not ours", report.out_refund_no, payment.out_trade_no)
        return
    if refund.status != PaymentRefund.Status.PENDING or not report.finished:
        return  # told already, or still processing
    refund.provider_refund_id = report.provider_refund_id or refund.provider_refund_id
    if not report.succeeded:
        refund.status = PaymentRefund.Status.FAILED
    elif report.amount is not None and report.amount != refund.amount:
        _hold(
            payment,
            _("The provider reported a refund of %(amount)s.")
            % {"amount": format_money(report.amount, payment.currency)},
        )
        payment.save(update_fields=REPORTED_FIELDS)
    else:
        ledger.record_money_in(
            actor=Actor.system(),
            organization=payment.organization,
            kind=LedgerEntry.Kind.REFUND,
            amount=-refund.amount,
            reference=refund.ledger_reference,
            invoice=payment.invoice,
            note=_("Refund of online payment %(number)s") % {"number": payment.out_trade_no},
        )
        refund.status, refund.refunded_at = PaymentRefund.Status.SUCCEEDED, timezone.now()
        payment.refunded_amount += refund.amount
        if payment.refunded_amount >= payment.amount:
            payment.status = Payment.Status.REFUNDED
        payment.save(update_fields=["refunded_amount", "status", "updated_at"])
    refund.save()


def refresh_payment(*, payment: Payment) -> Payment:
    """Ask the provider (staff's "query status", or a page when a notification is late)."""
    provider = gateway.provider(payment.provider)
    if provider is None:
        raise PaymentError(_("The provider %(provider)s is not configured.")
                           % {"provider": payment.provider})  # fmt: skip
    try:
        report = provider.query(payment)
    except gateway.ProviderError as error:
        raise PaymentError(
            _("The provider did not answer: %(error)s") % {"error": error}
        ) from error
    return apply_report(provider_code=payment.provider, report=report) or payment


def refresh_open_payments(*, now: datetime) -> int:
    """Beat: ask the provider about every payment still open CHECK_AFTER after it began (its
    notification may be lost), oldest first, at most CHECK_BATCH a run; close those the
    provider has not seen paid EXPIRY_GRACE after their expiry (it no longer takes them).
    Returns how many were asked about."""
    due = Payment.objects.filter(
        status=Payment.Status.PENDING,
        provider__in=list(gateway.configured()),
        created_at__lte=now - CHECK_AFTER,
    ).order_by("created_at")[:CHECK_BATCH]
    for payment in due:
        try:
            payment = refresh_payment(payment=payment)
        except PaymentError as error:
            logger.warning("payment %s: %s", payment.out_trade_no, " ".join(error.messages))
            continue
        if payment.is_open and gateway.expiry(payment) + EXPIRY_GRACE <= now:
            Payment.objects.filter(pk=payment.pk, status=Payment.Status.PENDING).update(
                status=Payment.Status.CLOSED
            )
    return len(due)


def refund_payment(
    *, actor: Actor, payment: Payment, amount: Decimal, reason: str
) -> PaymentRefund:
    """Staff: give back `amount` of a paid payment through its provider. The negative ledger
    entry is posted when the provider says the refund succeeded (at once, or by notification)."""
    provider = gateway.provider(payment.provider)
    if provider is None:
        raise PaymentError(_("The provider %(provider)s is not configured.")
                           % {"provider": payment.provider})  # fmt: skip
    if not reason.strip():
        raise PaymentError({"reason": _("Give a reason for the refund.")})
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.status != Payment.Status.SUCCEEDED:
            raise PaymentError(_("Only a paid payment can be refunded."))
        pending = PaymentRefund.objects.filter(payment=payment, status=PaymentRefund.Status.PENDING)
        left = payment.refundable_amount - sum(pending.values_list("amount", flat=True), ZERO)
        if (
            amount is None
            or not ZERO < amount <= left
            or round_money(amount, payment.currency) != amount
        ):
            raise PaymentError(
                {
                    "amount": _("Enter an amount above zero and at most %(left)s.")
                    % {"left": format_money(left, payment.currency)}
                }
            )
        refund = PaymentRefund.objects.create(
            payment=payment, amount=amount, reason=reason.strip()[:80], created_by=actor.user
        )
        record_actor_event(
            actor=actor,
            organization=payment.organization,
            action="billing.refund_requested",
            target=payment,
            changes={"after": {"amount": str(amount), "refund": refund.out_refund_no}},
        )
    try:
        report = provider.refund(refund, notify_url=gateway.notify_url(provider.code))
    except gateway.ProviderError as error:
        PaymentRefund.objects.filter(pk=refund.pk, status=PaymentRefund.Status.PENDING).update(
            status=PaymentRefund.Status.FAILED
        )
        raise PaymentError(
            _("The provider refused the refund: %(error)s") % {"error": error}
        ) from error
    apply_report(
        provider_code=payment.provider, report=TradeReport(payment.out_trade_no, refund=report)
    )
    refund.refresh_from_db()
    return refund
