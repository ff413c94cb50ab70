"""Buying a token pack: a purchase invoice with VAT, issued at once (its number is gapless
like every invoice's), then paid from the prepaid balance now, or later by bank transfer or
online payment. Whatever pays it, invoicing.mark_paid sends invoice_paid once, and `deliver`
charges the invoice to the ledger and grants the pack, with the invoice number as the
entitlement's reference.

An open purchase may be cancelled by the customer (its invoice voided); a paid one credited
by staff (a credit note for the unused share, the tokens left revoked).

An organization on the operator's consolidated bill is neither invoiced nor paid: the
purchase is an OperatorCharge that the month's settlement bills, and the pack is granted at
once (reference: the charge's id)."""

from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit_trail import Actor, record_actor_event
from accounts.models import Organization
from billing.invoicing import ledger
from billing.invoicing import services as invoicing
from billing.invoicing.consolidated_models import OperatorCharge, is_consolidated
from billing.invoicing.models import Invoice, InvoiceLine, LedgerBalance, LedgerEntry
from billing.packages import alerts
from billing.packages import services as packages
from billing.packages.models import Offer, OfferTerms
from billing.packages.selectors import terms_in_force
from billing.sales.models import Purchase
from portal.money import format_money, round_money
from portal.periods import business_zone

# A purchase counts against the limit while its invoice is open or paid (not once voided),
# and always when it was charged on the operator's bill.
COUNTED = Q(invoice__status__in=(Invoice.Status.ISSUED, Invoice.Status.PAID)) | Q(
    operator_charge__isnull=False
)


def offered(organization, kind: str):
    """Published offers of `kind` (pack, plan) this organization may buy: public ones and
    those offered to it by name."""
    return (
        Offer.objects.filter(kind=kind, is_published=True)
        .filter(Q(visibility=Offer.Visibility.PUBLIC) | Q(offered_to=organization))
        .distinct()
        .order_by("name_en")
    )


def offered_packs(organization):
    return offered(organization, Offer.Kind.PACK)


def purchases_left(organization, offer: Offer, terms: OfferTerms) -> int | None:
    """How many more the organization may buy under `terms` (None: no limit)."""
    if terms.purchase_limit is None:
        return None
    bought = Purchase.objects.filter(COUNTED, organization=organization, offer=offer).count()
    return max(terms.purchase_limit - bought, 0)


def buy_pack(*, actor: Actor, organization, offer: Offer, from_balance: bool) -> Purchase:
    """Invoice the pack under its terms in force; `from_balance`: pay it now from the balance
    (refused, with nothing made, when the balance is short). Otherwise the invoice stays open
    for a bank transfer or an online payment. On the operator's consolidated bill: charged
    there and granted at once (`from_balance` is refused: nothing is paid to us)."""
    with transaction.atomic():
        # Purchases of one organization take turns, so the limit holds under concurrency.
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        if not offered_packs(organization).filter(pk=offer.pk).exists():
            raise ValidationError({"offer": _("This pack is not offered to your organization.")})
        terms = terms_in_force(offer)
        if terms is None:
            raise ValidationError({"offer": _("This pack has no price yet.")})
        if terms.currency != organization.currency:
            raise ValidationError(
                {"offer": _("This pack is sold in %(currency)s.") % {"currency": terms.currency}}
            )
        if purchases_left(organization, offer, terms) == 0:
            raise ValidationError(
                {"offer": _("Your organization has bought this pack as often as it may.")}
            )
        description = _("Token pack %(name)s: %(tokens)s tokens") % {
            "name": offer.name,
            "tokens": f"{terms.token_amount:,}",
        }
        bill = bill_purchase(
            actor=actor,
            organization=organization,
            amount=terms.price_amount,
            vat_rate=terms.vat_rate,
            currency=terms.currency,
            description=description,
            category=OperatorCharge.Category.PACK,
            from_balance=from_balance,
        )
        purchase = Purchase.objects.create(
            organization=organization,
            offer=offer,
            terms=terms,
            created_by=actor.user,
            **bill_fields(bill),
        )
        record_actor_event(
            actor=actor,
            organization=organization,
            action="packages.purchased",
            target=purchase,
            changes={"after": {"offer": offer.public_id, "bill": bill_reference(bill),
                               "total": str(bill.total_amount)}},
        )  # fmt: skip
        if isinstance(bill, OperatorCharge):
            _grant(purchase, reference=bill.public_id)
        elif from_balance:
            pay_from_balance(purchase=purchase)
    purchase.refresh_from_db()
    return purchase


