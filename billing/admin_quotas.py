"""Staff console: quotas, alerts and webhook deliveries, read-only (changes go through the
customer's pages and API, where they are audited and reach the gateway)."""

from django.contrib import admin

from billing.models import Quota, QuotaAlert, WebhookDelivery


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Quota)
class QuotaAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "organization", "scope", "metric", "period", "limit", "on_exceed")
    list_filter = ("scope", "metric", "period", "on_exceed")
    search_fields = ("public_id", "organization__name")
    list_select_related = ("organization",)


@admin.register(QuotaAlert)
class QuotaAlertAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "quota_period", "threshold", "consumed", "created_at")
    list_select_related = ("quota_period",)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event_id", "event_type", "endpoint", "status", "attempts", "response_code")
    list_filter = ("status", "event_type")
    search_fields = ("event_id", "endpoint__url")
    list_select_related = ("endpoint",)
    exclude = ("payload",)
