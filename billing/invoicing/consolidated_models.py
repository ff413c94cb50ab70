"""Consolidated billing (统一账单): an organization billed on the operator's own bill.

Such an organization gets no monthly invoice from the close (billing.invoicing.services)
and no purchase invoice for packs and plan fees (billing.sales bills them as an
OperatorCharge): the operator's monthly settlement file lists its usage and those charges
(billing.managed.settlement), and the operator invoices and collects them. Staff set it
(audited, billing.managed.settlement.set_consolidated_billing).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantQuerySet
from portal.ids import PublicIdField

IMMUTABLE = "Charges on the operator's bill are immutable."


class ConsolidatedBillingQuerySet(models.QuerySet):
    def active(self):
        return self.filter(enabled=True)


class ConsolidatedBilling(models.Model):
    organization = models.OneToOneField(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="consolidated_billing",
        verbose_name=_("organization"),
    )
    enabled = models.BooleanField(_("billed on the operator's consolidated bill"), default=True)
    operator_account_number = models.CharField(
        _("customer account number at the operator"), max_length=64
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ConsolidatedBillingQuerySet.as_manager()

    class Meta:
        verbose_name = _("consolidated billing")
        verbose_name_plural = _("consolidated billing")

    def __str__(self):
        return f"{self.organization} ({self.operator_account_number})"


def is_consolidated(organization) -> bool:
    return ConsolidatedBilling.objects.active().filter(organization=organization).exists()


class OperatorChargeQuerySet(TenantQuerySet):
    def update(self, **kwargs):
        raise TypeError(IMMUTABLE)

    def delete(self):
        raise TypeError(IMMUTABLE)


class OperatorCharge(models.Model):
    """A pack or plan fee of an organization on the consolidated bill: billed by the
    operator in the settlement of the month it was charged, never by our invoice (so never
    paid to us). Its VAT is what the purchase invoice would have carried."""

    class Category(models.TextChoices):
        PACK = "pack", _("Token pack")
        PLAN_FEE = "plan_fee", _("Plan fee")

    public_id = PublicIdField(prefix="chg")
    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.PROTECT,
        related_name="operator_charges",
        verbose_name=_("organization"),
    )
    category = models.CharField(_("category"), max_length=10, choices=Category.choices)
    description = models.CharField(_("description"), max_length=300)
    currency = models.CharField(_("currency"), max_length=3)
    subtotal_amount = models.DecimalField(_("before VAT"), max_digits=16, decimal_places=2)
    tax_rate = models.DecimalField(_("VAT rate"), max_digits=5, decimal_places=4)
    tax_amount = models.DecimalField(_("VAT"), max_digits=16, decimal_places=2)
    total_amount = models.DecimalField(_("total"), max_digits=16, decimal_places=2)
    charged_at = models.DateTimeField(_("charged at"), default=timezone.now, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )

    objects = OperatorChargeQuerySet.as_manager()

    class Meta:
        verbose_name = _("charge on the operator's bill")
        verbose_name_plural = _("charges on the operator's bill")
        ordering = ["-charged_at", "-id"]

    def __str__(self):
        return f"{self.public_id} {self.description}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError(IMMUTABLE)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError(IMMUTABLE)