def bill_purchase(
    *, actor: Actor, organization, amount: Decimal, vat_rate: Decimal, currency: str,
    description: str, category: str, from_balance: bool,
) -> Invoice | OperatorCharge:  # fmt: skip
    """A pack or plan fee of `amount` before VAT: a purchase invoice issued at once, or, for
    an organization on the operator's consolidated bill, a charge on that bill (owed to the
    operator, never paid here: `from_balance` is refused)."""
    if not is_consolidated(organization):
        return issue_purchase_invoice(
            actor=actor,
            organization=organization,
            amount=amount,
            vat_rate=vat_rate,
            currency=currency,
            description=description,
        )
    if from_balance:
        raise ValidationError(
            {"payment": _("Your organization is billed on the operator's consolidated bill: "
                          "this is charged there, not paid from the balance.")}
        )  # fmt: skip
    gross = round_money(amount * (1 + vat_rate), currency)
    return OperatorCharge.objects.create(
        organization=organization,
        category=category,
        description=description[: invoicing.DESCRIPTION_LENGTH],
        currency=currency,
        subtotal_amount=amount,
        tax_rate=vat_rate,
        tax_amount=gross - amount,
        total_amount=gross,
        created_by=actor.user,
    )


def bill_fields(bill: Invoice | OperatorCharge) -> dict:
    """The Purchase or PlanFee field that holds `bill`."""
    return {"operator_charge": bill} if isinstance(bill, OperatorCharge) else {"invoice": bill}


def bill_reference(bill: Invoice | OperatorCharge) -> str:
    """What names the bill: the invoice number, or the charge's id."""
    return bill.public_id if isinstance(bill, OperatorCharge) else bill.number


def issue_purchase_invoice(
    *, actor: Actor, organization, amount: Decimal, vat_rate: Decimal, currency: str,
    description: str,
) -> Invoice:  # fmt: skip
    """A purchase invoice of one line (`amount` before VAT), issued at once."""
    today = timezone.localdate(timezone=business_zone())
    gross = round_money(amount * (1 + vat_rate), currency)
    invoice = Invoice.objects.create(
        organization=organization,
        kind=Invoice.Kind.PURCHASE,
        period_start=today,
        period_end=today + timedelta(days=1),
        currency=currency,
        subtotal_amount=amount,
        tax_rate=vat_rate,
        tax_amount=gross - amount,
        total_amount=gross,
    )
    InvoiceLine.objects.create(
        invoice=invoice,
        position=1,
        service_month=today,
        description=description[: invoicing.DESCRIPTION_LENGTH],
        amount=amount,
    )
    return invoicing.issue_invoice(actor=actor, invoice=invoice)


def pay_from_balance(*, purchase: Purchase) -> None:
    pay_invoice_from_balance(invoice=purchase.invoice)


