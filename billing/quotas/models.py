"""Quotas: a limit on the tokens or money one scope may consume per period.

Consumption is kept per quota per period (QuotaPeriod): a new period is a new row that
starts at zero, nothing is ever reset by overwriting. Token consumption counts every token
a call reported: input + output + cached input + cache write (UsageEvent.TOKEN_FIELDS).
"""

from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.permissions import Action
from accounts.tenancy import TenantQuerySet
from portal import periods
from portal.constraints import FieldConstraintErrors
from portal.ids import PublicIdField
from portal.money import format_money

DEFAULT_THRESHOLDS = [50, 80, 100]
MAX_THRESHOLD = 1000


def default_thresholds() -> list[int]:
    return list(DEFAULT_THRESHOLDS)


def parse_thresholds(values) -> list[int]:
    """Sorted distinct whole percentages between 1 and 1000 (one to ten of them)."""
    message = _("Enter one to ten whole percentages from 1 to 1000, such as 50, 80, 100.")
    try:
        numbers = sorted({int(str(v).strip()) for v in values if str(v).strip()})
    except (TypeError, ValueError):
        raise ValidationError(message, code="invalid") from None
    if not 1 <= len(numbers) <= 10 or numbers[0] < 1 or numbers[-1] > MAX_THRESHOLD:
        raise ValidationError(message, code="invalid")
    return numbers


