"""The shelf: providers, their models, the ids that reach them, and effective-dated prices."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantQuerySet
from portal.constraints import FieldConstraintErrors
from portal.ids import PublicIdField


class Provider(models.Model):
    class Region(models.TextChoices):
        CHINA = "cn", _("China")
        INTERNATIONAL = "intl", _("International")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")

    slug = models.SlugField(
        _("slug"),
        max_length=60,
        unique=True,
        error_messages={"unique": _("Another provider already uses this slug.")},
    )
    name = models.CharField(_("name"), max_length=120)
    region = models.CharField(_("region"), max_length=10, choices=Region.choices)
    website = models.URLField(_("website"), blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )

    class Meta:
        verbose_name = _("provider")
        verbose_name_plural = _("providers")
        ordering = ["name"]

    def __str__(self):
        return self.name


class CatalogModel(models.Model):
    """A model on sale. `model_id` is the stable id the gateway and customers send."""

    class Kind(models.TextChoices):
        CHAT = "chat", _("Chat / text generation")
        EMBEDDING = "embedding", _("Embedding")
        IMAGE = "image", _("Image generation")
        AUDIO = "audio", _("Audio")

    class Status(models.TextChoices):
        AVAILABLE = "available", _("Available")
        PREVIEW = "preview", _("Preview")
        DEPRECATED = "deprecated", _("Deprecated")
        RETIRED = "retired", _("Retired")

    model_id = models.CharField(
        _("model id"),
        max_length=150,
        unique=True,
        error_messages={"unique": _("Another model already has this id.")},
    )
    provider = models.ForeignKey(
        Provider, on_delete=models.PROTECT, related_name="models", verbose_name=_("provider")
    )
    display_name = models.CharField(_("display name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.CHAT)
    context_window = models.PositiveIntegerField(_("context window"), null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(_("max output tokens"), null=True, blank=True)
    input_modalities = models.JSONField(_("input modalities"), default=list, blank=True)
    output_modalities = models.JSONField(_("output modalities"), default=list, blank=True)
    supports_tools = models.BooleanField(_("tool calling"), default=False)
    supports_vision = models.BooleanField(_("vision"), default=False)
    supports_reasoning = models.BooleanField(_("reasoning"), default=False)
    supports_prompt_caching = models.BooleanField(_("prompt caching"), default=False)
    supports_structured_output = models.BooleanField(_("structured output"), default=False)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.AVAILABLE
    )
    deprecation_date = models.DateField(
        _("deprecation date"),
        null=True,
        blank=True,
        help_text=_("When a deprecated model stops being offered."),
    )
    is_filed = models.BooleanField(
        _("filed with the regulator"),
        default=False,
        help_text=_(
            "Filed under the generative AI service filing regime (生成式人工智能服务备案)."
        ),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("model")
        verbose_name_plural = _("models")
        ordering = ["model_id"]

    def __str__(self):
        return self.model_id

    def clean(self):
        if self.status == self.Status.DEPRECATED and self.deprecation_date is None:
            raise ValidationError(
                {"deprecation_date": _("A deprecated model needs the date it stops.")}
            )

    @property
    def is_callable(self) -> bool:
        """Whether the gateway may route calls to it (deprecated models work until retired)."""
        return self.status != self.Status.RETIRED


class ModelAlias(models.Model):
    """Another id that reaches the same model (provider-native id, dated snapshot)."""

    alias = models.CharField(
        _("alias"),
        max_length=150,
        unique=True,
        error_messages={"unique": _("This alias already names a model.")},
    )
    model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        verbose_name = _("model alias")
        verbose_name_plural = _("model aliases")
        ordering = ["alias"]

    def __str__(self):
        return f"{self.alias} -> {self.model.model_id}"

    def clean(self):
        # One id reaches one model: an alias may not shadow another model's id.
        if CatalogModel.objects.filter(model_id=self.alias).exclude(pk=self.model_id).exists():
            raise ValidationError({"alias": _("This is already a model's id.")})


class PriceVersionQuerySet(models.QuerySet):
    def started(self, at=None):
        return self.filter(effective_from__lte=at or timezone.now())

    def update(self, **kwargs):
        if self.started().exists():
            raise StartedPriceError(_("A price version that has started is never edited."))
        return super().update(**kwargs)

    def delete(self):
        if self.started().exists():
            raise StartedPriceError(_("A price version that has started is never deleted."))
        return super().delete()


class StartedPriceError(ValidationError):
    """An attempt to change or delete a price version that is (or may be) in use."""


PRICE_FIELDS = (
    "input_price", "output_price", "cached_input_price", "cache_write_price", "request_price",
)  # fmt: skip
# What a started version may never change (save() refuses).
FROZEN_FIELDS = ("model_id", "effective_from", "currency", *PRICE_FIELDS, "conditions")


def _price(label, **kwargs):
    # 12 places: a USD price times a rate is kept exactly enough that no call's cost moves
    # by 10^-8 CNY (genai-prices' own prices have up to 18 places).
    return models.DecimalField(label, max_digits=24, decimal_places=12, **kwargs)


class PriceVersion(FieldConstraintErrors, models.Model):
    """Prices from `effective_from` until the next version of the model (the rules:
    billing.catalog.pricing and docs/pricing-and-billing.md, "Pricing rules").

    The columns are the standard rate card, per million tokens (the fee per call). A cache
    price that is NULL means the source gives none: those tokens are charged at the input
    price (0 means free). `conditions` holds what is conditional, as decimal strings:
    `{"tiers": {class: [[threshold, price], ...]}, "windows": [{"start": "HH:MM:SS",
    "end": ..., "zone": "UTC", "prices": {card}}]}` (pricing.schedule_of reads it).

    A version that usage may have been priced with is never edited or deleted. Usage is
    priced from the version in force at the event's time, so "may have been used" is
    "has started" (effective_from <= now): a change is a new version from a date. A
    version that starts in the future may still be corrected or removed.
    """

    # PROTECT: a model with price history is retired, never deleted.
    model = models.ForeignKey(CatalogModel, on_delete=models.PROTECT, related_name="prices")
    effective_from = models.DateTimeField(_("effective from"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    input_price = _price(_("input, per million tokens"))
    output_price = _price(_("output, per million tokens"))
    cached_input_price = _price(
        _("cached input, per million tokens"),
        null=True,
        blank=True,
        help_text=_("Empty: cached input tokens are charged at the input price."),
    )
    cache_write_price = _price(
        _("cache write, per million tokens"),
        null=True,
        blank=True,
        help_text=_("Empty: cache write tokens are charged at the input price."),
    )
    request_price = _price(_("fee per request"), default=0)
    conditions = models.JSONField(_("tiers and time windows"), default=dict, blank=True)
    source = models.CharField(_("source"), max_length=40, default="manual")
    source_entry = models.CharField(
        _("source entry"),
        max_length=200,
        blank=True,
        help_text=_('The entry the prices came from, e.g. "genai-prices:openai/davinci".'),
    )
    fx_rate = models.DecimalField(
        _("USD to CNY rate"), max_digits=12, decimal_places=6, null=True, blank=True
    )
    markup_percent = models.DecimalField(
        _("markup, percent"), max_digits=7, decimal_places=2, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = PriceVersionQuerySet.as_manager()

    constraint_fields = {"price_version_unique_start": "effective_from"}

    class Meta:
        verbose_name = _("price version")
        verbose_name_plural = _("price versions")
        ordering = ["model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "effective_from"],
                name="price_version_unique_start",
                violation_error_message=_("This model already has a price starting at this time."),
            ),
            models.CheckConstraint(
                condition=models.Q(input_price__gte=0)
                & models.Q(output_price__gte=0)
                & models.Q(request_price__gte=0)
                & (models.Q(cached_input_price__isnull=True) | models.Q(cached_input_price__gte=0))
                & (models.Q(cache_write_price__isnull=True) | models.Q(cache_write_price__gte=0)),
                name="price_version_not_negative",
                violation_error_message=_("Prices cannot be negative."),
            ),
        ]

    def __str__(self):
        return f"{self.model.model_id} from {self.effective_from:%Y-%m-%d}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            stored = PriceVersion.objects.filter(pk=self.pk).first()
            started = stored is not None and (stored.has_started or self.has_started)
            if started and any(getattr(stored, f) != getattr(self, f) for f in FROZEN_FIELDS):
                raise StartedPriceError(
                    _("A price version that has started is never edited; add a new one.")
                )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.has_started:
            raise StartedPriceError(_("A price version that has started is never deleted."))
        return super().delete(*args, **kwargs)

    def clean(self):
        from billing.catalog.pricing import schedule_of  # pricing reads this model

        if not self.conditions:
            return
        try:
            schedule_of(self)
        except (LookupError, TypeError, ValueError, ArithmeticError) as error:
            raise ValidationError(
                {"conditions": _("Tiers and time windows are not in the documented form.")}
            ) from error

    @property
    def has_started(self) -> bool:
        return self.effective_from <= timezone.now()


# Contract pricing: discounts staff grant an organization (framework agreements).


class ContractDiscount(FieldConstraintErrors, models.Model):
    """A percentage off list prices, organization-wide, for one provider or for one model.

    The most specific discount valid on a day wins (model > provider > organization-wide);
    discounts never add up. See billing.catalog.pricing.effective_price().
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
                violation_error_message=_("Enter a percentage between 0 and 100."),
            ),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_to__gte=models.F("valid_from")),
                name="contract_discount_valid_range",
                violation_error_message=_("The end of validity cannot be before its start."),
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


# Which models an organization, or one of its departments, may call.


class ModelPolicy(FieldConstraintErrors, models.Model):
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
                violation_error_message=_("The organization already has a model policy."),
            ),
            models.UniqueConstraint(
                fields=["organization", "department"],
                condition=models.Q(department__isnull=False),
                name="model_policy_one_per_department",
                violation_error_message=_("This department already has a model policy."),
            ),
        ]

    def __str__(self):
        return f"{self.organization} / {self.department or _('whole organization')}"
