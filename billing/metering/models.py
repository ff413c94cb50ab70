"""Metering: what the gateway reported (UsageEvent) and its hourly rollup (UsageRollup).

UsageEvent is append-only and priced once at ingestion; its id order is the rollup
watermark. UsageRollup rows are keyed by (hour, organization, department, project, key,
model); pages, APIs, quotas and invoices read them plus the not-yet-rolled tail.
"""

from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import TenantQuerySet

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens")
WATERMARK = "usage_rollup"  # the name of the usage rollups' RollupWatermark row
FAILED_FROM_STATUS = 400  # a call answered with this status or above failed


class CallFailure(models.TextChoices):
    """How a failed call failed, read from its status (the call log names it in words)."""

    CLIENT_CLOSED = "client_closed", _("Client closed")  # 499: the caller hung up (nginx)
    REQUEST_ERROR = "request_error", _("Request error")
    UPSTREAM_ERROR = "upstream_error", _("Upstream error")  # 502-504: the model's provider
    SERVER_ERROR = "server_error", _("Server error")


class UsageEvent(models.Model):
    """One model call, as reported once by a gateway (request_id is unique forever)."""

    id = models.BigAutoField(primary_key=True)
    request_id = models.CharField(_("request id"), max_length=128, unique=True)
    # The foreign keys below are indexed by the composite indexes in Meta (each leads one).
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Department and project as they were when the call happened.
    department = models.ForeignKey(
        "accounts.Department",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    project = models.ForeignKey(
        "projects.Project", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    api_key = models.ForeignKey(
        "projects.ApiKey", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    model = models.ForeignKey(
        "billing.CatalogModel", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    price_version = models.ForeignKey(
        "billing.PriceVersion", on_delete=models.PROTECT, related_name="usage_events"
    )
    input_tokens = models.PositiveBigIntegerField(_("input tokens"), default=0)
    output_tokens = models.PositiveBigIntegerField(_("output tokens"), default=0)
    cached_input_tokens = models.PositiveBigIntegerField(_("cached input tokens"), default=0)
    cache_write_tokens = models.PositiveBigIntegerField(_("cache write tokens"), default=0)
    discount_percent = models.DecimalField(
        _("discount percent"), max_digits=5, decimal_places=2, default=0
    )
    # Unrounded: rounding happens once per invoice line.
    cost_amount = models.DecimalField(_("cost"), max_digits=24, decimal_places=10)
    currency = models.CharField(_("currency"), max_length=3)
    estimated = models.BooleanField(
        _("estimated"), default=False, help_text=_("Token counts estimated by the relay.")
    )
    occurred_at = models.DateTimeField(_("occurred at"))
    ingested_at = models.DateTimeField(_("ingested at"), default=timezone.now)
    # Optional in the gateway contract: how the call went, for the call log.
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(_("status"), null=True, blank=True)

    objects = TenantQuerySet.as_manager()
    department_field = "department"

    class Meta:
        verbose_name = _("usage event")
        verbose_name_plural = _("usage events")
        # The call log reads newest first, by (occurred_at, id), within an organization and
        # optionally one department, project, key or model: each index walks one of these
        # in that order, so a page is LIMIT rows read whatever the month's size.
        indexes = [
            models.Index(fields=["organization", "occurred_at", "id"], name="usage_event_org_time"),
            models.Index(fields=["department", "occurred_at", "id"], name="usage_event_dept_time"),
            models.Index(fields=["project", "occurred_at", "id"], name="usage_event_project_time"),
            models.Index(fields=["api_key", "occurred_at", "id"], name="usage_event_key_time"),
            models.Index(
                fields=["model", "organization", "occurred_at", "id"],
                name="usage_event_model_time",
            ),
        ]

    def __str__(self):
        return self.request_id

    @property
    def failure(self) -> CallFailure | None:
        """How the call failed; None when it succeeded or its status was not reported."""
        code = self.status_code
        if code is None or code < FAILED_FROM_STATUS:
            return None
        if code == 499:
            return CallFailure.CLIENT_CLOSED
        if code < 500:
            return CallFailure.REQUEST_ERROR
        if code in (502, 503, 504):
            return CallFailure.UPSTREAM_ERROR
        return CallFailure.SERVER_ERROR


class UsageRollup(models.Model):
    """Totals of one hour (UTC, aligned with the business zone's hours) for one group."""

    hour = models.DateTimeField(_("hour"))
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    department = models.ForeignKey(
        "accounts.Department", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    project = models.ForeignKey("projects.Project", on_delete=models.PROTECT, related_name="+")
    api_key = models.ForeignKey("projects.ApiKey", on_delete=models.PROTECT, related_name="+")
    model = models.ForeignKey("billing.CatalogModel", on_delete=models.PROTECT, related_name="+")
    requests = models.PositiveBigIntegerField(_("requests"), default=0)
    input_tokens = models.PositiveBigIntegerField(_("input tokens"), default=0)
    output_tokens = models.PositiveBigIntegerField(_("output tokens"), default=0)
    cached_input_tokens = models.PositiveBigIntegerField(_("cached input tokens"), default=0)
    cache_write_tokens = models.PositiveBigIntegerField(_("cache write tokens"), default=0)
    cost_amount = models.DecimalField(_("cost"), max_digits=28, decimal_places=10, default=0)
    currency = models.CharField(_("currency"), max_length=3)

    objects = TenantQuerySet.as_manager()
    department_field = "department"

    class Meta:
        verbose_name = _("usage rollup")
        verbose_name_plural = _("usage rollups")
        constraints = [
            # COALESCE: a project without department still has exactly one row per group.
            models.UniqueConstraint(
                "hour",
                "organization",
                Coalesce("department", 0),
                "project",
                "api_key",
                "model",
                name="usage_rollup_group_unique",
                violation_error_message=_("This usage group already has a rollup for this hour."),
            )
        ]
        indexes = [models.Index(fields=["organization", "hour"])]

    def __str__(self):
        return f"{self.hour:%Y-%m-%d %H:00} {self.model_id} x{self.requests}"


class RollupWatermark(models.Model):
    """The highest UsageEvent id already folded into the rollups. Only moves forward."""

    name = models.CharField(max_length=40, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("rollup watermark")
        verbose_name_plural = _("rollup watermarks")

    def __str__(self):
        return f"{self.name} @ {self.last_event_id}"