class Quota(FieldConstraintErrors, models.Model):
    class Scope(models.TextChoices):
        ORGANIZATION = "organization", _("Organization")
        DEPARTMENT = "department", _("Department and its sub-departments")
        PROJECT = "project", _("Project")
        API_KEY = "api_key", _("API key")

    class Metric(models.TextChoices):
        TOKENS = "tokens", _("Tokens")
        MONEY = "money", _("Money (CNY)")

    class Period(models.TextChoices):
        MONTH = periods.MONTH, _("Calendar month")
        DAY = periods.DAY, _("Day")
        RANGE = "range", _("Fixed date range")

    class OnExceed(models.TextChoices):
        ALERT = "alert", _("Alert only")
        BLOCK = "block", _("Block calls")

    public_id = PublicIdField(prefix="quo")
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="quotas"
    )
    scope = models.CharField(_("scope"), max_length=20, choices=Scope.choices)
    department = models.ForeignKey(
        "accounts.Department",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="quotas",
        verbose_name=_("department"),
    )
    project = models.ForeignKey(
        "projects.Project",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="quotas",
        verbose_name=_("project"),
    )
    api_key = models.ForeignKey(
        "projects.ApiKey",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="quotas",
        verbose_name=_("API key"),
    )
    # The department the quota belongs to, for tenancy: the scoped department, or the
    # department of the scoped project / key's project; None for organization quotas.
    owner_department = models.ForeignKey(
        "accounts.Department", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    metric = models.CharField(
        _("metric"), max_length=10, choices=Metric.choices, default=Metric.TOKENS
    )
    period = models.CharField(
        _("period"), max_length=10, choices=Period.choices, default=Period.MONTH
    )
    start_date = models.DateField(_("first day"), null=True, blank=True)
    end_date = models.DateField(_("last day"), null=True, blank=True)
    # Tokens: a whole number; money: CNY with two decimals.
    limit = models.DecimalField(_("limit"), max_digits=20, decimal_places=2)
    thresholds = models.JSONField(_("alert thresholds (%)"), default=default_thresholds, blank=True)
    on_exceed = models.CharField(
        _("at 100 %"), max_length=10, choices=OnExceed.choices, default=OnExceed.ALERT
    )
    watchers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="watched_quotas",
        verbose_name=_("watchers"),
    )  # fmt: skip
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    # Made, or given a new period or dates, at: a period that had ended before is not counted
    # (billing.quotas.services._counted_period).
    counts_from = models.DateTimeField(_("counts usage from"), default=timezone.now, editable=False)

    objects = TenantQuerySet.as_manager()
    department_field = "owner_department"

    constraint_fields = {"quota_range_has_dates": "start_date", "quota_range_ordered": "end_date"}

    class Meta:
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")
        ordering = ["scope", "id"]
        constraints = [
            models.CheckConstraint(
                name="quota_one_target_per_scope",
                violation_error_message=_("Choose the target that matches the quota's scope."),
                condition=(
                    Q(scope="organization", department=None, project=None, api_key=None)
                    | Q(scope="department", department__isnull=False, project=None, api_key=None)
                    | Q(scope="project", department=None, project__isnull=False, api_key=None)
                    | Q(scope="api_key", department=None, project=None, api_key__isnull=False)
                ),
            ),
            models.CheckConstraint(
                name="quota_range_has_dates",
                violation_error_message=_("A date-range quota needs a start date and an end date."),
                condition=Q(period="range", start_date__isnull=False, end_date__isnull=False)
                | (~Q(period="range") & Q(start_date=None, end_date=None)),
            ),
            models.CheckConstraint(
                name="quota_range_ordered",
                violation_error_message=_("The end date cannot be before the start date."),
                condition=Q(start_date=None) | Q(end_date__gte=models.F("start_date")),
            ),
            models.CheckConstraint(
                name="quota_limit_positive",
                violation_error_message=_("Enter a limit above zero."),
                condition=Q(limit__gt=0),
            ),
        ]

    def __str__(self):
        return f"{self.target_label}: {self.limit_display} / {self.get_period_display()}"

    @property
    def target(self):
        return self.department or self.project or self.api_key or self.organization

    @property
    def target_label(self):
        """Lazy: notifications render it in their own language."""
        return format_lazy("{} {}", self.Scope(self.scope).label, self.target)

    @property
    def setting_action(self) -> Action:
        """The permission that sets this quota: project and key quotas are also set by their
        department's managers, department and organization quotas only organization-wide."""
        if self.scope in (self.Scope.PROJECT, self.Scope.API_KEY):
            return Action.MANAGE_QUOTAS
        return Action.MANAGE_DEPARTMENT_QUOTAS

    @property
    def blocks(self) -> bool:
        return self.on_exceed == self.OnExceed.BLOCK

    @property
    def limit_display(self) -> str:
        return self.measure_display(self.limit)

    def measure_display(self, value) -> str:
        """A quantity of this quota's metric as people read it: tokens grouped by thousands,
        money in the one money format (portal.money.format_money)."""
        if self.metric == self.Metric.TOKENS:
            return f"{int(value):,}"
        return format_money(value, self.organization.currency)

    def bounds_at(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The period containing `at`, or None when a date-range quota does not cover it."""
        if self.period != self.Period.RANGE:
            return periods.period_bounds(self.period, at)
        start, end = periods.date_range_bounds(self.start_date, self.end_date)
        return (start, end) if start <= at < end else None


class QuotaPeriod(models.Model):
    """What one quota consumed in one period. Created at zero, only ever added to."""

    quota = models.ForeignKey(Quota, on_delete=models.CASCADE, related_name="periods")
    period_start = models.DateTimeField(_("period start"))
    period_end = models.DateTimeField(_("period end"))
    consumed_tokens = models.PositiveBigIntegerField(_("tokens consumed"), default=0)
    consumed_amount = models.DecimalField(
        _("money consumed"), max_digits=24, decimal_places=10, default=0
    )
    reset_announced_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_field = "quota__organization"
    department_field = "quota__owner_department"

    class Meta:
        verbose_name = _("quota period")
        verbose_name_plural = _("quota periods")
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["quota", "period_start"],
                name="quota_period_unique",
                violation_error_message=_("This quota already has a period starting then."),
            )
        ]

    def __str__(self):
        return f"{self.quota_id} @ {self.period_start:%Y-%m-%d}"

    @property
    def consumed(self):
        if self.quota.metric == Quota.Metric.TOKENS:
            return self.consumed_tokens
        return self.consumed_amount

    @property
    def percent(self) -> float:
        return float(self.consumed) * 100 / float(self.quota.limit)

    @property
    def consumed_display(self) -> str:
        return self.quota.measure_display(self.consumed)


class QuotaAlert(models.Model):
    """A threshold reached in a period: at most one row per (period, threshold), ever."""

    public_id = PublicIdField(prefix="qal")
    quota_period = models.ForeignKey(QuotaPeriod, on_delete=models.CASCADE, related_name="alerts")
    threshold = models.PositiveSmallIntegerField(_("threshold (%)"))
    consumed = models.DecimalField(_("consumed"), max_digits=24, decimal_places=10)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_field = "quota_period__quota__organization"
    department_field = "quota_period__quota__owner_department"

    class Meta:
        verbose_name = _("quota alert")
        verbose_name_plural = _("quota alerts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["quota_period", "threshold"],
                name="quota_alert_once_per_period",
                violation_error_message=_(
                    "This threshold has already been alerted in this period."
                ),
            )
        ]

    def __str__(self):
        return f"{self.quota_period} {self.threshold}%"

    @property
    def consumed_display(self) -> str:
        return self.quota_period.quota.measure_display(self.consumed)


class QuotaIncreaseRequest(FieldConstraintErrors, models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    public_id = PublicIdField(prefix="qir")
    quota = models.ForeignKey(Quota, on_delete=models.CASCADE, related_name="increase_requests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    new_limit = models.DecimalField(_("new limit"), max_digits=20, decimal_places=2)
    reason = models.TextField(_("reason"))
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decision_comment = models.TextField(_("comment"), blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    objects = TenantQuerySet.as_manager()
    tenant_field = "quota__organization"
    department_field = "quota__owner_department"

    class Meta:
        verbose_name = _("quota increase request")
        verbose_name_plural = _("quota increase requests")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                name="quota_request_limit_positive",
                violation_error_message=_("Enter a limit above zero."),
                condition=Q(new_limit__gt=0),
            )
        ]

    def __str__(self):
        return f"{self.quota_id}: {self.new_limit} ({self.status})"

    @property
    def new_limit_display(self) -> str:
        return self.quota.measure_display(self.new_limit)
