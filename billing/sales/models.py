"""A purchase: an organization buying a token pack under the terms in force, invoiced with
VAT when bought and delivered (an Entitlement) once that invoice is paid."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Organization
from accounts.tenancy import TenantQuerySet
from billing.invoicing.models import Invoice
from billing.packages.models import Entitlement, Offer, OfferTerms
from portal.ids import PublicIdField


class Purchase(models.Model):
    public_id = PublicIdField(prefix="pur")
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="purchases"
    )
    offer = models.ForeignKey(Offer, on_delete=models.PROTECT, related_name="purchases")
    terms = models.ForeignKey(OfferTerms, on_delete=models.PROTECT, related_name="purchases")
    invoice = models.OneToOneField(
        Invoice, on_delete=models.PROTECT, related_name="purchase", verbose_name=_("invoice")
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

    def __str__(self):
        return f"{self.offer} ({self.invoice})"
