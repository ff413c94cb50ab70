"""A purchase: an organization buying a token pack under the terms in force, invoiced with
VAT when bought and delivered (an Entitlement) once that invoice is paid. An organization on
the operator's consolidated bill gets no invoice: the purchase is an OperatorCharge on that
bill instead, delivered at once. Plan fees are billed the same two ways."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from accounts.tenancy import TenantQuerySet
from billing.invoicing.consolidated_models import OperatorCharge
from billing.invoicing.models import Invoice
from billing.packages.models import Entitlement, Offer, OfferTerms, Subscription
from portal.ids import PublicIdField


def billed_once(name: str) -> models.CheckConstraint:
    """Billed by our invoice or on the operator's bill: exactly one of the two."""
    return models.CheckConstraint(
        condition=models.Q(invoice__isnull=False, operator_charge__isnull=True)
        | models.Q(invoice__isnull=True, operator_charge__isnull=False),
        name=f"{name}_billed_once",
        violation_error_message=_("Billed by an invoice or on the operator's bill."),
    )


class Purchase(models.Model):
    public_id = PublicIdField(prefix="pur")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="purchases"
    )
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="purchases")
    terms = models.ForeignKey(OfferTerms, on_delete=models.PROTECT, related_name="purchases")
    invoice = models.OneToOneField(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purchase",
        verbose_name=_("invoice"),
    )
    operator_charge = models.OneToOneField(
        OperatorCharge,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="purchase",
        verbose_name=_("charge on the operator's bill"),
    )
    # Set once, when the paid invoice delivered the pack.
    entitlement = models.OneToOneField(
        Entitlement, on_delete=models.PROTECT, null=True, blank=True, related_name="purchase"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(_("bought at"), default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        ordering = ["-created_at", "-id"]
        constraints = [billed_once("purchase")]

    def __str__(self):
        return f"{self.offer} ({self.bill})"

    @property
    def bill(self) -> Invoice | OperatorCharge:
        return self.invoice or self.operator_charge


class PlanFee(models.Model):
    """A plan's fee invoice: a fee period (the first, pro rata, or a renewal) or an upgrade's
    fee difference. Once its invoice is paid the period's allowances are granted, or the
    upgrade applied (billing.sales.plans)."""

    class Kind(models.TextChoices):
        PERIOD = "period", _("Fee period")
        UPGRADE = "upgrade", _("Upgrade")

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="fees")
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    terms = models.ForeignKey(OfferTerms, on_delete=models.PROTECT, related_name="+")
    invoice = models.OneToOneField(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="plan_fee",
        verbose_name=_("invoice"),
    )
    operator_charge = models.OneToOneField(
        OperatorCharge,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="plan_fee",
        verbose_name=_("charge on the operator's bill"),
    )
    period_start = models.DateTimeField(_("from"))
    period_end = models.DateTimeField(_("until"))
    # An upgrade: the allowance added for the rest of its month, once paid.
    extra_allowance = models.DecimalField(
        _("extra allowance"), max_digits=28, decimal_places=10, default=0
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("plan fee")
        verbose_name_plural = _("plan fees")
        ordering = ["-period_start", "-id"]
        constraints = [
            # A renewal, however often the roll runs, invoices its period once.
            models.UniqueConstraint(
                fields=["subscription", "period_start"],
                condition=models.Q(kind="period"),
                name="plan_fee_once_per_period",
                violation_error_message=_("This period's fee is already invoiced."),
            ),
            billed_once("plan_fee"),
        ]

    def __str__(self):
        return f"{self.subscription} ({self.bill})"

    @property
    def bill(self) -> Invoice | OperatorCharge:
        return self.invoice or self.operator_charge
