"""Upstream channels of the OpenAI-compatible relay: a provider's base URL and credential,
and the catalog models it serves."""

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.catalog.models import CatalogModel
from portal.constraints import FieldConstraintErrors
from portal.ids import PublicIdField


class Channel(models.Model):
    public_id = PublicIdField(prefix="ch")
    name = models.CharField(
        _("name"),
        max_length=100,
        unique=True,
        error_messages={"unique": _("Another channel already has this name.")},
    )
    base_url = models.URLField(
        _("base URL"),
        max_length=500,
        help_text=_("The provider's OpenAI-compatible base URL, e.g. https://api.example.com/v1"),
    )
    # portal.crypto; written by relay.channels.set_credential, never shown again.
    credential_encrypted = models.TextField(editable=False, default="")
    priority = models.IntegerField(
        _("priority"),
        default=0,
        help_text=_("Higher first; channels of equal priority share calls by weight."),
    )
    weight = models.PositiveIntegerField(_("weight"), default=1, validators=[MinValueValidator(1)])
    is_enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("upstream channel")
        verbose_name_plural = _("upstream channels")
        ordering = ["-priority", "name"]

    def __str__(self):
        return self.name

    @property
    def has_credential(self) -> bool:
        return bool(self.credential_encrypted)


class ChannelModel(FieldConstraintErrors, models.Model):
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="models")
    model = models.ForeignKey(
        CatalogModel, on_delete=models.CASCADE, related_name="+", verbose_name=_("catalog model")
    )
    upstream_model = models.CharField(
        _("upstream model name"),
        max_length=200,
        blank=True,
        help_text=_("The name the provider uses, if it differs from the catalog id."),
    )

    constraint_fields = {"channel_model_unique": "model"}

    class Meta:
        verbose_name = _("served model")
        verbose_name_plural = _("served models")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "model"],
                name="channel_model_unique",
                violation_error_message=_("This channel already serves this model."),
            )
        ]

    def __str__(self):
        return f"{self.channel} / {self.model}"
