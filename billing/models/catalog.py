"""The shelf: providers, their models, the ids that reach them, and effective-dated prices."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Provider(models.Model):
    class Region(models.TextChoices):
        CHINA = "cn", _("China")
        INTERNATIONAL = "intl", _("International")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        INACTIVE = "inactive", _("Inactive")

    slug = models.SlugField(_("slug"), max_length=60, unique=True)
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

    model_id = models.CharField(_("model id"), max_length=150, unique=True)
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

    alias = models.CharField(_("alias"), max_length=150, unique=True)
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


PRICE_FIELDS = ("input_price", "output_price", "cached_input_price", "cache_write_price")


class PriceVersion(models.Model):
    """Prices per million tokens from `effective_from` until the next version of the model.

    A version that usage may have been priced with is never edited or deleted. Usage is
    priced from the version in force at the event's time, so "may have been used" is
    "has started" (effective_from <= now): a change is a new version from a date. A
    version that starts in the future may still be corrected or removed.
    """

    # PROTECT: a model with price history is retired, never deleted.
    model = models.ForeignKey(CatalogModel, on_delete=models.PROTECT, related_name="prices")
    effective_from = models.DateTimeField(_("effective from"))
    currency = models.CharField(_("currency"), max_length=3, default="CNY")
    input_price = models.DecimalField(
        _("input, per million tokens"), max_digits=18, decimal_places=8
    )
    output_price = models.DecimalField(
        _("output, per million tokens"), max_digits=18, decimal_places=8
    )
    cached_input_price = models.DecimalField(
        _("cached input, per million tokens"), max_digits=18, decimal_places=8, default=0
    )
    cache_write_price = models.DecimalField(
        _("cache write, per million tokens"), max_digits=18, decimal_places=8, default=0
    )
    source = models.CharField(_("source"), max_length=40, default="manual")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = PriceVersionQuerySet.as_manager()

    class Meta:
        verbose_name = _("price version")
        verbose_name_plural = _("price versions")
        ordering = ["model", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "effective_from"], name="price_version_unique_start"
            ),
            models.CheckConstraint(
                condition=models.Q(input_price__gte=0)
                & models.Q(output_price__gte=0)
                & models.Q(cached_input_price__gte=0)
                & models.Q(cache_write_price__gte=0),
                name="price_version_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.model.model_id} from {self.effective_from:%Y-%m-%d}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            stored = PriceVersion.objects.filter(pk=self.pk).first()
            if stored is not None and (stored.has_started or self.has_started):
                fields = ("model_id", "effective_from", "currency", *PRICE_FIELDS)
                if any(getattr(stored, f) != getattr(self, f) for f in fields):
                    raise StartedPriceError(
                        _("A price version that has started is never edited; add a new one.")
                    )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.has_started:
            raise StartedPriceError(_("A price version that has started is never deleted."))
        return super().delete(*args, **kwargs)

    @property
    def has_started(self) -> bool:
        return self.effective_from <= timezone.now()
