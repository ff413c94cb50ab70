"""Staff console: quotas, alerts, increase requests, model policies, notifications and
webhooks, read-only (changes go through the customer's pages and API, where they are
audited and reach the gateway)."""

from django.contrib import admin

from accounts.admin_site import ReadOnlyAdmin
from billing.catalog.models import ModelPolicy
from billing.quotas.models import Quota, QuotaAlert, QuotaIncreaseRequest, QuotaPeriod
from notifications.models import Notification, WebhookDelivery, WebhookEndpoint


@admin.register(Quota)
class QuotaAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "organization", "scope", "metric", "period", "limit", "on_exceed")
    list_filter = ("scope", "metric", "period", "on_exceed")
    search_fields = ("public_id", "organization__name")
    list_select_related = ("organization",)


@admin.register(QuotaPeriod)
class QuotaPeriodAdmin(ReadOnlyAdmin):
    list_display = ("quota", "period_start", "period_end", "consumed_tokens", "consumed_amount")
    list_filter = ("quota__period", "quota__metric")
    search_fields = ("quota__public_id", "quota__organization__name")
    list_select_related = ("quota__organization",)
    date_hierarchy = "period_start"


@admin.register(QuotaAlert)
class QuotaAlertAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "quota_period", "threshold", "consumed", "created_at")
    list_filter = ("threshold",)
    search_fields = ("public_id", "quota_period__quota__public_id")
    list_select_related = ("quota_period__quota__organization",)


@admin.register(QuotaIncreaseRequest)
class QuotaIncreaseRequestAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "quota", "new_limit", "status", "requested_by", "created_at")
    list_filter = ("status",)
    search_fields = ("public_id", "quota__public_id", "quota__organization__name")
    list_select_related = ("quota__organization", "requested_by")


@admin.register(ModelPolicy)
class ModelPolicyAdmin(ReadOnlyAdmin):
    list_display = ("organization", "department", "mode", "filed_only", "updated_at")
    list_filter = ("mode", "filed_only")
    search_fields = ("organization__name", "department__name")
    list_select_related = ("organization", "department")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "organization", "user", "event_type", "subject", "read_at")
    list_filter = ("event_type", ("read_at", admin.EmptyFieldListFilter))
    search_fields = ("sent_subject", "user__email", "organization__name")
    list_select_related = ("organization", "user")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("url", "organization", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("url", "organization__name", "public_id")
    list_select_related = ("organization",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "event_type", "endpoint", "status", "attempts", "response_code",
                    "last_error")  # fmt: skip
    list_filter = ("status", "event_type")
    search_fields = ("event_id", "endpoint__url", "endpoint__organization__name")
    list_select_related = ("endpoint",)
    exclude = ("payload",)
