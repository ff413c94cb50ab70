"""Consolidated billing (统一账单): an organization billed on the operator's own bill.

Such an organization gets no monthly invoice from the close (billing.invoicing.services):
its month is read by the operator's settlement file instead (billing.managed.settlement),
and its customers read the statement of account. Staff set it (audited,
billing.managed.settlement.set_consolidated_billing).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


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
