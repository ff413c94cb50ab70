"""Which models an organization, or one of its departments, may call."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.models.catalog import CatalogModel, Provider
from portal.ids import PublicIdField
from portal.tenancy import TenantQuerySet


class ModelPolicy(models.Model):
    """A restriction on the models callable in an organization or one department subtree.

    A department's effective policy is its own AND every ancestor's AND the organization's:
    a lower level can only narrow what the levels above allow.
    """

    class Mode(models.TextChoices):
        DENY = "deny", _("All models except those listed")
        ALLOW = "allow", _("Only the models listed")

    public_id = PublicIdField(prefix="mpol")
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="model_policies"
    )
    department = models.ForeignKey(
        "accounts.Department",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="model_policies",
        verbose_name=_("department"),
    )
    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices, default=Mode.DENY)
    catalog_models = models.ManyToManyField(
        CatalogModel, blank=True, related_name="+", verbose_name=_("models")
    )
    providers = models.ManyToManyField(
        Provider, blank=True, related_name="+", verbose_name=_("providers")
    )
    filed_only = models.BooleanField(
        _("filed models only"),
        default=False,
        help_text=_("Only models filed with the regulator (生成式人工智能服务备案)."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = TenantQuerySet.as_manager()
    department_field = "department"

    class Meta:
        verbose_name = _("model policy")
        verbose_name_plural = _("model policies")
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=models.Q(department__isnull=True),
                name="model_policy_one_per_organization",
            ),
            models.UniqueConstraint(
                fields=["organization", "department"],
                condition=models.Q(department__isnull=False),
                name="model_policy_one_per_department",
            ),
        ]

    def __str__(self):
        return f"{self.organization} / {self.department or _('whole organization')}"