def pay_invoice_from_balance(*, invoice: Invoice) -> None:
    """Pay an open purchase invoice from the prepaid balance, or refuse when it is short."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != Invoice.Status.ISSUED:
            raise ValidationError({"payment": _("This purchase is not open for payment.")})
        # The running balance row: concurrent charges wait until this one is decided.
        LedgerBalance.objects.select_for_update().filter(
            organization_id=invoice.organization_id
        ).first()
        available = ledger.balance(invoice.organization)
        if available < invoice.total_amount:
            raise ValidationError(
                {"payment": _("Your balance (%(balance)s) is less than the price (%(price)s): "
                              "top up first, or pay by bank transfer or online.")
                 % {"balance": format_money(available, invoice.currency),
                    "price": format_money(invoice.total_amount, invoice.currency)}}
            )  # fmt: skip
        invoicing.mark_paid(invoice=invoice)  # invoice_paid: deliver() charges the balance


def deliver(sender, invoice: Invoice, **kwargs) -> None:
    """invoice_paid receiver: a paid purchase invoice is charged to the ledger and its pack
    granted, once (the purchase row is locked; the grant is unique per reference)."""
    purchase = (
        Purchase.objects.select_for_update()
        .select_related("terms__offer", "organization")
        .filter(invoice=invoice)
        .first()
    )
    if purchase is None or purchase.entitlement_id:
        return
    charge_paid_purchase(invoice, note=_("Token pack %(name)s") % {"name": purchase.offer.name})
    _grant(purchase, reference=invoice.number)


def _grant(purchase: Purchase, *, reference: str) -> None:
    purchase.entitlement = packages.grant_pack(
        organization=purchase.organization, terms=purchase.terms, reference=reference
    )
    purchase.save(update_fields=["entitlement"])


def charge_paid_purchase(invoice: Invoice, *, note: str) -> None:
    """A paid purchase invoice is owed now: its total is charged to the ledger."""
    LedgerEntry.objects.create(
        organization=invoice.organization,
        kind=LedgerEntry.Kind.INVOICE,
        amount=-invoice.total_amount,
        currency=invoice.currency,
        reference=invoice.number,
        invoice=invoice,
        note=note,
    )
    ledger.invalidate_headroom(invoice.organization_id)


def cancel_purchase(*, actor: Actor, purchase: Purchase) -> Purchase:
    """The customer cancels an open purchase: its invoice is voided (so it no longer counts
    against the purchase limit, and a payment arriving later delivers nothing: mark_paid
    claims issued invoices only). Refused once paid (then delivered), and on the operator's
    bill (charged and delivered at once)."""
    if purchase.invoice_id is None:
        raise ValidationError(
            _("This purchase is charged on the operator's bill: it cannot be cancelled.")
        )
    with transaction.atomic():
        # The invoice row first, as a payment takes it (then the purchase, to deliver): while
        # it is locked and open, nothing can pay or deliver it.
        invoice = Invoice.objects.select_for_update().get(pk=purchase.invoice_id)
        if invoice.status != Invoice.Status.ISSUED:
            raise ValidationError(
                _("Only an unpaid purchase can be cancelled (this one: %(status)s).")
                % {"status": invoice.get_status_display()}
            )
        purchase.invoice = invoicing.void_invoice(
            actor=actor, invoice=invoice, reason=_("Cancelled by the customer")
        )
        record_actor_event(
            actor=actor,
            organization=purchase.organization,
            action="packages.purchase_cancelled",
            target=purchase,
            changes={"after": {"invoice": invoice.number}},
        )
    return purchase


def credit_purchase(*, actor: Actor, purchase: Purchase, reason: str) -> Invoice:
    """Staff refund a paid pack: a credit note of its purchase invoice for the share of the
    price the tokens left stand for (packages.refund_of: before VAT, rounded down to the fen;
    VAT at the invoice's rate), those tokens revoked at once, the ledger credited the note's
    total (issue_invoice), the holders told. Once per purchase; refused when nothing is left."""
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason for the credit.")})
    with transaction.atomic():
        purchase = (
            Purchase.objects.select_for_update(of=("self",))
            .select_related("invoice", "entitlement__offer", "organization")
            .get(pk=purchase.pk)
        )
        invoice = purchase.invoice
        if invoice is None or invoice.status != Invoice.Status.PAID or not purchase.entitlement:
            raise ValidationError(_("Only a paid pack purchase can be credited."))
        earlier = invoice.credit_notes.first()
        if earlier is not None:
            raise ValidationError(
                _("This purchase is already credited (%(number)s).") % {"number": earlier.number}
            )
        left, refund = packages.revoke(entitlement=purchase.entitlement)
        note = invoicing.credit_invoice(
            actor=actor,
            invoice=invoice,
            net_amount=refund,
            reason=_("%(reason)s (%(tokens)s unused tokens revoked)")
            % {"reason": reason, "tokens": f"{left:,.0f}"},
        )
        record_actor_event(
            actor=actor,
            organization=purchase.organization,
            action="packages.purchase_credited",
            target=purchase,
            changes={"after": {"credit_note": note.number, "revoked": str(left),
                               "net": str(refund), "total": str(-note.total_amount),
                               "reason": reason}},
        )  # fmt: skip
        purchase.entitlement.refresh_from_db()
        alerts.announce_credited(
            purchase.entitlement,
            left=left,
            number=note.number,
            total=format_money(-note.total_amount, note.currency),
        )
    return note
