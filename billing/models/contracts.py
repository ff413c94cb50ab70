"""Contract pricing: discounts staff grant an organization (framework agreements)."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.models.catalog import CatalogModel, Provider
from portal.tenancy import TenantQuerySet


class ContractDiscount(models.Model):
    """A percentage off list prices, organization-wide, for one provider or for one model.

    The most specific discount valid on a day wins (model > provider > organization-wide);
    discounts never add up. See billing.pricing.effective_price().
    """

    organization = models.ForeignKey(
        "accounts.Organization",
        on_delete=models.CASCADE,
        related_name="contract_discounts",
        verbose_name=_("organization"),
    )
    provider = models.ForeignKey(
        Provider,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("provider"),
    )
    model = models.ForeignKey(
        CatalogModel,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("model"),
    )
    percent = models.DecimalField(
        _("discount, percent"),
        max_digits=5,
        decimal_places=2,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
    )
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(
        _("valid to"), null=True, blank=True, help_text=_("Last day, inclusive. Empty: open-ended.")
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()

    class Meta:
        verbose_name = _("contract discount")
        verbose_name_plural = _("contract discounts")
        ordering = ["organization", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(percent__gte=0) & models.Q(percent__lte=100),
                name="contract_discount_percent_range",
            ),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_to__gte=models.F("valid_from")),
                name="contract_discount_valid_range",
            ),
        ]

    def __str__(self):
        target = self.model or self.provider or _("all models")
        return f"{self.organization}: {self.percent}% ({target})"

    def clean(self):
        if self.model_id and self.provider_id and self.model.provider_id != self.provider_id:
            raise ValidationError({"model": _("The model belongs to another provider.")})

    @property
    def specificity(self) -> int:
        """2 for a model, 1 for a provider, 0 organization-wide: the higher wins."""
        return 2 if self.model_id else 1 if self.provider_id else 0
